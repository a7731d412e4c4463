import { describe, test } from 'vitest';
import { headsChecks } from '../../src/testing/suites/heads.js';
import { backendsUnderTest, contextFor } from '../support/devices.js';

for (const backend of backendsUnderTest()) {
  describe(`splitHeads / mergeHeads on ${backend}`, () => {
    for (const check of headsChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

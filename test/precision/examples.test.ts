// @vitest-environment node
/** The examples in docs/precision.md run and produce the documented values (scripts/precision/examples.ts checks each). */
import { expect, it } from 'vitest';
import { runExamples } from '../../scripts/precision/examples.js';

it('every documented example produces its documented value', async () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => void lines.push(s);
  try {
    await runExamples();
  } finally {
    console.log = log;
  }
  expect(lines.length).toBe(23);
});

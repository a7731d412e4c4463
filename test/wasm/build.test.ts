/**
 * The committed module (src/backends/wasm/kernels.wasm.ts) is exactly what
 * scripts/wasm/build.mjs makes from asm/ today, so it can never drift from
 * its sources: change asm/, run `node scripts/wasm/build.mjs`, commit both.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KERNELS_WASM_BASE64, KERNELS_WASM_BYTES, KERNELS_WASM_SHA256 } from '../../src/backends/wasm/kernels.wasm.js';
import { WA } from '../../src/backends/wasm/wasm-api.js';
import { createHash } from 'node:crypto';

const script = fileURLToPath(new URL('../../scripts/wasm/build.mjs', import.meta.url));

describe('wasm build', () => {
  it('the committed kernels.wasm.ts matches a fresh build of asm/', () => {
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the embedded module is intact and valid wasm with SIMD and shared memory', () => {
    const bytes = Buffer.from(KERNELS_WASM_BASE64, 'base64');
    expect(bytes.length).toBe(KERNELS_WASM_BYTES);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(KERNELS_WASM_SHA256);
    expect(WA.validate(bytes)).toBe(true);
  });
});

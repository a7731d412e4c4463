// @vitest-environment node
/**
 * The rounding kernel on headlessgl (GLSL fragment shaders). GL flushes
 * float32 subnormals to zero (device.info.flushesSubnormals), so its
 * contract is: bit-identical to the host rounding of the input with float32
 * subnormals replaced by zero of the same sign. That changes results only for
 * bfloat16, whose subnormals are float32's; for float16 and float8 every
 * float32 subnormal rounds to ±0 anyway, so those are bit-identical outright.
 * Runs in its own file: GL and dawn's EGL cannot share a process.
 */
import { describe, expect, inject, it } from 'vitest';
import { type FloatFormat, bfloat16, float16, float8e4m3fn, float8e5m2 } from '../../src/precision/formats.js';
import { roundOnDevice } from '../../src/precision/gpujs-round.js';
import { roundArray } from '../../src/precision/round.js';
import { tensor } from '../../src/tensor.js';
import { deviceFor } from '../support/devices.js';
import { float32Cases, fuzzSeed, prng, setSize } from './support.js';

const NARROW: FloatFormat[] = [float16, bfloat16, float8e4m3fn, float8e5m2];
const available = inject('backends') as string[];

/** x with float32 subnormals flushed to zero of the same sign. */
function flushed(x: Float32Array): Float32Array {
  const out = x.slice();
  const w = new Uint32Array(out.buffer);
  for (let i = 0; i < w.length; i++) if ((w[i] & 0x7f800000) === 0) w[i] &= 0x80000000;
  return out;
}

describe.skipIf(!available.includes('headlessgl'))('roundOnDevice on headlessgl', () => {
  const xs = float32Cases(NARROW, setSize(300_000), prng(fuzzSeed() + 5));

  for (const f of NARROW) {
    it(`${f.name}: bit-identical to roundArray of the subnormal-flushed input`, async () => {
      const d = await deviceFor('headlessgl');
      expect(d.info.flushesSubnormals).toBe(true);
      const got = (await (await roundOnDevice(d, tensor(xs), f)).read()) as Float32Array;
      const want = roundArray(f, flushed(xs));
      const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
      const w = new Uint32Array(want.buffer);
      const bad: string[] = [];
      for (let i = 0; i < w.length && bad.length < 5; i++) {
        // GL may drop the sign of a flushed zero; every other bit must match
        const bothZero = (g[i] & 0x7fffffff) === 0 && (w[i] & 0x7fffffff) === 0;
        if (g[i] !== w[i] && !(bothZero && (new Uint32Array(xs.buffer)[i] & 0x7f800000) === 0)) bad.push(`x=${xs[i]}: device ${got[i]}, host ${want[i]}`);
      }
      expect(bad).toEqual([]);
      if (f !== bfloat16) expect(bitsEqualExceptSubnormalZeros(got, roundArray(f, xs), xs)).toBe(true);
    });
  }
});

function bitsEqualExceptSubnormalZeros(a: Float32Array, b: Float32Array, x: Float32Array): boolean {
  const wa = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const wb = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const wx = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < wa.length; i++) {
    if (wa[i] === wb[i]) continue;
    if ((wx[i] & 0x7f800000) === 0 && (wa[i] & 0x7fffffff) === 0 && (wb[i] & 0x7fffffff) === 0) continue;
    return false;
  }
  return true;
}

// @vitest-environment node
/**
 * The gpu.js rounding kernel is bit-identical to the host `roundArray` on
 * webgpu (the software adapter here), webasm and cpu, for every finite
 * float32 input of a large generated set: exact midpoints of each format and
 * their float32 neighbours, overflow thresholds, float32 subnormals, float32
 * max, and a strided walk over all 2^32 float32 patterns.
 *
 * headlessgl runs in its own file (gpujs-round-gl.test.ts): GL and dawn's
 * EGL cannot share a process, and GL flushes subnormals.
 */
import { describe, expect, inject, it } from 'vitest';
import type { BackendName } from '../../src/device.js';
import { ArgumentError } from '../../src/errors.js';
import { type FloatFormat, bfloat16, float16, float8e4m3fn, float8e5m2 } from '../../src/precision/formats.js';
import { roundKernelArgs, roundOnDevice } from '../../src/precision/gpujs-round.js';
import { mixedPrecisionPolicy, roundTensor, roundTensorData, roundTensorDataInPlace } from '../../src/precision/policy.js';
import { roundArray } from '../../src/precision/round.js';
import { Tensor, tensor } from '../../src/tensor.js';
import { deviceFor } from '../support/devices.js';
import { float32Cases, fuzzSeed, prng, setSize } from './support.js';

const NARROW: FloatFormat[] = [float16, bfloat16, float8e4m3fn, float8e5m2];
const available = inject('backends') as string[];

/** Every float32 pattern p ≡ offset (mod stride) that is finite. */
function stridedFinite(stride: number, offset: number): Float32Array {
  const words: number[] = [];
  for (let p = offset; p < 2 ** 32; p += stride) if ((p & 0x7f800000) !== 0x7f800000) words.push(p);
  return new Float32Array(Uint32Array.from(words).buffer);
}

const generated = float32Cases(NARROW, setSize(600_000), prng(fuzzSeed() + 3));
const strided = stridedFinite(4093, 17);
// special non-finite and signed-zero inputs, checked separately
const specials = new Float32Array([NaN, Infinity, -Infinity, 0, -0]);

/** Indices where the two arrays differ bit for bit (NaN matches any NaN). */
function bitMismatches(input: Float32Array, got: Float32Array, want: Float32Array, limit = 5): string[] {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const out: string[] = [];
  for (let i = 0; i < want.length && out.length < limit; i++) {
    if (g[i] === w[i] || (got[i] !== got[i] && want[i] !== want[i])) continue;
    out.push(`x=${input[i]} (0x${new Uint32Array(input.buffer, input.byteOffset, input.length)[i].toString(16)}): device ${got[i]} (0x${g[i].toString(16)}), host ${want[i]} (0x${w[i].toString(16)})`);
  }
  return out;
}

for (const backend of ['webgpu', 'webasm', 'cpu'] as BackendName[]) {
  describe.skipIf(!available.includes(backend))(`roundOnDevice on ${backend}`, () => {
    for (const f of NARROW) {
      it(`${f.name}: bit-identical to roundArray on ${generated.length + strided.length} finite float32 inputs, saturating or not`, async () => {
        const d = await deviceFor(backend);
        for (const xs of [generated, strided]) {
          for (const saturate of [false, true]) {
            const out = await roundOnDevice(d, tensor(xs), f, { saturate });
            const got = (await out.read()) as Float32Array;
            out.dispose();
            expect(got.length).toBe(xs.length);
            expect(bitMismatches(xs, got, roundArray(f, xs, undefined, { saturate }))).toEqual([]);
          }
        }
      });
    }

    it('passes NaN, ±Inf and ±0 through as the host does', async () => {
      const d = await deviceFor(backend);
      for (const f of NARROW) {
        for (const saturate of [false, true]) {
          const got = (await (await roundOnDevice(d, tensor(specials), f, { saturate })).read()) as Float32Array;
          const want = roundArray(f, specials, undefined, { saturate });
          expect(Array.from(got).map(String)).toEqual(Array.from(want).map(String));
          expect(Object.is(got[4], -0)).toBe(true);
          expect(Object.is(got[3], 0)).toBe(true);
        }
      }
    });

    it('keeps −0 for negative values that underflow and leaves the input tensor unchanged', async () => {
      const d = await deviceFor(backend);
      const data = new Float32Array([-1e-30, 1e-30, -3e-8, 0.1]);
      const copy = data.slice();
      const got = (await (await roundOnDevice(d, tensor(data), 'float16')).read()) as Float32Array;
      expect(Object.is(got[0], -0)).toBe(true);
      expect(Object.is(got[1], 0)).toBe(true);
      expect(got[2]).toBe(-(2 ** -24)); // −3e-8 is nearer −2^-24 (5.96e-8) than −0
      expect(got[3]).toBe(0.0999755859375);
      expect(Array.from(data)).toEqual(Array.from(copy));
    });

    it('rounds a tensor through the policy helper the same way as on the host', async () => {
      const d = await deviceFor(backend);
      const policy = mixedPrecisionPolicy({ storage: 'bfloat16' });
      const xs = generated.subarray(0, 4096);
      const t = Tensor.fromHost(xs.slice(), [64, 64]);
      const r = await roundTensor(d, t, policy);
      expect(r.shape).toEqual([64, 64]);
      expect(bitMismatches(xs, (await r.read()) as Float32Array, roundTensorData(policy, xs))).toEqual([]);
    });
  });
}

describe('roundOnDevice arguments', () => {
  it('rejects formats that do not fit in float32, non-float32 tensors and non-gpu.js devices', async () => {
    const d = await deviceFor((available.includes('cpu') ? 'cpu' : 'reference') as BackendName);
    await expect(roundOnDevice(d, tensor([1]), 'float32')).rejects.toThrow(/cannot be rounded on a float32 device/);
    await expect(roundOnDevice(d, tensor([1]), 'float64')).rejects.toThrow(ArgumentError);
    if (d.gpujs) await expect(roundOnDevice(d, tensor([1], [1], 'float64'), 'float16')).rejects.toThrow(/must be float32/);
    const ref = await deviceFor('reference');
    await expect(roundOnDevice(ref, tensor([1]), 'float16')).rejects.toThrow(/must be a gpu.js device/);
    expect(() => roundKernelArgs('float16', { saturat: true } as never)).toThrow(/unknown option 'saturat'/);
  });

  it('passes the special values as arguments, never as literals', () => {
    const [nan, zero, ovfPos, ovfNeg, minNormal, twoOverMinNormal, twoMm1, twoNegM, maxFinite, overflowAt] = roundKernelArgs('float16');
    expect(nan).toBeNaN();
    expect(zero).toBe(0);
    expect([ovfPos, ovfNeg]).toEqual([Infinity, -Infinity]);
    expect([minNormal, twoOverMinNormal, twoMm1, twoNegM, maxFinite, overflowAt]).toEqual([2 ** -14, 2 ** 15, 512, 2 ** -10, 65504, 65536]);
    // every argument is a normal float32 (GL flushes subnormals): bfloat16's 2/minNormal is 2^127
    for (const v of roundKernelArgs('bfloat16').slice(4, 9)) expect(v >= 2 ** -126 && v <= 3.4028234663852886e38).toBe(true);
    expect(roundKernelArgs('bfloat16')[9]).toBe(Infinity); // 2^128 is beyond float32: only ±Inf exit early
    expect(roundKernelArgs('float8_e4m3fn').slice(2, 4)).toEqual([448, -448]);
    expect(roundKernelArgs('float8_e4m3fn', { saturate: false })[2]).toBeNaN();
  });
});

describe('host policy helpers', () => {
  it('roundTensorData returns a new array; roundTensorDataInPlace modifies and returns its argument', () => {
    const data = new Float32Array([0.1, 1e-9, -70000]);
    const copy = data.slice();
    const r = roundTensorData('float16', data);
    expect(Array.from(data)).toEqual(Array.from(copy));
    expect(Array.from(r)).toEqual([0.0999755859375, 0, -Infinity]);
    const same = roundTensorDataInPlace(mixedPrecisionPolicy({ storage: 'float16' }), data);
    expect(same).toBe(data);
    expect(Array.from(data)).toEqual(Array.from(r));
  });

  it('policies accept only formats float32 can hold, and only float32 accumulation', () => {
    expect(mixedPrecisionPolicy({ storage: 'float16' })).toEqual({ storage: float16, accumulate: 'float32' });
    expect(() => mixedPrecisionPolicy({ storage: 'float64' })).toThrow(/fit in float32/);
    expect(() => mixedPrecisionPolicy({ storage: 'float16', accumulate: 'float16' as never })).toThrow(/'accumulate' must be 'float32'/);
    expect(() => mixedPrecisionPolicy({ storage: 'half' as never })).toThrow(/unknown storage 'half'/);
    expect(() => roundTensorData('float16', new Float64Array(2) as never)).toThrow(/'data' must be a Float32Array/);
  });
});

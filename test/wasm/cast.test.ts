/**
 * The wasm cast kernel (asm/cast.ts) is bit-identical to roundArray of
 * src/precision/round.ts, the specification of storage rounding. Here on a
 * dense sweep: every one of the 2^16 upper halves of a float32 word (sign,
 * exponent and the first 7 fraction bits: every binade, Inf and NaN) with the
 * lower halves that sit on and around each format's rounding boundaries
 * (0, ±1 around the half-way points of 13 and 16 dropped bits, all ones) and
 * a few random ones: 786,432 words per format. The float8 formats drop 20 or
 * 21 bits, so their half-way points lie in the enumerated upper half.
 * scripts/wasm/cast-sweep.ts runs the same comparison over all 2^32 words
 * (docs/wasm-cast.md has its result).
 */
import { describe, expect, it } from 'vitest';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { bfloat16, defineFormat, float16, float8e4m3fn, float8e5m2, type FloatFormat } from '../../src/precision/formats.js';
import { roundArray } from '../../src/precision/round.js';
import { Rng } from '../../src/testing/values.js';
import { runtime } from './support.js';

const rt = await runtime();

const LOW_HALVES = [0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x7fff, 0x8000, 0x8001, 0xffff];

function sweepWords(): Float32Array {
  const rng = new Rng(20261205);
  const lows = [...LOW_HALVES, rng.int(0, 0xffff)];
  const words = new Uint32Array(65536 * lows.length);
  let i = 0;
  for (let hi = 0; hi < 65536; hi++) for (const lo of lows) words[i++] = ((hi << 16) | lo) >>> 0;
  return new Float32Array(words.buffer);
}

/** Index of the first word where the two arrays differ in bits, or −1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

const hex = (x: number) => `0x${(x >>> 0).toString(16).padStart(8, '0')}`;
const e3m4 = defineFormat({ name: 'e3m4', expBits: 3, manBits: 4, hasInf: true });
const FORMATS: [FloatFormat, boolean | undefined][] = [
  [float16, undefined],
  [float16, true],
  [bfloat16, undefined],
  [bfloat16, true],
  [float8e4m3fn, undefined],
  [float8e4m3fn, false],
  [float8e5m2, undefined],
  [e3m4, undefined],
];

describe('wasm cast: bit-identical to roundArray', () => {
  const x = sweepWords();
  for (const [f, saturate] of FORMATS) {
    it(`${f.name}${saturate === undefined ? '' : ` (saturate: ${saturate})`} on ${x.length} words`, () => {
      const want = roundArray(f, x, undefined, saturate === undefined ? undefined : { saturate });
      const got = rt.cast(x, f, saturate === undefined ? {} : { saturate });
      const i = firstDifference(got, want);
      const u = new Uint32Array(x.buffer);
      if (i >= 0) {
        const g = new Uint32Array(got.buffer)[i];
        const w = new Uint32Array(want.buffer)[i];
        throw new Error(`${f.name}: input ${hex(u[i])} (${x[i]}) gave ${hex(g)} (${got[i]}), roundArray ${hex(w)} (${want[i]})`);
      }
      expect(i).toBe(-1);
    });
  }

  it('two threads give the bits of one; odd lengths; in place on a heap view', () => {
    const n = 100_003;
    const src = x.subarray(17, 17 + n);
    const one = rt.cast(src, float16, { threads: 1 });
    expect(firstDifference(rt.cast(src, float16, { threads: 2 }), one)).toBe(-1);
    const view = rt.alloc(n);
    view.set(src);
    expect(rt.cast(view, float16, { out: view })).toBe(view);
    expect(firstDifference(view, one)).toBe(-1);
    rt.free(view);
  });

  it('refuses formats the float32 SIMD rounding cannot hold, naming them', () => {
    const wide = defineFormat({ name: 'e9m10', expBits: 9, manBits: 10, hasInf: true });
    expect(WasmRuntime.castsInSimd(wide)).toBe(false);
    expect(() => rt.cast(new Float32Array(4), wide)).toThrow(/format 'e9m10' does not fit/);
  });
});

// @vitest-environment node
/**
 * Exhaustive checks over every bit pattern of float16, bfloat16 and both
 * float8 formats (the same checks scripts/precision/exhaustive.ts records in
 * docs/precision-exhaustive.md), plus every midpoint between consecutive
 * values. Each compares against a reference written independently of the
 * library (see scripts/precision/exhaustive-checks.ts).
 */
import { describe, expect, it } from 'vitest';
import { checkBf16DoubleRounding, checkFloat32Inputs, runExhaustiveChecks, type CheckResult } from '../../scripts/precision/exhaustive-checks.js';

const results = runExhaustiveChecks();

function find(format: string, prefix: string): CheckResult {
  const r = results.find((c) => c.format === format && c.name.startsWith(prefix));
  if (!r) throw new Error(`no check '${prefix}' for ${format}`);
  return r;
}

describe('every bit pattern', () => {
  for (const [format, bits] of [
    ['float16', 16],
    ['bfloat16', 16],
    ['float8_e4m3fn', 8],
    ['float8_e5m2', 8],
  ] as const) {
    it(`${format}: all ${2 ** bits} patterns decode to the textbook value`, () => {
      const r = find(format, 'decode(bits) equals sign');
      expect(r.examples).toEqual([]);
      expect(r.mismatches).toBe(0);
      expect(r.checked).toBe(2 ** bits);
    });
    it(`${format}: all ${2 ** bits} patterns re-encode to themselves (NaNs to the canonical NaN)`, () => {
      const r = find(format, 'encode(decode');
      expect(r.examples).toEqual([]);
      expect(r.checked).toBe(2 ** bits);
    });
    it(`${format}: every value is a fixed point of roundTo`, () => {
      const r = find(format, 'roundTo(decode');
      expect(r.examples).toEqual([]);
      // all patterns but the NaNs: 2·(2^M − 1) for IEEE-like, 2 for e4m3fn
      const nans = format === 'float8_e4m3fn' ? 2 : 2 * (2 ** { float16: 10, bfloat16: 7, float8_e5m2: 2 }[format] - 1);
      expect(r.checked).toBe(2 ** bits - nans);
    });
    it(`${format}: array functions agree with the scalar ones on all patterns`, () => {
      const r = find(format, 'decodeArray');
      expect(r.examples).toEqual([]);
      expect(r.checked).toBe(3 * 2 ** bits);
    });
    it(`${format}: every midpoint rounds to the even neighbour, ±1 ulp(float64) to the nearer one`, () => {
      const r = find(format, 'every midpoint');
      expect(r.examples).toEqual([]);
      expect(r.mismatches).toBe(0);
      // 6 cases per gap between consecutive non-negative finite values, plus the gap above max
      expect(r.checked).toBeGreaterThan(6 * (2 ** (bits - 1) - 2 ** ({ float16: 10, bfloat16: 7, float8_e4m3fn: 0, float8_e5m2: 2 }[format]) - 1));
    });
  }

  it('float16: all patterns equal @petamoriken/float16 getFloat16, and f16round agrees on all midpoints ± 1 ulp', () => {
    const r = find('float16', 'decode(bits) equals @petamoriken');
    expect(r.examples).toEqual([]);
    expect(r.checked).toBe(65536 + 6 * 31743);
  });
});

describe('bfloat16 double rounding', () => {
  it('midpoint + 1 ulp(float64) always rounds up; through float32 it rounds wrongly on about half of them', () => {
    const r = checkBf16DoubleRounding();
    expect(r.examples).toEqual([]);
    expect(r.mismatches).toBe(0);
    expect(r.checked).toBe(32639); // gaps between the 32,640 finite non-negative values (patterns 0x0000..0x7f7f)
    // the lower neighbour is even for every other gap, and there float32 first lands on the tie
    expect(r.doubleRoundingWrong).toBe(Math.floor(r.checked / 2) + (r.checked % 2));
  });
});

describe('float32 inputs (a strided sample of all 2^32 patterns; the script checks all of them)', () => {
  it('bfloat16 equals the reference bit rounding and float16 equals f16round', () => {
    const [bf, h] = checkFloat32Inputs(0, 2 ** 32, 4099);
    expect(bf.examples).toEqual([]);
    expect(h.examples).toEqual([]);
    expect(bf.checked).toBe(Math.ceil(2 ** 32 / 4099));
    expect(h.checked).toBe(bf.checked);
  });
});

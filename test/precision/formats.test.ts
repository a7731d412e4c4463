// @vitest-environment node
/**
 * Derived constants of every built-in format against the known literals
 * (IEEE 754-2019 table 3.5, the OCP OFP8 spec, the bfloat16 definition), and
 * validation of custom formats.
 */
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { FORMATS, defineFormat, fitsInFloat32, resolveFormat } from '../../src/precision/formats.js';
import { roundTo } from '../../src/precision/round.js';

describe('derived constants equal the published values', () => {
  const known = {
    float16: { bits: 16, bias: 15, maxFinite: 65504, minNormal: 6.103515625e-5, minSubnormal: 5.960464477539063e-8, epsilon: 9.765625e-4, nanBits: 0x7e00 },
    bfloat16: { bits: 16, bias: 127, maxFinite: 3.3895313892515355e38, minNormal: 1.1754943508222875e-38, minSubnormal: 9.183549615799121e-41, epsilon: 0.0078125, nanBits: 0x7fc0 },
    float8_e4m3fn: { bits: 8, bias: 7, maxFinite: 448, minNormal: 0.015625, minSubnormal: 0.001953125, epsilon: 0.125, nanBits: 0x7f },
    float8_e5m2: { bits: 8, bias: 15, maxFinite: 57344, minNormal: 6.103515625e-5, minSubnormal: 1.52587890625e-5, epsilon: 0.25, nanBits: 0x7e },
    float32: { bits: 32, bias: 127, maxFinite: 3.4028234663852886e38, minNormal: 1.1754943508222875e-38, minSubnormal: 1.401298464324817e-45, epsilon: 1.1920928955078125e-7, nanBits: 0x7fc00000 },
    float64: { bits: 64, bias: 1023, maxFinite: Number.MAX_VALUE, minNormal: 2.2250738585072014e-308, minSubnormal: Number.MIN_VALUE, epsilon: Number.EPSILON, nanBits: 0x7ff8000000000000 },
  } as const;
  for (const [name, want] of Object.entries(known)) {
    it(`${name}`, () => {
      const f = FORMATS[name as keyof typeof FORMATS];
      expect(f.name).toBe(name);
      for (const [k, v] of Object.entries(want)) expect([k, f[k as keyof typeof f]]).toEqual([k, v]);
    });
  }

  it('overflow thresholds: maxFinite + ulp/2 (inclusive for IEEE-like, exclusive for e4m3fn)', () => {
    expect([FORMATS.float16.overflowThreshold, FORMATS.float16.overflowInclusive]).toEqual([65520, true]);
    expect([FORMATS.float8_e4m3fn.overflowThreshold, FORMATS.float8_e4m3fn.overflowInclusive]).toEqual([464, false]);
    expect(FORMATS.float8_e5m2.overflowThreshold).toBe(61440);
    expect(FORMATS.float32.overflowThreshold).toBe(3.4028235677973366e38);
    expect(Math.fround(3.4028235677973366e38)).toBe(Infinity); // Math.fround agrees it overflows there
    expect(Math.fround(3.4028235677973362e38)).toBe(FORMATS.float32.maxFinite);
  });

  it('float32 constants agree with what Math.fround produces', () => {
    const f = FORMATS.float32;
    expect(Math.fround(f.maxFinite)).toBe(f.maxFinite);
    expect(Math.fround(f.minSubnormal / 2)).toBe(0);
    expect(Math.fround(f.minSubnormal * 0.75)).toBe(f.minSubnormal);
  });

  it('formats are frozen data', () => {
    expect(Object.isFrozen(FORMATS.float16)).toBe(true);
    expect(Object.isFrozen(FORMATS)).toBe(true);
    expect(fitsInFloat32(FORMATS.bfloat16)).toBe(true);
    expect(fitsInFloat32(FORMATS.float64)).toBe(false);
  });
});

describe('defineFormat', () => {
  it('derives a custom format and rounds to it with the same function', () => {
    const e3m4 = defineFormat({ name: 'e3m4', expBits: 3, manBits: 4, hasInf: true });
    expect([e3m4.bias, e3m4.emax, e3m4.maxFinite, e3m4.minNormal, e3m4.minSubnormal]).toEqual([3, 3, 15.5, 0.25, 2 ** -6]);
    expect(roundTo(e3m4, 15.74)).toBe(15.5);
    expect(roundTo(e3m4, 15.75)).toBe(Infinity);
    expect(roundTo(e3m4, 3 * 2 ** -7)).toBe(2 ** -5); // tie between 2^-6 (odd) and 2·2^-6 (even)
    const fn = defineFormat({ name: 'e2m3fn', expBits: 2, manBits: 3, hasInf: false });
    expect([fn.maxFinite, fn.saturate]).toEqual([7, true]); // 2^2·1.75
  });

  it('rejects bad specs with a message naming the field', () => {
    expect(() => defineFormat({ name: 'x', expBits: 1, manBits: 3, hasInf: true })).toThrow(/'expBits' must be an integer in \[2, 11\]/);
    expect(() => defineFormat({ name: 'x', expBits: 5, manBits: 53, hasInf: true })).toThrow(/'manBits' must be an integer in \[0, 52\]/);
    expect(() => defineFormat({ name: 'x', expBits: 5, manBits: 0, hasInf: true })).toThrow(/manBits ≥ 1/);
    expect(() => defineFormat({ name: 'x', expBits: 5, manBits: 2, hasInf: 'yes' as never })).toThrow(/'hasInf' must be a boolean/);
    expect(() => defineFormat({ name: '', expBits: 5, manBits: 2, hasInf: true })).toThrow(/'name' must be a non-empty string/);
    expect(() => defineFormat({ name: 'x', expBits: 11, manBits: 10, hasInf: false })).toThrow(ArgumentError);
  });

  it('resolveFormat accepts names and format objects and names the argument otherwise', () => {
    expect(resolveFormat('f', 'bfloat16')).toBe(FORMATS.bfloat16);
    expect(resolveFormat('f', FORMATS.float16)).toBe(FORMATS.float16);
    expect(() => resolveFormat('f', 'fp16')).toThrow(/f: unknown format 'fp16'; expected one of 'float16', 'bfloat16'/);
    expect(() => resolveFormat('f', 16)).toThrow(/f: 'format' must be a format name/);
  });
});

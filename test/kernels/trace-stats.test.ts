/**
 * Tensor statistics agree exactly with a plain float64 count, on every
 * backend, for data with planted NaN, ±Inf, zeros, subnormals and values
 * that overflow or underflow float16/bfloat16/float8 — both for host tensors
 * and for tensors resident on the device (reduced there).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { FORMATS, type FloatFormat } from '../../src/precision/formats.js';
import { roundTo } from '../../src/precision/round.js';
import { Tensor } from '../../src/tensor.js';
import { tensorStats, type TensorStats } from '../../src/trace/stats.js';
import { propertyParams } from '../../src/testing/arbitraries.js';
import { Rng } from '../../src/testing/values.js';
import { backendsUnderTest, deviceFor } from '../support/devices.js';

/** The count written the slow, obvious way: classify each value with roundTo. */
function plainCount(x: Float32Array, f: FloatFormat): TensorStats {
  const finite = Array.from(x).filter((v) => Number.isFinite(v));
  const nz = finite.filter((v) => v !== 0).map(Math.abs);
  const maxAbs = finite.length ? Math.max(...finite.map(Math.abs)) : NaN;
  const isSub = (v: number) => v !== 0 && Math.abs(v) < f.minNormal;
  return {
    count: x.length,
    nan: Array.from(x).filter((v) => Number.isNaN(v)).length,
    posInf: Array.from(x).filter((v) => v === Infinity).length,
    negInf: Array.from(x).filter((v) => v === -Infinity).length,
    zeros: finite.filter((v) => v === 0).length,
    subnormals: nz.filter((v) => v < 2 ** -126).length,
    min: finite.length ? Math.min(...finite) : NaN,
    max: finite.length ? Math.max(...finite) : NaN,
    maxAbs,
    minNonzeroAbs: nz.length ? Math.min(...nz) : NaN,
    target: {
      format: f.name,
      // saturating formats (no Inf) clamp to ±max: count what lies beyond the format's range instead
      overflow: finite.filter((v) => {
        const r = roundTo(f, v, { saturate: false });
        return !Number.isFinite(r);
      }).length,
      underflowToZero: finite.filter((v) => v !== 0 && roundTo(f, v) === 0).length,
      underflowToSubnormal: finite.filter((v) => isSub(roundTo(f, v))).length,
      maxFinite: f.maxFinite,
      headroom: finite.length ? f.maxFinite / maxAbs : NaN,
    },
  };
}

function planted(seed: number, n: number, f: FloatFormat): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  const interesting = [
    NaN, Infinity, -Infinity, 0, -0,
    f.maxFinite, -f.maxFinite, f.overflowThreshold, -f.overflowThreshold, f.maxFinite * 1.5, f.overflowThreshold * (1 - 2 ** -20),
    f.minNormal, f.minSubnormal, f.minSubnormal / 2, f.minSubnormal * 0.75, f.minNormal - f.minSubnormal / 2, f.minNormal - f.minSubnormal,
    1e-45, 2 ** -149, 2 ** -126, 1e-40, 3.4028234663852886e38, 1e30,
  ];
  for (let i = 0; i < n; i++) {
    const r = rng.uniform();
    x[i] = r < 0.3 ? rng.pick(interesting) : r < 0.6 ? rng.normal() * 10 ** rng.int(-10, 10) : (rng.uniform() - 0.5) * f.maxFinite * 4;
  }
  return x;
}

for (const backend of backendsUnderTest()) {
  describe(`trace statistics on ${backend}`, () => {
    for (const name of ['float16', 'bfloat16', 'float8_e4m3fn', 'float8_e5m2'] as const) {
      test(`match a float64 count (${name}), host and resident`, async () => {
        const f = (FORMATS as Record<string, FloatFormat>)[name];
        const d = await deviceFor(backend);
        const { seed, numRuns } = propertyParams(8);
        await fc.assert(
          fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 5000 }), async (s, n) => {
            const x = planted(s, n, f);
            const expected = plainCount(x, f);
            const host = Tensor.fromHost(x, [n]);
            expect(await tensorStats(d, host, f)).toEqual(expected);
            const resident = await d.upload(host);
            expect(await tensorStats(d, resident, f)).toEqual(expected);
            if (resident !== host) resident.dispose();
          }),
          { seed, numRuns },
        );
      });
    }
  });
}

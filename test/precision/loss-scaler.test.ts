// @vitest-environment node
/**
 * DynamicLossScaler: scripted transcripts against scale sequences worked out
 * by hand from PyTorch's rules (and Megatron's for hysteresis), float32
 * arithmetic of the scale, unscaling by the float32 reciprocal, culprit
 * naming, state round trips, and the property that a skipped step leaves
 * parameters and optimizer state bit-for-bit unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { DynamicLossScaler, type LossScalerOptions } from '../../src/precision/loss-scaler.js';
import { fuzzParams } from './support.js';

/** Runs a script of 'F' (all gradients finite) and 'N' (a non-finite one) steps; returns the scale used at each step. */
function run(script: string, options?: LossScalerOptions): { used: number[]; after: number; scaler: DynamicLossScaler } {
  const s = new DynamicLossScaler(options);
  const used: number[] = [];
  for (const c of script.replace(/\s+/g, '')) {
    used.push(s.scale);
    const g = { w: new Float32Array([1, c === 'N' ? Infinity : 2]) };
    const check = s.unscaleAndCheck(g);
    expect(check.finite).toBe(c === 'F');
    s.update(check);
  }
  return { used, after: s.scale, scaler: s };
}

const K = 1024; // scales below in units of 1024 (all powers of two: exact)

describe('PyTorch GradScaler semantics (transcripts worked out by hand)', () => {
  it('defaults are 2^16, ×2 after 2000 finite steps, ×0.5 on overflow', () => {
    const s = new DynamicLossScaler();
    expect(s.scale).toBe(65536);
    expect(s.options).toMatchObject({ initScale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, hysteresis: 1, minScale: 0, maxScale: Infinity });
  });

  it('interval 3: grows after every 3rd consecutive finite step; overflow halves and restarts the count', () => {
    //             step: 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
    const script = 'F  F  F  N  F  N  N  F  F  F  F  F  F  F  N  F  F  N  F  F';
    // scale used at each step (×1024). Worked by hand:
    //  0-2 finite: 64, tracker 1,2,3 → grows to 128 after step 2
    //  3 N: 128 used → 64, tracker 0;   4 F: tracker 1
    //  5 N: → 32 (tracker reset);  6 N: → 16
    //  7,8,9 F: tracker 1,2,3 → grows to 32 after step 9
    //  10,11,12 F → grows to 64 after step 12;  13 F tracker 1
    //  14 N: → 32;  15,16 F tracker 1,2;  17 N → 16;  18,19 F tracker 1,2
    const want = [64, 64, 64, 128, 64, 64, 32, 16, 16, 16, 32, 32, 32, 64, 64, 32, 32, 32, 16, 16].map((v) => v * K);
    const r = run(script, { growthInterval: 3 });
    expect(r.used).toEqual(want);
    expect(r.after).toBe(16 * K);
    expect(r.scaler.growthTracker).toBe(2);
    const reasons = r.scaler.history.map((h) => h.reason);
    expect(reasons.slice(0, 6)).toEqual(['finite', 'finite', 'growth', 'backoff', 'finite', 'backoff']);
    expect(r.scaler.history.filter((h) => h.skipped).map((h) => h.step)).toEqual([3, 5, 6, 14, 17]);
  });

  it('a 10,000-step run with the default interval matches the hand-computed scale at every step', () => {
    // non-finite at steps 2500, 2501 and 7000, finite elsewhere:
    //   0..1999: 65536 (growth after step 1999, the 2000th success) → 131072 for 2000..2500
    //   2500 N → 65536; 2501 N → 32768, used from 2502
    //   2502..4501: 2000 successes → 65536 from 4502; 4502..6501 → 131072 from 6502
    //   6502..6999: 498 successes; 7000 N → 65536 from 7001; 7001..9000 → 131072 from 9001
    const bad = new Set([2500, 2501, 7000]);
    const script = Array.from({ length: 10000 }, (_, i) => (bad.has(i) ? 'N' : 'F')).join('');
    const expected = (i: number): number => {
      if (i <= 1999) return 65536;
      if (i <= 2500) return 131072;
      if (i === 2501) return 65536;
      if (i <= 4501) return 32768;
      if (i <= 6501) return 65536;
      if (i <= 7000) return 131072;
      if (i <= 9000) return 65536;
      return 131072;
    };
    const r = run(script);
    const wrong = r.used.map((v, i) => [i, v, expected(i)]).filter(([, v, w]) => v !== w);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(r.after).toBe(131072);
    expect(r.scaler.growthTracker).toBe(999); // 9001..9999
    expect(r.scaler.stepCount).toBe(10000);
    expect(r.scaler.history.length).toBe(10000);
  });

  it('scale arithmetic is float32, like the float32 scale tensor in PyTorch', () => {
    const s = new DynamicLossScaler({ initScale: 65536, backoffFactor: 0.3, growthFactor: 1.1, growthInterval: 1 });
    s.update(true);
    expect(s.scale).toBe(Math.fround(65536 * 0.3)); // 19660.80078125, not 19660.8
    expect(s.scale).not.toBe(65536 * 0.3);
    const before = s.scale;
    s.update(false);
    expect(s.scale).toBe(Math.fround(before * 1.1));
    expect(new DynamicLossScaler({ initScale: 0.1 }).scale).toBe(Math.fround(0.1));
  });

  it('does not grow past float32 max (PyTorch keeps the scale when scale·growth is Inf)', () => {
    const s = new DynamicLossScaler({ initScale: 2 ** 126, growthInterval: 1 });
    expect(s.update(false).reason).toBe('growth');
    expect(s.scale).toBe(2 ** 127);
    const e = s.update(false);
    expect([e.reason, s.scale, s.growthTracker]).toEqual(['growth-capped', 2 ** 127, 0]);
  });

  it('backs off into float32 subnormals and to 0 when nothing stops it (as PyTorch), or stops at minScale', () => {
    const s = new DynamicLossScaler({ initScale: 2 ** -148 });
    s.update(true);
    expect(s.scale).toBe(2 ** -149);
    s.update(true);
    expect(s.scale).toBe(0); // 2^-150 is a tie between 0 and 2^-149: float32 rounds to the even 0
    const m = new DynamicLossScaler({ initScale: 8, minScale: 2 });
    for (let i = 0; i < 5; i++) m.update(true);
    expect(m.scale).toBe(2);
  });

  it('maxScale caps growth', () => {
    const s = new DynamicLossScaler({ initScale: 4, maxScale: 6, growthInterval: 1 });
    expect(s.update(false).reason).toBe('growth-capped');
    expect(s.scale).toBe(6);
    s.update(false);
    expect(s.scale).toBe(6);
  });
});

describe('hysteresis', () => {
  it("Megatron ('growth' reset): backs off only at the h-th overflow; the tracker refills only on growth", () => {
    //           step: 0 1 2 3 4 5 6 7 8 9 10 11
    const script = 'N F N N F F F N N F F F';
    // h = 2, interval 3 (×1024):
    //  0 N: tracker 2→1, tolerated, 64;  1 F: growth tracker 1
    //  2 N: tracker 1→0 → backoff to 32 (growth tracker reset)
    //  3 N: tracker 0→−1 → backoff to 16 (no refill since no growth)
    //  4,5,6 F: growth after step 6 → 32, hysteresis tracker refilled to 2
    //  7 N: tracker 2→1 tolerated (32);  8 N: →0 backoff to 16;  9,10,11 F → grow to 32 after 11
    const want = [64, 64, 64, 32, 16, 16, 16, 32, 32, 16, 16, 16].map((v) => v * K);
    const r = run(script, { growthInterval: 3, hysteresis: 2 });
    expect(r.used).toEqual(want);
    expect(r.after).toBe(32 * K);
    expect(r.scaler.history.map((h) => h.reason)).toEqual([
      'hysteresis', 'finite', 'backoff', 'backoff', 'finite', 'finite', 'growth', 'hysteresis', 'backoff', 'finite', 'finite', 'growth',
    ]);
    // every overflowing step is skipped, tolerated or not
    expect(r.scaler.history.filter((h) => h.skipped).length).toBe(5);
  });

  it("'finiteStep' reset (Apex, DeepSpeed consecutive_hysteresis): any finite step refills the tracker", () => {
    const script = 'N F N F N N';
    // h = 2: 0 N tolerated (tracker 1); 1 F refills to 2; 2 N tolerated; 3 F refills; 4 N tolerated (1); 5 N → 0: backoff
    const r = run(script, { growthInterval: 100, hysteresis: 2, hysteresisReset: 'finiteStep' });
    expect(r.used).toEqual([64, 64, 64, 64, 64, 64].map((v) => v * K));
    expect(r.after).toBe(32 * K);
    // the same script with Megatron's rule backs off at step 2
    expect(run(script, { growthInterval: 100, hysteresis: 2 }).used).toEqual([64, 64, 64, 32, 32, 16].map((v) => v * K));
  });

  it('hysteresis 1 is PyTorch under both reset rules', () => {
    const script = 'FFNFFFNNFFFFFNF';
    const a = run(script, { growthInterval: 2 }).used;
    expect(run(script, { growthInterval: 2, hysteresis: 1, hysteresisReset: 'finiteStep' }).used).toEqual(a);
  });
});

describe('unscaleAndCheck', () => {
  it('multiplies by the float32 reciprocal (computed in float64) and rounds each product to float32', () => {
    const s = new DynamicLossScaler({ initScale: 3 });
    const inv = Math.fround(1 / 3);
    const vals = Array.from({ length: 2000 }, (_, i) => Math.fround(1 + i / 7));
    const g = new Float32Array(vals);
    const g64 = new Float64Array(vals);
    s.unscaleAndCheck({ g, g64 });
    let differsFromDivision = 0;
    for (let i = 0; i < vals.length; i++) {
      expect(g[i]).toBe(Math.fround(vals[i] * inv));
      expect(g64[i]).toBe(vals[i] * inv);
      if (g[i] !== Math.fround(vals[i] / 3)) differsFromDivision++;
    }
    // the multiply-by-reciprocal rule is observable: it differs from division on some values
    expect(differsFromDivision).toBeGreaterThan(0);
  });

  it('names the first non-finite value (key order, then index) and still unscales everything', () => {
    const s = new DynamicLossScaler({ initScale: 4 });
    const grads = { a: new Float32Array([4, 8]), b: new Float32Array([4, -Infinity, NaN]), c: new Float64Array([NaN, 4]) };
    const r = s.unscaleAndCheck(grads);
    expect(r).toEqual({ finite: false, culprit: { tensor: 'b', index: 1, value: -Infinity } });
    expect(Array.from(grads.a)).toEqual([1, 2]);
    expect(grads.c[1]).toBe(1);
    const e = s.update(r);
    expect(e).toMatchObject({ step: 0, scale: 4, newScale: 2, skipped: true, reason: 'backoff', tensor: 'b', index: 1, value: '-Infinity' });
  });

  it('refuses to unscale twice in one step, and update() without a result needs a pending check', () => {
    const s = new DynamicLossScaler();
    const g = { w: new Float32Array([1]) };
    s.unscaleAndCheck(g);
    expect(() => s.unscaleAndCheck(g)).toThrow(/already called since the last update/);
    expect(() => s.state()).toThrow(/step is in progress/);
    s.update();
    expect(() => s.update()).toThrow(/call unscaleAndCheck\(\) first/);
    expect(() => s.unscaleAndCheck([new Float32Array(1)] as never)).toThrow(/'grads' must be a record/);
    expect(() => s.unscaleAndCheck({ w: [1, 2] } as never)).toThrow(/grads\['w'\] must be a Float32Array or Float64Array/);
  });

  it('an empty record is finite; scaleLoss multiplies by the scale', () => {
    const s = new DynamicLossScaler({ initScale: 1024 });
    expect(s.unscaleAndCheck({})).toEqual({ finite: true });
    expect(s.scaleLoss(0.5)).toBe(512);
  });
});

describe('step: skipped steps change nothing', () => {
  /** A tiny Adam: params, first and second moments, step count. */
  function makeAdam(n: number, seed: number) {
    const p = new Float32Array(n).map((_, i) => Math.sin(seed + i));
    return { p, m: new Float32Array(n), v: new Float32Array(n), t: { value: 0 } };
  }
  function adamStep(st: ReturnType<typeof makeAdam>, g: Float32Array): void {
    st.t.value++;
    const b1 = 0.9;
    const b2 = 0.999;
    for (let i = 0; i < g.length; i++) {
      st.m[i] = b1 * st.m[i] + (1 - b1) * g[i];
      st.v[i] = b2 * st.v[i] + (1 - b2) * g[i] * g[i];
      const mh = st.m[i] / (1 - b1 ** st.t.value);
      const vh = st.v[i] / (1 - b2 ** st.t.value);
      st.p[i] -= (1e-3 * mh) / (Math.sqrt(vh) + 1e-8);
    }
  }
  const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer.slice(0)));

  it('property: over random step sequences, a skipped step leaves params and optimizer state bit-for-bit unchanged', () => {
    const stepArb = fc.record({
      values: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e3, max: 1e3 }), { minLength: 1, maxLength: 16 }),
      poison: fc.option(fc.record({ at: fc.nat(), kind: fc.constantFrom(NaN, Infinity, -Infinity) }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), (steps, interval, hysteresis) => {
        const n = 16;
        const st = makeAdam(n, 1);
        const scaler = new DynamicLossScaler({ growthInterval: interval, hysteresis, initScale: 2 ** 10 });
        for (const s of steps) {
          const g = new Float32Array(n);
          for (let i = 0; i < n; i++) g[i] = Math.fround(s.values[i % s.values.length] * scaler.scale);
          if (s.poison) g[s.poison.at % n] = s.poison.kind;
          const before = [bitsOf(st.p), bitsOf(st.m), bitsOf(st.v), st.t.value];
          let calls = 0;
          const r = scaler.step({ g }, () => {
            calls++;
            adamStep(st, g);
          });
          const after = [bitsOf(st.p), bitsOf(st.m), bitsOf(st.v), st.t.value];
          if (r.skipped) {
            if (calls !== 0) return false;
            expect(after).toEqual(before);
            if (!s.poison) return false;
          } else if (calls !== 1 || s.poison) return false;
        }
        return true;
      }),
      fuzzParams(200),
    );
  });

  it('step() uses an earlier unscaleAndCheck result instead of unscaling again', () => {
    const s = new DynamicLossScaler({ initScale: 2 });
    const g = { w: new Float32Array([4]) };
    const check = s.unscaleAndCheck(g);
    let applied = 0;
    const r = s.step(g, () => applied++);
    expect([g.w[0], applied, r.skipped, check.finite]).toEqual([2, 1, false, true]);
    expect(() => s.step(g, 'no' as never)).toThrow(/'applyUpdate' must be a function/);
  });
});

describe('state() / loadState()', () => {
  it('round-trips through JSON and continues identically', () => {
    const opts = { growthInterval: 4, hysteresis: 2, minScale: 1, maxScale: 2 ** 20, historyLimit: 50 };
    const a = run('FFNFFFFFNNFFFFF', opts).scaler;
    const snapshot = JSON.parse(JSON.stringify(a.state()));
    const b = new DynamicLossScaler();
    b.loadState(snapshot);
    expect(b.state()).toEqual(a.state());
    for (const c of 'FFFFNFFFNNNFFFFFFFF') {
      const ga = { w: new Float32Array([c === 'N' ? NaN : 1]) };
      const gb = { w: new Float32Array([c === 'N' ? NaN : 1]) };
      a.step(ga, () => {});
      b.step(gb, () => {});
    }
    expect(b.state()).toEqual(a.state());
    expect(b.history.at(-1)).toEqual(a.history.at(-1));
  });

  it('keeps no NaN or Infinity in the state (JSON-safe), with null for unbounded options', () => {
    const s = new DynamicLossScaler({ historyLimit: Infinity });
    s.unscaleAndCheck({ w: new Float32Array([NaN]) });
    s.update();
    const st = s.state();
    expect(st.options.maxScale).toBeNull();
    expect(st.options.historyLimit).toBeNull();
    expect(st.history[0].value).toBe('NaN');
    expect(JSON.parse(JSON.stringify(st))).toEqual(st);
  });

  it('historyLimit keeps only the most recent entries', () => {
    const s = run('FNFNFNFN', { historyLimit: 3 }).scaler;
    expect(s.history.map((h) => h.step)).toEqual([5, 6, 7]);
    expect(run('FN', { historyLimit: 0 }).scaler.history).toEqual([]);
  });

  it('rejects invalid states and options with messages naming the field', () => {
    const s = new DynamicLossScaler();
    const good = s.state();
    expect(() => s.loadState({ ...good, scale: NaN })).toThrow(/'scale' must be a finite non-negative float32 value/);
    expect(() => s.loadState({ ...good, scale: 0.1 })).toThrow(/float32/);
    expect(() => s.loadState({ ...good, growthTracker: 2000 })).toThrow(/'growthTracker' = 2000 must be below growthInterval = 2000/);
    expect(() => s.loadState({ ...good, version: 2 } as never)).toThrow(/version 1/);
    expect(() => new DynamicLossScaler({ growthFactor: 1 })).toThrow(/'growthFactor' must be > 1/);
    expect(() => new DynamicLossScaler({ backoffFactor: 1 })).toThrow(/'backoffFactor' must be in \(0, 1\)/);
    expect(() => new DynamicLossScaler({ growthInterval: 1.5 })).toThrow(/'growthInterval' must be a positive integer/);
    expect(() => new DynamicLossScaler({ hysteresis: 0 })).toThrow(/'hysteresis' must be a positive integer/);
    expect(() => new DynamicLossScaler({ initScale: -1 })).toThrow(/'initScale' must be a finite number > 0/);
    expect(() => new DynamicLossScaler({ initScale: 1e-50 })).toThrow(/positive float32 value/);
    expect(() => new DynamicLossScaler({ minScale: 1e9 })).toThrow(/'minScale'/);
    expect(() => new DynamicLossScaler({ maxScale: 2 })).toThrow(/'maxScale' must be a number ≥ initScale/);
    expect(() => new DynamicLossScaler({ growth: 2 } as never)).toThrow(/unknown option 'growth'/);
    expect(() => s.update('yes' as never)).toThrow(ArgumentError);
  });
});

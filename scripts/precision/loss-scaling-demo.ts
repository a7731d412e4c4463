/**
 * Why loss scaling matters, measured.
 *
 * A small 2-layer MLP (D → H ReLU → K, softmax cross-entropy, mean over the
 * batch) is trained with SGD on synthetic Gaussian-cluster data.
 *
 * Part A (what the issue asks for): follow a float32 training run and, at
 * every step, round the float32 model's gradients to float16
 *   - directly ("no scaling"), and
 *   - as `DynamicLossScaler` (PyTorch defaults) has them stored: the backward
 *     pass started from dLoss = S, so the gradients are S·g (S a power of two,
 *     exact in float32), rounded to float16, then unscaled in float32 by the
 *     scaler (and the step skipped if anything overflowed).
 * Count, among the elements that are nonzero in float32, those that became
 * exactly zero ("lost to underflow") and those stored below float16's
 * normal range 2^−14 (kept, but with reduced precision). The weight
 * gradients and the logit gradient (the first activation gradient of the
 * backward pass) are counted separately.
 *
 * Part B: train end to end with emulated float16 mixed precision — float32
 * master weights, but weights, activations and every backward tensor stored
 * in float16 — without and with the scaler, against float32 throughout;
 * report the lost weight-gradient elements and the final loss.
 *
 *   npx tsx scripts/precision/loss-scaling-demo.ts [--steps 2400] [--noise 0.4] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { DynamicLossScaler } from '../../src/precision/loss-scaler.js';
import { roundTensorDataInPlace } from '../../src/precision/policy.js';

const args = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const STEPS = arg('steps', 2400);
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;

// shapes: N samples, B batch, D inputs, H hidden, K classes
const N = 4096;
const B = 256;
const D = 32;
const H = 64;
const K = 10;
const LR = 0.2;
const NOISE = arg('noise', 0.4);

/** Seeded PRNG (mulberry32) and a normal sample (Box–Muller). */
function rng(seed: number) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return { u, normal: () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) };
}

// synthetic data: K Gaussian clusters in D dimensions, standardised inputs
const r = rng(7);
const centers = Array.from({ length: K }, () => Array.from({ length: D }, () => r.normal()));
const X = new Float32Array(N * D); // (N, D)
const Y = new Int32Array(N); // (N)
for (let n = 0; n < N; n++) {
  const k = n % K;
  Y[n] = k;
  for (let d = 0; d < D; d++) X[n * D + d] = centers[k][d] + NOISE * r.normal();
}

interface Params {
  W1: Float32Array; // (D, H)
  b1: Float32Array; // (H)
  W2: Float32Array; // (H, K)
  b2: Float32Array; // (K)
}
type Grads = { dW1: Float32Array; db1: Float32Array; dW2: Float32Array; db2: Float32Array };

function initParams(seed: number): Params {
  const g = rng(seed);
  return {
    W1: new Float32Array(D * H).map(() => g.normal() * Math.sqrt(2 / D)),
    b1: new Float32Array(H),
    W2: new Float32Array(H * K).map(() => g.normal() * Math.sqrt(1 / H)),
    b2: new Float32Array(K),
  };
}

/**
 * Forward and backward for the batch starting at `start`, with the backward
 * seeded by dLoss = `seed`. `store` rounds a tensor in place to the storage
 * format (identity for float32). Returns the (unscaled) mean loss and the
 * gradients of seed·loss.
 */
function forwardBackward(p: Params, start: number, seed: number, store: (a: Float32Array) => void): { loss: number; g: Grads; dlogits: Float32Array } {
  const x = X.subarray(start * D, (start + B) * D); // (B, D)
  const W1 = p.W1.slice();
  const b1 = p.b1.slice();
  const W2 = p.W2.slice();
  const b2 = p.b2.slice();
  for (const w of [W1, b1, W2, b2]) store(w); // weights cast to the storage format
  const h = new Float32Array(B * H); // (B, H) ReLU output
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < H; j++) {
      let s = b1[j]; // float32-style accumulation (here float64, rounded on store)
      for (let d = 0; d < D; d++) s += x[i * D + d] * W1[d * H + j];
      h[i * H + j] = s > 0 ? s : 0;
    }
  }
  store(h);
  const logits = new Float32Array(B * K); // (B, K)
  for (let i = 0; i < B; i++) {
    for (let k = 0; k < K; k++) {
      let s = b2[k];
      for (let j = 0; j < H; j++) s += h[i * H + j] * W2[j * K + k];
      logits[i * K + k] = s;
    }
  }
  store(logits);
  // softmax cross-entropy, mean over the batch; dlogits = seed·(softmax − onehot)/B
  let loss = 0;
  const dlogits = new Float32Array(B * K);
  for (let i = 0; i < B; i++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, logits[i * K + k]);
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(logits[i * K + k] - m);
    const y = Y[start + i];
    loss += -(logits[i * K + y] - m - Math.log(z)) / B;
    for (let k = 0; k < K; k++) dlogits[i * K + k] = (seed * (Math.exp(logits[i * K + k] - m) / z - (k === y ? 1 : 0))) / B;
  }
  store(dlogits);
  const dW2 = new Float32Array(H * K);
  const db2 = new Float32Array(K);
  const dh = new Float32Array(B * H);
  for (let j = 0; j < H; j++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let i = 0; i < B; i++) s += h[i * H + j] * dlogits[i * K + k];
      dW2[j * K + k] = s;
    }
  }
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let i = 0; i < B; i++) s += dlogits[i * K + k];
    db2[k] = s;
  }
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < H; j++) {
      if (h[i * H + j] <= 0) continue; // ReLU'
      let s = 0;
      for (let k = 0; k < K; k++) s += dlogits[i * K + k] * W2[j * K + k];
      dh[i * H + j] = s;
    }
  }
  store(dh);
  const dW1 = new Float32Array(D * H);
  const db1 = new Float32Array(H);
  for (let d = 0; d < D; d++) {
    for (let j = 0; j < H; j++) {
      let s = 0;
      for (let i = 0; i < B; i++) s += x[i * D + d] * dh[i * H + j];
      dW1[d * H + j] = s;
    }
  }
  for (let j = 0; j < H; j++) {
    let s = 0;
    for (let i = 0; i < B; i++) s += dh[i * H + j];
    db1[j] = s;
  }
  const g = { dW1, db1, dW2, db2 };
  for (const a of Object.values(g)) store(a);
  return { loss, g, dlogits };
}

function sgd(p: Params, g: Grads): void {
  const pairs: [Float32Array, Float32Array][] = [
    [p.W1, g.dW1],
    [p.b1, g.db1],
    [p.W2, g.dW2],
    [p.b2, g.db2],
  ];
  for (const [w, dw] of pairs) for (let i = 0; i < w.length; i++) w[i] -= LR * dw[i];
}

const identity = (_a: Float32Array) => {};
const toFloat16 = (a: Float32Array) => void roundTensorDataInPlace('float16', a);
const F16_MIN_NORMAL = 2 ** -14;

/** Counts over the nonzero elements of `ref`: those that are 0 in `test`, and those below float16's normal range in `stored`. */
function tally(ref: Float32Array[], test: Float32Array[], stored: Float32Array[]) {
  let nonzero = 0;
  let zeroed = 0;
  let subnormal = 0;
  for (let t = 0; t < ref.length; t++) {
    for (let i = 0; i < ref[t].length; i++) {
      if (ref[t][i] === 0) continue;
      nonzero++;
      if (test[t][i] === 0) zeroed++;
      else if (Math.abs(stored[t][i]) < F16_MIN_NORMAL) subnormal++;
    }
  }
  return { nonzero, zeroed, subnormal };
}

const gradList = (g: Grads) => [g.dW1, g.db1, g.dW2, g.db2];

// ---------------------------------------------------------------------------
// Part A: the float32 model's gradients, rounded to float16 without and with
// dynamic loss scaling, along a float32 training run
// ---------------------------------------------------------------------------

interface RowA {
  step: number;
  loss: number;
  maxAbs: number;
  params: { nonzero: number; zeroedPlain: number; zeroedScaled: number; subnormalPlain: number; subnormalScaled: number };
  logitGrad: { nonzero: number; zeroedPlain: number; zeroedScaled: number };
  scale: number;
  skipped: boolean;
}

function partA(): { rows: RowA[]; scaler: DynamicLossScaler } {
  const p = initParams(1);
  const scaler = new DynamicLossScaler(); // PyTorch defaults: 2^16, ×2 per 2000 finite steps, ×0.5 on overflow
  const rows: RowA[] = [];
  for (let step = 0; step <= STEPS; step++) {
    const start = (step * B) % N;
    const ref = forwardBackward(p, start, 1, identity); // float32 gradients of the mean loss
    const g = gradList(ref.g);
    // (1) no scaling: round the gradients to float16
    const plain = g.map((a) => roundTensorDataInPlace('float16', a.slice()));
    // (2) dynamic scaling: the backward from dLoss = S gives S·g (S a power of two: exact in float32),
    //     stored in float16, then unscaled in float32 by the scaler (skipped if anything overflowed)
    const S = scaler.scale;
    const scaledStored = g.map((a) => roundTensorDataInPlace('float16', a.map((v) => v * S)));
    const unscaled = scaledStored.map((a) => a.slice());
    const check = scaler.step({ dW1: unscaled[0], db1: unscaled[1], dW2: unscaled[2], db2: unscaled[3] }, () => {});
    const a = tally(g, plain, plain);
    const b = tally(g, unscaled, scaledStored);
    // the logit gradient (an activation gradient, (B, K)): the first tensor of the backward pass to underflow
    const dl = ref.dlogits;
    const dlPlain = roundTensorDataInPlace('float16', dl.slice());
    const dlScaled = roundTensorDataInPlace('float16', dl.map((v) => v * S));
    const c = tally([dl], [dlPlain], [dlPlain]);
    const d = tally([dl], [dlScaled], [dlScaled]);
    let maxAbs = 0;
    for (const t of g) for (const v of t) maxAbs = Math.max(maxAbs, Math.abs(v));
    rows.push({
      step,
      loss: ref.loss,
      maxAbs,
      params: { nonzero: a.nonzero, zeroedPlain: a.zeroed, zeroedScaled: check.skipped ? NaN : b.zeroed, subnormalPlain: a.subnormal, subnormalScaled: check.skipped ? NaN : b.subnormal },
      logitGrad: { nonzero: c.nonzero, zeroedPlain: c.zeroed, zeroedScaled: d.zeroed },
      scale: S,
      skipped: check.skipped,
    });
    sgd(p, ref.g); // the trajectory itself is float32
  }
  return { rows, scaler };
}

// ---------------------------------------------------------------------------
// Part B: end-to-end emulated float16 mixed precision, no scaling vs scaler
// ---------------------------------------------------------------------------

interface RunStats {
  name: string;
  zeroedMean: number;
  skipped: number;
  finalLoss: number;
  finalScale?: number;
}

function train(mode: 'float32' | 'float16' | 'float16+scaler'): RunStats {
  const p = initParams(1);
  const scaler = mode === 'float16+scaler' ? new DynamicLossScaler() : undefined;
  let zeroedSum = 0;
  let applied = 0;
  let skipped = 0;
  let loss = NaN;
  for (let step = 0; step <= STEPS; step++) {
    const start = (step * B) % N;
    const ref = forwardBackward(p, start, 1, identity);
    if (mode === 'float32') {
      loss = ref.loss;
      sgd(p, ref.g);
      continue;
    }
    const S = scaler ? scaler.scale : 1;
    const run = forwardBackward(p, start, S, toFloat16);
    loss = run.loss;
    let ok = true;
    if (scaler) ok = !scaler.step({ ...run.g }, () => sgd(p, run.g)).skipped;
    else sgd(p, run.g);
    if (ok) {
      const t = tally(gradList(ref.g), gradList(run.g), gradList(run.g));
      zeroedSum += t.zeroed / t.nonzero;
      applied++;
    } else skipped++;
  }
  return {
    name: mode === 'float32' ? 'float32 throughout (reference)' : mode === 'float16' ? 'float16 storage, no loss scaling' : 'float16 storage + DynamicLossScaler',
    zeroedMean: applied ? zeroedSum / applied : 0,
    skipped,
    finalLoss: loss,
    finalScale: scaler?.scale,
  };
}

const pct = (x: number, n: number) => (Number.isNaN(x) ? 'skipped' : `${((100 * x) / n).toFixed(2)}%`);
const t0 = performance.now();
const { rows, scaler } = partA();
const every = Math.max(1, Math.round(STEPS / 6));
const shown = rows.filter((r) => r.step % every === 0 || r.step === STEPS);
const sum = (f: (r: RowA) => number) => rows.reduce((s, r) => s + f(r), 0);
const kept = rows.filter((r) => !r.skipped);
const totals = {
  nonzero: sum((r) => r.params.nonzero),
  zeroedPlain: sum((r) => r.params.zeroedPlain),
  subnormalPlain: sum((r) => r.params.subnormalPlain),
  nonzeroKept: kept.reduce((s, r) => s + r.params.nonzero, 0),
  zeroedScaled: kept.reduce((s, r) => s + r.params.zeroedScaled, 0),
  subnormalScaled: kept.reduce((s, r) => s + r.params.subnormalScaled, 0),
  dlNonzero: sum((r) => r.logitGrad.nonzero),
  dlPlain: sum((r) => r.logitGrad.zeroedPlain),
  dlScaled: sum((r) => r.logitGrad.zeroedScaled),
};
console.log(`Loss-scaling demo: MLP ${D}→${H}→${K} (ReLU, softmax cross-entropy, mean over a batch of ${B}), ${N} synthetic samples in ${K} Gaussian clusters (noise ${NOISE}), SGD lr ${LR}, ${STEPS} steps.\n`);
console.log('A. The float32 model\'s gradients rounded to float16 (percent of their nonzero elements):\n');
console.log('| step | loss | max abs(g) | weight grads → 0, no scaling | → 0, dynamic scaler | below float16 normal (2^-14), no scaling | …, scaler | logit grad → 0, no scaling | …, scaler | scale |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of shown) {
  console.log(
    `| ${r.step} | ${r.loss.toFixed(5)} | ${r.maxAbs.toExponential(1)} | ${pct(r.params.zeroedPlain, r.params.nonzero)} | ${pct(r.params.zeroedScaled, r.params.nonzero)} | ${pct(r.params.subnormalPlain, r.params.nonzero)} | ${pct(r.params.subnormalScaled, r.params.nonzero)} | ${pct(r.logitGrad.zeroedPlain, r.logitGrad.nonzero)} | ${pct(r.logitGrad.zeroedScaled, r.logitGrad.nonzero)} | ${r.scale} |`,
  );
}
console.log(
  `| all ${rows.length} steps | | | ${pct(totals.zeroedPlain, totals.nonzero)} | ${pct(totals.zeroedScaled, totals.nonzeroKept)} | ${pct(totals.subnormalPlain, totals.nonzero)} | ${pct(totals.subnormalScaled, totals.nonzeroKept)} | ${pct(totals.dlPlain, totals.dlNonzero)} | ${pct(totals.dlScaled, totals.dlNonzero)} | |`,
);
const n = (x: number) => x.toLocaleString('en-US');
console.log(
  `\nCounts over all steps: weight-gradient elements lost to zero ${n(totals.zeroedPlain)} of ${n(totals.nonzero)} without scaling, ` +
    `${n(totals.zeroedScaled)} of ${n(totals.nonzeroKept)} with the scaler; logit-gradient elements ${n(totals.dlPlain)} of ${n(totals.dlNonzero)} without, ` +
    `${n(totals.dlScaled)} with; stored below float16's normal range ${n(totals.subnormalPlain)} without, ${n(totals.subnormalScaled)} with.`,
);
const skippedA = rows.filter((r) => r.skipped).map((r) => r.step);
console.log(`\nScaler: ${skippedA.length} skipped step(s)${skippedA.length ? ` (${skippedA.slice(0, 10).join(', ')}${skippedA.length > 10 ? ', …' : ''})` : ''}, final scale ${scaler.scale}.`);

console.log('\nB. End-to-end emulated float16 mixed precision (weights, activations and every backward tensor stored in float16, float32 master weights):\n');
const results = [train('float32'), train('float16'), train('float16+scaler')];
console.log('| run | weight-grad elements lost to zero (mean over applied steps) | skipped steps | final loss | final scale |');
console.log('|---|---:|---:|---:|---:|');
for (const r of results) console.log(`| ${r.name} | ${(100 * r.zeroedMean).toFixed(2)}% | ${r.skipped} | ${r.finalLoss.toFixed(5)} | ${r.finalScale ?? '–'} |`);
console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ steps: STEPS, shapes: { N, B, D, H, K }, lr: LR, noise: NOISE, partA: { shown, totals, skipped: skippedA }, partB: results }, null, 2) + '\n');

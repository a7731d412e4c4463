/**
 * Testing your own kernel with stable-kernels/testing: the library's
 * extreme-value generators, its FP64 reference and derived bound, and an
 * assertion that reports the worst element. The naive softmax fails; the
 * max-subtracted one passes.   npx tsx examples/test-your-softmax.ts
 */
import fc from 'fast-check';
import { bounds, compareWithAllowed, describeFailure, errorModelFor, generate, matrixArb, reference, widen } from 'stable-kernels/testing';

/** exp(x)/Σexp(x): overflows for logits above ~88 in float32. */
function naiveSoftmax(x: Float32Array, N: number, V: number): Float32Array {
  const y = new Float32Array(N * V);
  for (let r = 0; r < N; r++) {
    let s = 0;
    for (let j = 0; j < V; j++) s = Math.fround(s + Math.fround(Math.exp(x[r * V + j])));
    for (let j = 0; j < V; j++) y[r * V + j] = Math.fround(Math.exp(x[r * V + j])) / s;
  }
  return y;
}

/** The same with the row max subtracted first. */
function stableSoftmax(x: Float32Array, N: number, V: number): Float32Array {
  const y = new Float32Array(N * V);
  for (let r = 0; r < N; r++) {
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, x[r * V + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(x[r * V + j] - m);
    for (let j = 0; j < V; j++) y[r * V + j] = Math.exp(x[r * V + j] - m) / s;
  }
  return y;
}

for (const [name, impl] of [['naive', naiveSoftmax], ['stable', stableSoftmax]] as const) {
  const result = fc.check(
    fc.property(matrixArb({ maxRows: 8, maxCols: 300, specials: false }), ({ N, L: V, spec }) => {
      const x = generate(spec, N, V);
      const ref = reference.softmaxRef(widen(x), N, V);
      // the bound the library's own kernels are held to, for float32 arithmetic with correctly rounded exp
      const bound = bounds.softmaxBound(errorModelFor('webasm'), widen(x), N, V, ref);
      const r = compareWithAllowed(impl(x, N, V), ref, bound.allowed);
      if (!r.ok) throw new Error(describeFailure(`${name} softmax`, r, [N, V], bound.note));
    }),
    { seed: 1, numRuns: 200 },
  );
  if (result.failed) {
    console.log(`${name}: FAILED after ${result.numRuns} runs; smallest failing case ${fc.stringify(result.counterexample)}`);
    console.log((result.errorInstance as Error).message);
  } else console.log(`${name}: passed ${result.numRuns} runs`);
}

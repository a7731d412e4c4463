/**
 * Finding where a NaN comes from: a two-layer MLP whose first weight matrix
 * holds one corrupted value. The forward pass runs under detectAnomalies,
 * which stops at the first kernel whose output is not finite and says whether
 * that kernel created the value or received it.
 *
 *   npx tsx examples/find-nan.ts
 */
import { createDevice, detectAnomalies, gelu, layerNorm, matmul, NonFiniteError, scope, tensor } from 'stable-kernels';
import { Rng } from 'stable-kernels/testing';

const dev = await createDevice({ backend: 'cpu' });
const rng = new Rng(1);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

const x = tensor(randn(4 * 8), [4, 8]); // (N, C)
const w1 = randn(16 * 8); // (16, 8), applied as x·w1ᵀ
w1[3 * 8 + 5] = 3e38; // a corrupted weight, finite but near float32's maximum
const fc = tensor(w1, [16, 8]);
const proj = tensor(randn(8 * 16), [8, 16]);

try {
  await detectAnomalies(async () => {
    const h = await scope('mlp', async () => {
      const a = await scope('fc', () => matmul(dev, x, fc, { transB: true })); // (4, 16)
      const g = await scope('act', () => gelu(dev, a));
      return scope('proj', () => matmul(dev, g, proj, { transB: true })); // (4, 8)
    });
    return scope('ln', () => layerNorm(dev, h, tensor(new Float32Array(8).fill(1)), tensor(new Float32Array(8))));
  });
} catch (e) {
  if (!(e instanceof NonFiniteError)) throw e;
  console.log(e.message);
  console.log(`created here: ${e.details.created}; kernel ${e.details.kernel}, scope ${e.details.scope}, output '${e.details.output}' at [${e.details.multiIndex.join(', ')}]`);
}
await dev.destroy();

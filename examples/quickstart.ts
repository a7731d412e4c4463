/**
 * A first kernel call: softmax, logSumExp and a backward pass, with the edge
 * cases that break naive implementations.   npx tsx examples/quickstart.ts
 */
import { createDevice, logSumExp, softmax, softmaxBackward, tensor } from 'stable-kernels';

const dev = await createDevice({ backend: 'auto' });
console.log(`backend: ${dev.info.backend} on ${dev.info.adapter}`);

const x = tensor([1000, 1000, 0, /* row 2 */ 1e30, 0, -1e30, /* row 3 */ -Infinity, 0, 1], [3, 3]);
const y = await softmax(dev, x);
console.log('softmax  ', (await y.toArray()).map((v) => +v.toPrecision(4)));
console.log('logSumExp', (await (await logSumExp(dev, x)).toArray()).map((v) => +v.toPrecision(7)));

// backward: dL/dx for L = Σ w·softmax(x)
const dx = await softmaxBackward(dev, tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], [3, 3]), y);
console.log('dx       ', (await dx.toArray()).map((v) => +v.toPrecision(4)));
await dev.destroy();

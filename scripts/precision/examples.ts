/**
 * The examples of docs/precision.md, runnable and checked:
 *
 *   npx tsx scripts/precision/examples.ts
 *
 * Each `show(label, value, expected)` prints the value and throws if it is
 * not the expected one, so the documentation cannot drift from the code
 * (test/precision/examples.test.ts runs this file).
 */
import { createDevice } from '../../src/device.js';
import { tensor } from '../../src/tensor.js';
import {
  DynamicLossScaler,
  FORMATS,
  clipGradNorm,
  decode,
  defineFormat,
  encode,
  encodeArray,
  mixedPrecisionPolicy,
  roundArray,
  roundOnDevice,
  roundTensorDataInPlace,
  roundTo,
} from '../../src/precision/index.js';

function show(label: string, value: unknown, expected: unknown): void {
  const a = JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  const b = JSON.stringify(expected, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  console.log(`${label.padEnd(44)} ${a}`);
  if (a !== b) throw new Error(`docs example '${label}': got ${a}, documented ${b}`);
}

export async function runExamples(): Promise<void> {
  // --- formats are data; constants are derived
  show('float16 max, min normal, min subnormal', [FORMATS.float16.maxFinite, FORMATS.float16.minNormal, FORMATS.float16.minSubnormal], [65504, 0.00006103515625, 5.960464477539063e-8]);
  show('e4m3fn max (no Inf)', FORMATS.float8_e4m3fn.maxFinite, 448);
  const e3m4 = defineFormat({ name: 'e3m4', expBits: 3, manBits: 4, hasInf: true });
  show('custom e3m4 max', e3m4.maxFinite, 15.5);

  // --- rounding: once, from the exact float64, ties to even
  show("roundTo('float16', 0.1)", roundTo('float16', 0.1), 0.0999755859375);
  show("roundTo('float16', 1 + 2**-11) (tie → even)", roundTo('float16', 1 + 2 ** -11), 1);
  show("roundTo('float16', 65520) (overflow)", roundTo('float16', 65520), Infinity);
  show("…with { saturate: true }", roundTo('float16', 65520, { saturate: true }), 65504);
  show("roundTo('float16', -1e-30) (keeps −0)", Object.is(roundTo('float16', -1e-30), -0), true);
  show("roundTo('float8_e4m3fn', 1000) (saturates)", roundTo('float8_e4m3fn', 1000), 448);
  // double rounding through float32 gets this one wrong: 1 + 2^-8 + 2^-40 is just above a bfloat16 tie
  const x = 1 + 2 ** -8 + 2 ** -40;
  show("roundTo('bfloat16', x) vs via Math.fround", [roundTo('bfloat16', x), roundTo('bfloat16', Math.fround(x))], [1.0078125, 1]);

  // --- bit patterns and storage arrays
  show("encode('float16', 1), encode('bfloat16', 1)", [encode('float16', 1), encode('bfloat16', 1)], [0x3c00, 0x3f80]);
  show("decode('float16', 0x7bff)", decode('float16', 0x7bff), 65504);
  const bits = encodeArray('bfloat16', new Float32Array([1, -0, NaN]));
  show('encodeArray(bfloat16) → Uint16Array', [bits.constructor.name, ...bits], ['Uint16Array', 0x3f80, 0x8000, 0x7fc0]);
  show("roundArray('float16', Float32Array)", Array.from(roundArray('float16', new Float32Array([0.1, 65520, 1e-8]))), [0.0999755859375, Infinity, 0]);

  // --- mixed precision: storage in bfloat16, accumulation in float32; host and device agree bit for bit
  const policy = mixedPrecisionPolicy({ storage: 'bfloat16' });
  const weights = new Float32Array([0.1, 1 / 3, 1e-40]);
  roundTensorDataInPlace(policy, weights); // the API rounds this array in place
  show('weights after roundTensorDataInPlace', Array.from(weights), [0.10009765625, 0.333984375, 9.183549615799121e-41]);
  const dev = await createDevice({ backend: 'cpu' });
  const onDevice = await roundOnDevice(dev, tensor([0.1, 1 / 3, 1e-40]), policy.storage);
  show('roundOnDevice (cpu backend)', await onDevice.toArray(), Array.from(weights));
  await dev.destroy();

  // --- dynamic loss scaling (PyTorch GradScaler defaults)
  const scaler = new DynamicLossScaler();
  const grads = { w: new Float32Array([65536, -131072]), b: new Float32Array([32768]) }; // gradients of scale·loss
  const step1 = scaler.step(grads, () => {
    /* optimizer.step(grads) — runs only when every gradient is finite */
  });
  show('finite step: unscaled grads, scale kept', [Array.from(grads.w), step1.skipped, scaler.scale], [[1, -2], false, 65536]);
  const step2 = scaler.step({ w: new Float32Array([1, Infinity]) }, () => {
    throw new Error('not called on overflow');
  });
  show('overflow: skipped, culprit, scale halved', [step2.skipped, step2.culprit, scaler.scale], [true, { tensor: 'w', index: 1, value: Infinity }, 32768]);
  show('history entry', scaler.history[1], { step: 1, scale: 65536, newScale: 32768, skipped: true, reason: 'backoff', tensor: 'w', index: 1, value: 'Infinity' });
  const restored = new DynamicLossScaler();
  restored.loadState(JSON.parse(JSON.stringify(scaler.state())));
  show('state() → JSON → loadState()', [restored.scale, restored.stepCount], [32768, 2]);

  // --- gradient clipping (PyTorch clip_grad_norm_), in place
  const g = { w: new Float32Array([3, 4]) };
  const clip = clipGradNorm(g, 1);
  // coef = 1 / (5 + 1e-6), as PyTorch: slightly below 0.6 and 0.8
  show('clipGradNorm({ w: [3, 4] }, 1)', [clip.totalNorm, Array.from(g.w)], [5, [0.5999999046325684, 0.7999998331069946]]);
  const huge = { w: new Float32Array(4).fill(3e38) };
  show('norm of four 3e38 (no overflow)', clipGradNorm(huge, Infinity).totalNorm, 2 * Math.fround(3e38)); // 6.0000000109955115e38
  const bad = { ok: new Float32Array([1]), bad: new Float32Array([0, NaN]) };
  show('non-finite norm names the culprit', clipGradNorm(bad, 1).culprit, 'bad');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runExamples().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

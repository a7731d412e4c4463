/**
 * `stable-kernels trace`: runs one kernel, forward and backward, on generated
 * inputs under the trace recorder (and optionally anomaly mode), and prints
 * the per-call statistics. To trace a whole training run, use
 * `stable-kernels train --trace run.jsonl`.
 */
import { createDevice, type BackendName, type Device } from '../device.js';
import { scope } from '../dispatch.js';
import { ArgumentError } from '../errors.js';
import { attention, attentionBackward } from '../kernels/attention.js';
import { crossEntropy, crossEntropyBackward } from '../kernels/cross-entropy.js';
import { gelu, geluBackward } from '../kernels/gelu.js';
import { layerNorm, layerNormBackward } from '../kernels/layernorm.js';
import { matmul, matmulBackward } from '../kernels/matmul.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../kernels/softmax.js';
import { Tensor } from '../tensor.js';
import { generate, PROFILES, type Profile } from '../testing/values.js';
import { detectAnomalies, FormatOverflowError, NonFiniteError } from '../trace/anomaly.js';
import { TraceRecorder } from '../trace/recorder.js';
import type { FormatLike } from '../precision/formats.js';

export interface TraceArgs {
  kernel: string;
  backend: BackendName | 'auto';
  shape: number[];
  profile: Profile;
  scale: number;
  nan: number;
  inf: number;
  seed: number;
  out?: string;
  anomalies: boolean;
  overflow?: string;
}

type Runner = (d: Device, make: (shape: number[], seedOffset?: number) => Tensor, shape: number[]) => Promise<void>;

/** How each kernel is driven: shapes it takes from --shape, inputs from the generator. */
const RUNNERS: Record<string, { shape: string; run: Runner }> = {
  softmax: {
    shape: 'N,V',
    run: async (d, make, [N, V]) => {
      const y = await softmax(d, make([N, V]));
      await softmaxBackward(d, make([N, V], 1), y);
    },
  },
  logSoftmax: {
    shape: 'N,V',
    run: async (d, make, [N, V]) => {
      const y = await logSoftmax(d, make([N, V]));
      await logSoftmaxBackward(d, make([N, V], 1), y);
    },
  },
  crossEntropy: {
    shape: 'N,V',
    run: async (d, make, [N, V]) => {
      const logits = make([N, V]);
      const targets = Tensor.fromHost(Int32Array.from({ length: N }, (_, i) => (i * 7919) % V), [N]);
      const { lse } = await crossEntropy(d, logits, targets);
      await crossEntropyBackward(d, Tensor.fromHost(Float32Array.of(1), []), logits, targets, lse);
    },
  },
  layerNorm: {
    shape: 'N,C',
    run: async (d, make, [N, C]) => {
      const x = make([N, C]);
      const w = Tensor.fromHost(new Float32Array(C).fill(1), [C]);
      const b = Tensor.fromHost(new Float32Array(C), [C]);
      const r = await layerNorm(d, x, w, b);
      await layerNormBackward(d, make([N, C], 1), x, w, r.mean, r.rstd);
    },
  },
  gelu: {
    shape: 'N',
    run: async (d, make, shape) => {
      const x = make(shape);
      await gelu(d, x);
      await geluBackward(d, make(shape, 1), x);
    },
  },
  matmul: {
    shape: 'M,K,N',
    run: async (d, make, [M, K, N]) => {
      const a = make([M, K]);
      const b = make([K, N], 1);
      await matmul(d, a, b);
      await matmulBackward(d, make([M, N], 2), a, b);
    },
  },
  attention: {
    shape: 'B,NH,T,hs',
    run: async (d, make, [B, NH, T, hs]) => {
      const q = make([B, NH, T, hs]);
      const k = make([B, NH, T, hs], 1);
      const v = make([B, NH, T, hs], 2);
      const r = await attention(d, q, k, v, { causal: true });
      await attentionBackward(d, make([B, NH, T, hs], 3), q, k, v, r.out, r.lse, { causal: true });
    },
  },
};

export const TRACEABLE_KERNELS = Object.keys(RUNNERS);

export async function runTrace(a: TraceArgs, log: (s: string) => void = console.log): Promise<number> {
  const runner = RUNNERS[a.kernel];
  if (!runner) throw new ArgumentError(`trace: unknown kernel '${a.kernel}'; traceable kernels are ${TRACEABLE_KERNELS.join(', ')}`);
  const want = runner.shape.split(',').length;
  if (a.shape.length !== want) throw new ArgumentError(`trace: --shape for ${a.kernel} is ${runner.shape} (${want} numbers), got ${a.shape.join(',')}`);
  if (!PROFILES.includes(a.profile)) throw new ArgumentError(`trace: --values must be one of ${PROFILES.join(', ')}, got '${a.profile}'`);
  const device = await createDevice({ backend: a.backend });
  try {
    const make = (shape: number[], seedOffset = 0) => {
      const n = shape.reduce((x, y) => x * y, 1);
      const last = shape[shape.length - 1];
      return Tensor.fromHost(generate({ seed: a.seed + seedOffset, profile: a.profile, scale: a.scale, nan: a.nan, posInf: a.inf, negInf: a.inf, maskedRow: 0 }, n / last, last), shape);
    };
    log(`${a.kernel} [${a.shape.join(', ')}] on ${device.backend} (${device.info.adapter}); inputs: ${a.profile}, scale ${a.scale}${a.nan || a.inf ? `, NaN ${a.nan}, ±Inf ${a.inf} per element` : ''}`);
    const rec = new TraceRecorder({ file: a.out, inputStats: true });
    const stop = rec.attach();
    let code = 0;
    try {
      const run = () => scope(a.kernel, () => runner.run(device, make, a.shape));
      if (a.anomalies || a.overflow) await detectAnomalies(run, a.overflow ? { overflow: a.overflow as FormatLike } : {});
      else await run();
    } catch (e) {
      if (!(e instanceof NonFiniteError) && !(e instanceof FormatOverflowError)) throw e;
      log(`\nanomaly: ${e.message}\n`);
      code = 1;
    } finally {
      stop();
    }
    log(rec.table());
    if (a.out) log(`\ntrace: ${a.out} (${rec.calls} kernel calls, one JSON line each)`);
    return code;
  } finally {
    await device.destroy();
  }
}

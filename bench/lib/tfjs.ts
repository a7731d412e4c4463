/**
 * The TensorFlow.js peers, as a user would set them up in Node.
 *
 *   tfjs-cpu        @tensorflow/tfjs-backend-cpu (plain JavaScript kernels)
 *   tfjs-wasm-1t    @tensorflow/tfjs-backend-wasm, setThreadsCount(1)
 *   tfjs-wasm-2t    @tensorflow/tfjs-backend-wasm, setThreadsCount(2). In Node
 *                   tfjs-wasm 4.22 never loads its threaded build: the flag
 *                   WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to false when
 *                   IS_NODE (flags_wasm.ts, tfjs issue #3830), so
 *                   getThreadsCount() reports 1 whatever was asked; the
 *                   result records the count it reports. bench/peers/
 *                   tfjs-wasm-threads.ts shows what forcing the threaded
 *                   build does.
 *   tfjs-webgpu     @tensorflow/tfjs-backend-webgpu on the same dawn adapter
 *                   as our webgpu backend (navigator.gpu installed by
 *                   src/backends/webgpu-node.ts).
 *
 * Synchronisation (`finish`): the cpu and wasm backends run each op to
 * completion inside the call, so the outputs exist when it returns. tfjs-webgpu
 * records commands into an open compute pass and submits lazily: finish ends
 * the pass and submits the encoder (as tfjs does before a readback) and waits
 * for `device.queue.onSubmittedWorkDone()`, as ours does.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tfc from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

export type Finish = (outs: tfc.Tensor[]) => Promise<void>;
export type TfjsPeer = 'tfjs-cpu' | 'tfjs-wasm-1t' | 'tfjs-wasm-2t' | 'tfjs-webgpu';
export const TFJS_PEERS: readonly TfjsPeer[] = ['tfjs-cpu', 'tfjs-wasm-1t', 'tfjs-wasm-2t', 'tfjs-webgpu'];

export interface TfjsSetup {
  tf: typeof tfc;
  finish: Finish;
  /** What it runs on: backend, threads reported, adapter. */
  detail: string;
  threads: number;
}

interface WebGpuBackendLike {
  device: { queue: { onSubmittedWorkDone(): Promise<void> } };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export async function loadTfjs(peer: TfjsPeer): Promise<TfjsSetup> {
  const tf = (await import('@tensorflow/tfjs-core')) as typeof tfc;
  const noWait: Finish = async () => {};
  if (peer === 'tfjs-cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    await tf.ready();
    return { tf, finish: noWait, detail: 'tfjs-backend-cpu 4.22 (JavaScript)', threads: 1 };
  }
  if (peer === 'tfjs-wasm-1t' || peer === 'tfjs-wasm-2t') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(dir + path.sep);
    const asked = peer === 'tfjs-wasm-2t' ? 2 : 1;
    wasm.setThreadsCount(asked);
    if (!(await tf.setBackend('wasm'))) throw new Error(`${peer}: tf.setBackend('wasm') failed`);
    await tf.ready();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    const threads = wasm.getThreadsCount();
    return {
      tf,
      finish: noWait,
      detail: `tfjs-backend-wasm 4.22, ${simd ? 'SIMD' : 'no SIMD'}, setThreadsCount(${asked}) → getThreadsCount() = ${threads} (WASM_HAS_MULTITHREAD_SUPPORT = ${String(mt)} in Node)`,
      threads,
    };
  }
  // tfjs-webgpu on the dawn adapter our webgpu backend uses
  const { installWebGpu } = await import('../../src/backends/webgpu-node.js');
  const probe = await installWebGpu();
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error(`tfjs-webgpu: tf.setBackend('webgpu') failed on ${probe.info.adapter}`);
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  // what tfjs-webgpu itself does before a readback (getBufferData): close the
  // open compute pass, submit the command encoder, then wait for the queue
  const finish: Finish = async () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await backend.device.queue.onSubmittedWorkDone();
  };
  return { tf, finish, detail: `tfjs-backend-webgpu 4.22 on ${probe.info.adapter} via ${probe.info.api}${probe.info.software ? ' (software)' : ''}`, threads: 1 };
}

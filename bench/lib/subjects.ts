/**
 * Who is benchmarked. Each subject runs in its own process (bench/worker.ts):
 * dawn (EGL) and headless-gl (GLX) cannot share one, tfjs backends are
 * process-wide, and a fresh process per subject keeps one subject's JIT and
 * heap state from colouring another's timings.
 *
 * Ours (the library through its public kernel functions and the dispatcher):
 *   webgpu       gpu.js WGSL through dawn (llvmpipe here); timed resident and with upload + readback
 *   headlessgl   gpu.js GLSL through headless-gl (under Xvfb); host arrays in and out
 *   webasm       gpu.js WebAssembly, synchronous (1 thread)
 *   webasm-2t    gpu.js WebAssembly split over 2 worker threads
 *   cpu          gpu.js transpiled JavaScript
 *   reference    the FP64 reference kernels
 *   wasm, wasm-2t the hand-written WebAssembly SIMD backend, once createDevice accepts 'wasm'
 * Peers: tfjs-cpu, tfjs-wasm-1t, tfjs-wasm-2t, tfjs-webgpu (see tfjs.ts) and
 * ts-loop, straightforward TypeScript loops.
 */
import { BACKENDS, createDevice, type BackendName, type Device } from '../../src/device.js';
import { loadGpuJs } from '../../src/backends/gpujs.js';
import { errorModelFor, type ErrorModel } from '../../src/kernels/bounds.js';
import type { BenchCase, OursContext, Runner } from './case.js';
import { type Finish, type TfjsPeer, TFJS_PEERS, loadTfjs } from './tfjs.js';
import type { SubjectInfo, Variant } from './results.js';

export const OURS = ['webgpu', 'headlessgl', 'webasm', 'webasm-2t', 'cpu', 'reference', 'wasm', 'wasm-2t'] as const;
export const PEERS = [...TFJS_PEERS, 'ts-loop'] as const;
export const SUBJECTS: readonly string[] = [...OURS, ...PEERS];

export type OursId = (typeof OURS)[number];

/** A subject ready to run cases in this process. */
export interface Subject {
  info: SubjectInfo;
  /** Error model its outputs are checked under. */
  model: ErrorModel;
  /** tfjs-webgpu's and ours' GPU sync; a no-op elsewhere (used by the case files' tfjs runners). */
  finish: Finish;
  /** The runners of one case, by variant; empty when the subject cannot run it (with the reason). */
  runners(c: BenchCase): Promise<{ variants: Partial<Record<Variant, Runner>>; missing?: string }>;
  close(): Promise<void>;
}

interface WebGpuContextLike {
  acquire(): Promise<{ device: { queue: { onSubmittedWorkDone(): Promise<void> } } }>;
}

function oursBackend(id: OursId): { backend: string; threads: number } {
  if (id === 'webasm-2t') return { backend: 'webasm', threads: 2 };
  if (id === 'wasm-2t') return { backend: 'wasm', threads: 2 };
  return { backend: id, threads: 1 };
}

const noFinish: Finish = async () => {};

async function oursSubject(id: OursId): Promise<Subject> {
  const { backend, threads } = oursBackend(id);
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    return unavailable(id, 'ours', `createDevice does not accept '${backend}' yet (BACKENDS = ${BACKENDS.join(', ')}); src/backends/wasm/ is not wired in`);
  }
  let device: Device;
  try {
    device = await createDevice({ backend: backend as BackendName, threads });
  } catch (e) {
    return unavailable(id, 'ours', (e as Error).message);
  }
  let sync = async () => {};
  if (device.backend === 'webgpu') {
    const ctx = (loadGpuJs().WebGPUContext as unknown as WebGpuContextLike).acquire();
    sync = async () => (await ctx).device.queue.onSubmittedWorkDone();
  }
  const i = device.info;
  const label =
    id === 'reference'
      ? 'reference (FP64 TypeScript)'
      : `${id} (${device.family === 'gpujs' ? 'gpu.js ' : ''}${i.backend}${i.threads > 1 ? `, ${i.threads} worker threads` : ''})`;
  return {
    info: { id, kind: 'ours', label, available: true, detail: `${i.adapter}${i.software ? ' (software)' : ''}; ${i.precision}; threads ${i.threads}` },
    model: errorModelFor(device.backend),
    finish: noFinish,
    async runners(c) {
      if (!c.ours) return { variants: {}, missing: c.oursMissing ?? 'no library kernel for this case' };
      if (device.backend === 'webgpu' && !c.ownsData) {
        const resident: OursContext = { device, resident: true, sync };
        const io: OursContext = { device, resident: false, sync };
        return { variants: { resident: await c.ours(resident), io: await c.ours(io) } };
      }
      return { variants: { host: await c.ours({ device, resident: true, sync }) } };
    },
    async close() {
      await device.destroy();
    },
  };
}

async function tfjsSubject(peer: TfjsPeer): Promise<Subject> {
  let setup: Awaited<ReturnType<typeof loadTfjs>>;
  try {
    setup = await loadTfjs(peer);
  } catch (e) {
    return unavailable(peer, 'peer', `${(e as Error).message}`);
  }
  const { tf, finish } = setup;
  const gpu = peer === 'tfjs-webgpu';
  return {
    info: { id: peer, kind: 'peer', label: peer, available: true, detail: setup.detail },
    // checked under the loosest float32 promise: peers are compared, not gated
    model: errorModelFor('webgpu'),
    finish,
    async runners(c) {
      if (!c.tfjs) return { variants: {}, missing: 'no tfjs formulation' };
      const build = (): Runner => c.tfjs!(tf);
      const main = build();
      if (!gpu) return { variants: { host: main } };
      // upload + readback: fresh tensors from the host arrays, every output read back
      const io: Runner = {
        once: () => main.once(),
        async timed() {
          const r = build();
          await r.once();
          await r.dispose?.();
        },
      };
      return { variants: { resident: main, io } };
    },
    async close() {
      tf.disposeVariables();
      tf.engine().reset();
    },
  };
}

function loopSubject(): Subject {
  return {
    info: { id: 'ts-loop', kind: 'peer', label: 'ts-loop (straightforward TypeScript loops)', available: true, detail: `Node ${process.version}, 1 thread, float64 arithmetic over Float32Array storage` },
    model: errorModelFor('cpu'),
    finish: noFinish,
    async runners(c) {
      if (!c.loop) return { variants: {}, missing: 'no loop baseline' };
      return { variants: { host: c.loop() } };
    },
    async close() {},
  };
}

function unavailable(id: string, kind: 'ours' | 'peer', detail: string): Subject {
  return {
    info: { id, kind, label: id, available: false, detail },
    model: errorModelFor(id),
    finish: noFinish,
    async runners() {
      return { variants: {}, missing: detail };
    },
    async close() {},
  };
}

export async function openSubject(id: string): Promise<Subject> {
  if ((OURS as readonly string[]).includes(id)) return oursSubject(id as OursId);
  if ((TFJS_PEERS as readonly string[]).includes(id)) return tfjsSubject(id as TfjsPeer);
  if (id === 'ts-loop') return loopSubject();
  throw new Error(`unknown subject '${id}'; expected one of ${SUBJECTS.join(', ')}`);
}

/**
 * The one dispatch point. Every kernel call, forward and backward, on every
 * backend, goes through `runKernel`: the registry picks the implementation,
 * and the hooks (tracing, NaN scans, profiling) see the call. Nothing else in
 * the library calls a kernel implementation directly.
 *
 * With no hook attached `runKernel` is a map lookup and a call: the cost is
 * measured in bench/dispatch.bench.ts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ArgumentError } from './errors.js';
import type { BackendFamily, BackendName, Device } from './device.js';
import type { Tensor } from './tensor.js';

export type Phase = 'forward' | 'backward';
export type Inputs = Record<string, Tensor>;
export type Outputs = Record<string, Tensor>;

/** An implementation of one kernel phase on one backend. */
export type KernelImpl<A = unknown> = (device: Device, inputs: Inputs, attrs: A) => Promise<Outputs> | Outputs;

export interface KernelRegistration<A = unknown> {
  /** Kernel name, e.g. 'softmax'. */
  kernel: string;
  phase: Phase;
  /** A backend name (wins) or a backend family. */
  backend: BackendName | BackendFamily;
  impl: KernelImpl<A>;
}

const registry = new Map<string, KernelImpl<never>>();
const regKey = (kernel: string, phase: Phase, backend: string) => `${kernel}\u0000${phase}\u0000${backend}`;

/**
 * Registers (or replaces) an implementation. Returns a function that restores
 * what was registered before. Public, so users can plug in their own kernels
 * and so the test suite can prove it catches deliberately broken ones.
 *
 * @example
 * // wrap the cpu backend's softmax with a log line; the returned function restores the previous one
 * const previous = implementationOf(dev, 'softmax', 'forward');
 * const restore = registerKernel({ kernel: 'softmax', phase: 'forward', backend: 'cpu', impl: (d, inputs, attrs) => {
 *   console.log('softmax', inputs.x.shape);
 *   return previous(d, inputs, attrs);
 * } });
 * restore();
 */
export function registerKernel<A>(reg: KernelRegistration<A>): () => void {
  const key = regKey(reg.kernel, reg.phase, reg.backend);
  const previous = registry.get(key);
  registry.set(key, reg.impl as KernelImpl<never>);
  return () => {
    if (previous) registry.set(key, previous);
    else registry.delete(key);
  };
}

/** Names of kernels with a registered implementation for the given phase on some backend.
 *
 * @example
 * registeredKernels().filter((r) => r.kernel === 'softmax'); // [{ kernel: 'softmax', phase: 'forward', backend: 'reference' }, …]
 */
export function registeredKernels(): { kernel: string; phase: Phase; backend: string }[] {
  return [...registry.keys()].map((k) => {
    const [kernel, phase, backend] = k.split('\u0000');
    return { kernel, phase: phase as Phase, backend };
  });
}

/** Where an implementation is looked for: the backend, its family, then the family it falls back to. */
const FALLBACK: Partial<Record<BackendFamily, BackendFamily>> = { wasm: 'gpujs' };

function lookup(device: Device, kernel: string, phase: Phase): KernelImpl<unknown> {
  let impl = registry.get(regKey(kernel, phase, device.backend)) ?? registry.get(regKey(kernel, phase, device.family));
  const fallback = FALLBACK[device.family];
  if (!impl && fallback) impl = registry.get(regKey(kernel, phase, fallback));
  if (!impl) throw new ArgumentError(`no ${phase} implementation of kernel '${kernel}' for backend '${device.backend}'`);
  return impl as KernelImpl<unknown>;
}

/**
 * The implementation `runKernel` would call for this device (no hooks).
 * Useful to wrap a kernel: register a new implementation that calls the
 * previous one (tests use it to plant faults in a real kernel's output).
 *
 * @example
 * const real = implementationOf(dev, 'gelu', 'forward'); // the function runKernel would call
 */
export function implementationOf(device: Device, kernel: string, phase: Phase): KernelImpl<unknown> {
  return lookup(device, kernel, phase);
}

/** What a hook sees for one kernel call. */
export interface KernelEvent {
  kernel: string;
  phase: Phase;
  /** Enclosing scope path set with `scope()`, e.g. 'h.3.attn' ('' at top level). */
  scope: string;
  /** scope + kernel, e.g. 'h.3.attn.softmax'. */
  path: string;
  device: Device;
  inputs: Inputs;
  outputs: Outputs;
  attrs: unknown;
  /** Wall time of the call in milliseconds (resident outputs may still be in flight on a GPU). */
  ms: number;
  /** Index of this call since the process started. */
  seq: number;
}

export type Hook = (event: KernelEvent) => void | Promise<void>;

const hooks: Hook[] = [];
let seq = 0;

/** Attaches a hook that runs after every kernel call. Returns its remover.
 *
 * @example
 * const remove = addHook((e) => console.log(e.path, e.phase, e.ms.toFixed(2), 'ms'));
 * await softmax(dev, x); // prints 'softmax forward 0.12 ms'
 * remove();
 */
export function addHook(hook: Hook): () => void {
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}

export function hookCount(): number {
  return hooks.length;
}

const scopeStore = new AsyncLocalStorage<string>();

/** The current scope path ('' at top level).
 *
 * @example
 * await scope('encoder', async () => currentScope()); // 'encoder'
 */
export function currentScope(): string {
  return scopeStore.getStore() ?? '';
}

/**
 * Runs `fn` with `name` appended to the scope path, so kernel calls inside it
 * are reported as e.g. 'h.3.attn.softmax'. Works across awaits.
 *
 * @example
 * await scope('h', () => scope(3, () => softmax(dev, x))); // hooks see path 'h.3.softmax'
 */
export function scope<R>(name: string | number, fn: () => R): R {
  const parent = currentScope();
  return scopeStore.run(parent ? `${parent}.${name}` : String(name), fn);
}

/** Calls a kernel through the registry. The single dispatch point.
 *
 * @example
 * const { y } = await runKernel(dev, 'softmax', 'forward', { x }, { N: 2, V: 3, shape: [2, 3] });
 */
export async function runKernel<A>(device: Device, kernel: string, phase: Phase, inputs: Inputs, attrs: A): Promise<Outputs> {
  const impl = lookup(device, kernel, phase);
  if (hooks.length === 0) return impl(device, inputs, attrs);
  const t0 = performance.now();
  const outputs = await impl(device, inputs, attrs);
  const ms = performance.now() - t0;
  const s = currentScope();
  const event: KernelEvent = {
    kernel,
    phase,
    scope: s,
    path: s ? `${s}.${kernel}` : kernel,
    device,
    inputs,
    outputs,
    attrs,
    ms,
    seq: seq++,
  };
  // a snapshot: a hook that removes itself does not skip the next one
  for (const h of hooks.slice()) await h(event);
  return outputs;
}

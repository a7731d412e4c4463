/**
 * One way to get a compute device.
 *
 *   const dev = await createDevice({ backend: 'auto' });
 *   console.log(dev.info); // { backend: 'webgpu', adapter: 'llvmpipe ...', software: true, ... }
 *
 * Backends:
 *   - `webgpu`     gpu.js WGSL compute shaders through dawn.node: a real GPU via Vulkan,
 *                  or Mesa llvmpipe through dawn's OpenGL backend on machines without one.
 *   - `headlessgl` gpu.js GLSL fragment shaders through the `gl` package (needs an X display).
 *   - `webasm`     gpu.js WebAssembly SIMD; `threads > 1` splits kernels over worker threads.
 *   - `cpu`        gpu.js transpiled JavaScript.
 *   - `wasm`       hand-written WebAssembly SIMD kernels on worker threads (src/backends/wasm),
 *                  the CPU fast path; kernels without a SIMD version run on gpu.js's cpu mode.
 *   - `reference`  the FP64 reference kernels (plain TypeScript over Float64Array).
 *   - `auto`       a hardware WebGPU adapter when there is one, else the fastest
 *                  backend that works here; `info.reason` says why it was chosen.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { ArgumentError, BackendUnavailableError, checkOptions } from './errors.js';
import { GpuJsRuntime, loadGpuJs, type GpuJsMode } from './backends/gpujs.js';
import { installWebGpu } from './backends/webgpu-node.js';
import { WasmRuntime } from './backends/wasm/runtime.js';
import { Tensor } from './tensor.js';

const require = createRequire(import.meta.url);

export const BACKENDS = ['webgpu', 'headlessgl', 'webasm', 'cpu', 'wasm', 'reference'] as const;
export type BackendName = (typeof BACKENDS)[number];
/**
 * Implementations are registered per family; gpu.js modes share one source.
 * The wasm family falls back to gpu.js (cpu mode) for kernels it has no
 * WebAssembly version of.
 */
export type BackendFamily = 'gpujs' | 'reference' | 'wasm';

export interface DeviceInfo {
  backend: BackendName;
  family: BackendFamily;
  /** What the computation runs on: the WebGPU adapter, the GL renderer, or the CPU. */
  adapter: string;
  /** True when the "GPU" is a CPU rasteriser (llvmpipe, SwiftShader) or the backend runs on the CPU. */
  software: boolean;
  /** Arithmetic precision of the kernels. */
  precision: 'float32' | 'float64';
  /** Worker threads the backend uses (1 = the calling thread). */
  threads: number;
  /**
   * True where subnormal floats are flushed to zero (GL fragment shaders);
   * the error bounds then allow an absolute error of a few FLT_MIN.
   */
  flushesSubnormals: boolean;
  /** Why this backend was chosen (for `auto`), or 'requested'. */
  reason: string;
}

export interface DeviceOptions {
  backend?: BackendName | 'auto';
  /** Worker threads: webasm (default 1, synchronous) and wasm (default: the machine's cores, at most 8). */
  threads?: number;
}

export class Device {
  readonly info: DeviceInfo;
  /** The gpu.js runtime for gpu.js backends (cpu mode on the wasm device, for its fallback kernels). */
  readonly gpujs: GpuJsRuntime | undefined;
  /** The WebAssembly SIMD runtime of the wasm device. */
  readonly wasm: WasmRuntime | undefined;
  #destroyed = false;

  constructor(info: DeviceInfo, gpujs?: GpuJsRuntime, wasm?: WasmRuntime) {
    this.info = Object.freeze({ ...info });
    this.gpujs = gpujs;
    this.wasm = wasm;
  }

  get backend(): BackendName {
    return this.info.backend;
  }

  get family(): BackendFamily {
    return this.info.family;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Copies a host tensor to the memory the backend's kernels read in place:
   * a WebGPU buffer (webgpu), the WebAssembly heap (wasm; freed on dispose);
   * elsewhere the tensor itself (as float64 on the reference device).
   */
  async upload(t: Tensor): Promise<Tensor> {
    this.#checkAlive();
    if (this.family === 'reference') {
      return t.dtype === 'float64' ? t : Tensor.fromHost(Float64Array.from(t.data), t.shape);
    }
    if (this.wasm && t.hostData && t.dtype !== 'int32' && t.size > 0) {
      const rt = this.wasm;
      const view = rt.alloc(t.size);
      view.set(t.hostData);
      return Tensor.fromHost(view, t.shape, 'upload', () => rt.free(view));
    }
    return this.gpujs!.upload(t);
  }

  /** Frees the device. Safe to call twice. The process can exit afterwards. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.wasm) await this.wasm.destroy();
    if (this.gpujs) {
      await this.gpujs.destroy();
      if (this.backend === 'webgpu') await releaseWebGpu();
    }
  }

  toString(): string {
    const i = this.info;
    return `${i.backend} on ${i.adapter}${i.software ? ' (software)' : ''}`;
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new ArgumentError(`device ${this} has been destroyed`);
  }
}

let webgpuUsers = 0;

/**
 * dawn's OpenGL backend (EGL) and headless-gl (ANGLE over GLX) cannot share a
 * process: once one has made a context current, the other's MakeCurrent fails
 * with an X BadAccess error that kills the process. Measured on Mesa 22.3 with
 * both orders. So a process uses one of them; the test suite runs each backend
 * in its own worker.
 */
let glStack: 'dawn' | 'headless-gl' | undefined;
function claimGlStack(want: 'dawn' | 'headless-gl', backend: BackendName): void {
  if (glStack && glStack !== want) {
    throw new BackendUnavailableError(
      backend,
      `${backend}: this process already uses ${glStack === 'dawn' ? 'webgpu (dawn over EGL)' : 'headlessgl (headless-gl over GLX)'}, ` +
        'and the two GL stacks cannot share a process (the second context fails with an X BadAccess error). Use the other backend in a separate process.',
    );
  }
  glStack = want;
}
async function releaseWebGpu(): Promise<void> {
  webgpuUsers--;
  if (webgpuUsers === 0) {
    // the WebGPU device is a process-wide singleton in gpu.js; destroying it
    // lets dawn stop its event loop so Node can exit
    await loadGpuJs().WebGPUContext.destroy();
  }
}

function cpuName(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model?.trim() ?? 'CPU'} × ${cpus.length}`;
}

async function createGpuJs(mode: GpuJsMode, threads: number, reason: string): Promise<Device> {
  const { GPU } = loadGpuJs();
  let adapter = cpuName();
  let software = true;
  let flushesSubnormals = false;
  if (mode === 'webgpu') {
    claimGlStack('dawn', mode);
    const probe = await installWebGpu();
    const ok = await GPU.isWebGPUAvailable();
    if (!ok) throw new BackendUnavailableError('webgpu', 'webgpu: an adapter was found but gpu.js could not acquire a device');
    adapter = `${probe.info.adapter} via ${probe.info.api}`;
    software = probe.info.software;
    webgpuUsers++;
  } else if (mode === 'headlessgl') {
    claimGlStack('headless-gl', mode);
    if (!GPU.isHeadlessGLSupported) throw headlessGlMissing();
    adapter = headlessGlRenderer();
    software = /llvmpipe|swiftshader|software/i.test(adapter);
    // GLSL ES fragment shaders on Mesa and ANGLE flush subnormals to zero (measured: 1e-45 * 1 = 0)
    flushesSubnormals = true;
  } else if (mode === 'webasm') {
    if (!GPU.isWebAssemblySupported) throw new BackendUnavailableError('webasm', 'webasm: WebAssembly SIMD is not supported by this Node.js');
  }
  const runtime = new GpuJsRuntime(mode, { threads });
  const info: DeviceInfo = {
    backend: mode,
    family: 'gpujs',
    adapter,
    software,
    precision: 'float32',
    threads: mode === 'webasm' ? threads : 1,
    flushesSubnormals,
    reason,
  };
  return new Device(info, runtime);
}

function headlessGlMissing(): BackendUnavailableError {
  let hasGl = true;
  try {
    require('gl');
  } catch {
    hasGl = false;
  }
  return new BackendUnavailableError('headlessgl', headlessGlMissingMessage(hasGl));
}

function headlessGlMissingMessage(hasGl: boolean): string {
  if (!hasGl) {
    return (
      "headlessgl: the optional 'gl' package is not installed or failed to build. It builds from source: " +
      '`apt-get install -y libxi-dev libxext-dev libx11-dev python3 make g++` then `npm install gl@8.1.6` (about 3 minutes).'
    );
  }
  return (
    `headlessgl: 'gl' is installed but could not create a context${process.env.DISPLAY ? ` on DISPLAY=${process.env.DISPLAY}` : ' (no DISPLAY is set)'}. ` +
    'It needs an X display: run under `xvfb-run -a` (apt-get install -y xvfb).'
  );
}

function headlessGlRenderer(): string {
  try {
    const gl = require('gl')(1, 1) as WebGLRenderingContextLike | null;
    if (!gl) return 'headless-gl';
    const name = `${gl.getParameter(gl.RENDERER)} (${gl.getParameter(gl.VERSION)})`;
    gl.getExtension('STACKGL_destroy_context')?.destroy();
    return name;
  } catch {
    return 'headless-gl';
  }
}

interface WebGLRenderingContextLike {
  RENDERER: number;
  VERSION: number;
  getParameter(p: number): string;
  getExtension(name: string): { destroy(): void } | null;
}

/**
 * Creates a device. Throws `BackendUnavailableError` with what is missing and
 * how to get it when the requested backend cannot start.
 *
 * @example
 * const dev = await createDevice({ backend: 'auto' });
 * console.log(dev.info.backend, dev.info.adapter, dev.info.reason);
 * await dev.destroy();
 */
export async function createDevice(options: DeviceOptions = {}): Promise<Device> {
  checkOptions('createDevice', options, ['backend', 'threads']);
  const backend = options.backend ?? 'auto';
  if (backend !== 'auto' && !(BACKENDS as readonly string[]).includes(backend)) {
    throw new ArgumentError(`createDevice: unknown backend '${backend}'; expected one of 'auto', ${BACKENDS.map((b) => `'${b}'`).join(', ')}`);
  }
  const threads = options.threads ?? 1;
  if (options.threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new ArgumentError(`createDevice: 'threads' must be a positive integer, got ${String(options.threads)}`);
  }
  if (backend === 'reference') {
    return new Device({
      backend: 'reference',
      family: 'reference',
      adapter: `${cpuName()} (FP64 TypeScript)`,
      software: true,
      precision: 'float64',
      threads: 1,
      flushesSubnormals: false,
      reason: 'requested',
    });
  }
  if (backend === 'wasm') return createWasm(options.threads, 'requested');
  if (backend !== 'auto') return createGpuJs(backend, threads, 'requested');
  return createAuto(options.threads);
}

async function createAuto(threads: number | undefined): Promise<Device> {
  const notes: string[] = [];
  // Look for a hardware adapter in a child process first: dawn prints its
  // driver search to stderr, which would otherwise land in every program
  // that merely asked for the best device on a machine without a GPU.
  const hw = hardwareAdapterInChild();
  if (hw.found) {
    try {
      claimGlStack('dawn', 'webgpu');
      const probe = await installWebGpu();
      if (!probe.info.software) return createGpuJs('webgpu', threads ?? 1, `hardware WebGPU adapter ${probe.info.adapter}`);
      notes.push(`the only WebGPU adapter is a software one (${probe.info.adapter})`);
    } catch (e) {
      notes.push((e as Error).message);
    }
  } else {
    notes.push(hw.detail);
  }
  // Without a GPU the hand-written WebAssembly SIMD kernels are the fastest
  // backend here (bench/RESULTS.md: several times every gpu.js mode, the
  // software WebGPU adapter included).
  try {
    return await createWasm(threads, `no hardware GPU (${notes.join('; ')}): the WebAssembly SIMD backend is the fastest here`);
  } catch (e) {
    notes.push((e as Error).message);
  }
  return createGpuJs('webasm', threads ?? 1, `no hardware GPU and no WebAssembly threads: ${notes.join('; ')}`);
}

async function createWasm(threads: number | undefined, reason: string): Promise<Device> {
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object' || typeof SharedArrayBuffer !== 'function') {
    throw new BackendUnavailableError('wasm', 'wasm: this JavaScript engine has no WebAssembly threads (SharedArrayBuffer); Node.js 20 or later has them');
  }
  // the SIMD kernels register themselves (and the backend's error model) when first needed
  await import('./backends/wasm/register.js');
  const rt = await WasmRuntime.create(threads !== undefined ? { threads } : {});
  const fallback = new GpuJsRuntime('cpu');
  const info: DeviceInfo = {
    backend: 'wasm',
    family: 'wasm',
    adapter: `${cpuName()} (WebAssembly SIMD, ${rt.threads} thread${rt.threads === 1 ? '' : 's'})`,
    software: true,
    precision: 'float32',
    threads: rt.threads,
    flushesSubnormals: false,
    reason,
  };
  return new Device(info, fallback, rt);
}

/** What `probeBackends` found for one backend. */
export interface BackendProbe {
  backend: BackendName;
  available: boolean;
  /** The device's description when available, else why it is not. */
  detail: string;
}

/**
 * Tries every backend and reports which start here and why others do not.
 * Devices created to probe are destroyed before returning.
 *
 * @example
 * for (const p of await probeBackends()) console.log(p.backend, p.available ? 'runs' : 'skipped', p.detail);
 */
export async function probeBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const backend of BACKENDS) {
    if (backend === 'headlessgl' && glStack !== 'headless-gl') {
      out.push(probeHeadlessGlInChild());
      continue;
    }
    try {
      const d = await createDevice({ backend });
      out.push({ backend, available: true, detail: d.info.adapter + (d.info.software ? ' (software)' : '') });
      await d.destroy();
    } catch (e) {
      out.push({ backend, available: false, detail: (e as Error).message });
    }
  }
  return out;
}

/** Whether dawn's default backends (Vulkan, Metal, D3D12) find a hardware adapter, asked in a child process. */
function hardwareAdapterInChild(): { found: boolean; detail: string } {
  const script = `
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const { create } = await import('webgpu');
    const a = await create([]).requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
    const info = a ? a.info : null;
    const name = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') : '';
    const soft = info ? (info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|software/i.test(name)) : true;
    process.stdout.write(JSON.stringify({ found: !!a && !soft, name }));
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: packageRoot(), encoding: 'utf8', timeout: 60_000 });
  try {
    const res = JSON.parse(r.stdout) as { found: boolean; name: string };
    return { found: res.found, detail: res.found ? res.name : 'no hardware WebGPU adapter (dawn found no Vulkan device)' };
  } catch {
    return { found: false, detail: `the WebGPU probe failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  }
}

/** headless-gl probed in a child process, so this process stays free to use webgpu. */
function probeHeadlessGlInChild(): BackendProbe {
  const script = `
    const { GPU } = require('gpu.js');
    let renderer = 'headless-gl';
    try { const gl = require('gl')(1, 1); renderer = gl.getParameter(gl.RENDERER) + ' (' + gl.getParameter(gl.VERSION) + ')'; } catch (e) {}
    let hasGl = true; try { require.resolve('gl'); } catch (e) { hasGl = false; }
    process.stdout.write(JSON.stringify({ ok: GPU.isHeadlessGLSupported, renderer, hasGl }));`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: packageRoot(), encoding: 'utf8', timeout: 60_000 });
  try {
    const res = JSON.parse(r.stdout) as { ok: boolean; renderer: string; hasGl: boolean };
    if (res.ok) return { backend: 'headlessgl', available: true, detail: `${res.renderer} (software)` };
    return { backend: 'headlessgl', available: false, detail: headlessGlMissingMessage(res.hasGl) };
  } catch {
    return { backend: 'headlessgl', available: false, detail: `headlessgl: probe process failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}` };
  }
}

function packageRoot(): string {
  return fileURLToPath(new URL('..', import.meta.url));
}

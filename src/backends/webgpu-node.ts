/**
 * Gives gpu.js a WebGPU adapter in Node through dawn.node (the `webgpu` package).
 *
 * gpu.js looks for `navigator.gpu` and calls `requestAdapter()` with no
 * options. Node has no `navigator`, so we install one whose `gpu` is a dawn
 * instance. Order of preference:
 *   1. dawn's default backends (Vulkan on Linux): a real GPU when a driver is there;
 *   2. dawn's OpenGL backend with EGL_PLATFORM=surfaceless and
 *      featureLevel 'compatibility': works on Mesa llvmpipe, a software
 *      rasteriser, so the WebGPU path runs (slowly) on machines with no GPU.
 * The shim's `requestAdapter` adds the options the chosen backend needs.
 */
import { BackendUnavailableError } from '../errors.js';

export interface WebGpuAdapterInfo {
  /** Human-readable adapter name, e.g. "llvmpipe (OpenGL 4.5 Mesa 22.3.6)". */
  adapter: string;
  /** True for CPU rasterisers (llvmpipe, lavapipe, SwiftShader, WARP) and fallback adapters. */
  software: boolean;
  /** 'vulkan' | 'opengl' | ... as dawn reports it. */
  api: string;
  vendor: string;
}

interface Probe {
  info: WebGpuAdapterInfo;
}

let probe: Promise<Probe> | undefined;

const SOFTWARE_PATTERNS = /llvmpipe|lavapipe|softpipe|swiftshader|warp|basic render|software/i;

function describe(adapter: GPUAdapter, api: string): WebGpuAdapterInfo {
  const info = adapter.info;
  const parts = [info.device, info.description].filter((s) => s && s.length > 0);
  const name = parts.length > 0 ? parts.join(' / ') : `${info.vendor || 'unknown vendor'} ${info.architecture || ''}`.trim();
  const software = Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter) || SOFTWARE_PATTERNS.test(`${info.device} ${info.description} ${info.vendor}`);
  return { adapter: name, software, api, vendor: info.vendor };
}

/** Installs `navigator.gpu` backed by dawn and reports the adapter it found. Cached. */
export function installWebGpu(): Promise<Probe> {
  if (!probe) {
    probe = doInstall();
    probe.catch(() => {
      probe = undefined;
    });
  }
  return probe;
}

async function doInstall(): Promise<Probe> {
  // EGL reads this when dawn's OpenGL backend opens a display; it must be set
  // before the first instance is created.
  if (process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = 'surfaceless';
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    throw new BackendUnavailableError(
      'webgpu',
      `webgpu: the 'webgpu' package (dawn.node) could not be loaded: ${(e as Error).message}. ` +
        `Install it with \`npm install webgpu@0.3.10\` (0.2.9, which gpu.js pins, needs GLIBCXX_3.4.32; pin 0.3.10 with an npm "overrides" entry).`,
    );
  }
  Object.assign(globalThis, mod.globals);

  const attempts: string[] = [];
  // 1. default backends: a hardware adapter if there is one
  const defaultGpu = mod.create([]);
  const hw = await defaultGpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  let chosen: { gpu: GPU; options: GPURequestAdapterOptions; adapter: GPUAdapter; api: string } | undefined;
  if (hw) {
    chosen = { gpu: defaultGpu, options: { powerPreference: 'high-performance' }, adapter: hw, api: 'default' };
  } else {
    attempts.push('dawn default backends (Vulkan): no adapter (no Vulkan driver or loader found)');
    // 2. OpenGL on whatever EGL gives (Mesa llvmpipe on a machine without a GPU)
    const glGpu = mod.create(['backend=opengl']);
    const options: GPURequestAdapterOptions = { featureLevel: 'compatibility' } as GPURequestAdapterOptions;
    const gl = await glGpu.requestAdapter(options).catch(() => null);
    if (gl) chosen = { gpu: glGpu, options, adapter: gl, api: 'opengl' };
    else attempts.push('dawn OpenGL backend (EGL surfaceless): no adapter (Mesa EGL/GL libraries missing?)');
  }
  if (!chosen) {
    throw new BackendUnavailableError(
      'webgpu',
      `webgpu: no WebGPU adapter. Tried: ${attempts.join('; ')}. ` +
        `On Debian/Ubuntu, a real GPU needs its Vulkan driver and libvulkan1; without a GPU, ` +
        `Mesa's llvmpipe is used through EGL (apt-get install -y libegl1 libgl1-mesa-dri).`,
    );
  }
  const { gpu, options } = chosen;
  const shim = {
    requestAdapter: (o: GPURequestAdapterOptions = {}) => gpu.requestAdapter({ ...o, ...options }),
    getPreferredCanvasFormat: () => 'rgba8unorm' as GPUTextureFormat,
    get wgslLanguageFeatures() {
      return gpu.wgslLanguageFeatures;
    },
  };
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: shim }, configurable: true, writable: true });
  } else {
    Object.defineProperty(g.navigator, 'gpu', { value: shim, configurable: true, writable: true });
  }
  const api = chosen.api === 'default' ? 'vulkan' : 'opengl';
  return { info: describe(chosen.adapter, api) };
}

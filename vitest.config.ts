import { defineConfig } from 'vitest/config';

/**
 * The kernel suites (test/kernels) run once per device backend (the gpu.js modes
 * and the wasm SIMD backend), each backend
 * in its own project and therefore its own worker processes: dawn's EGL and
 * headless-gl's GLX cannot share a process. Everything else runs once, in the
 * 'host' project.
 */
const DEVICE_BACKENDS = ['webgpu', 'headlessgl', 'webasm', 'cpu', 'wasm'];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup.ts'],
    // GPU-backed property runs compile shaders for each new shape: minutes, not seconds, on a software adapter
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // two cores: two test files at a time
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'host', include: ['test/**/*.test.ts'], exclude: ['test/kernels/**'] },
      },
      ...DEVICE_BACKENDS.map((backend) => ({
        extends: true as const,
        test: { name: backend, include: ['test/kernels/**/*.test.ts'], env: { SK_BACKEND: backend } },
      })),
    ],
  },
});

/**
 * The worker pool's life cycle: lazy start, clean shutdown, and a process
 * that uses the pool exits by itself (workers are unref()'d), with or
 * without destroy().
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';

const fixture = fileURLToPath(new URL('./fixtures/pool-exit.ts', import.meta.url));

/** Runs the fixture in a fresh Node (with tsx's loader); returns its output and wall time. */
function runChild(arg: string): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', fixture, arg], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

describe('wasm worker pool', () => {
  it('starts no worker until a kernel is large enough to split, then runs it on both threads', async () => {
    const rt = await WasmRuntime.create({ threads: 2 });
    rt.softmax(new Float32Array(64), 8, 8);
    rt.matmul(new Float32Array(16), new Float32Array(16), 4, 4, 4);
    expect(rt.workersStarted).toBe(false);
    rt.matmul(new Float32Array(256 * 256), new Float32Array(256 * 256), 256, 256, 256);
    expect(rt.workersStarted).toBe(true);
    await rt.destroy();
    await rt.destroy(); // idempotent
    expect(() => rt.softmax(new Float32Array(4), 1, 4)).toThrow(/used after destroy/);
  });

  it('threads: 1 never starts a worker', async () => {
    const rt = await WasmRuntime.create({ threads: 1 });
    rt.matmul(new Float32Array(256 * 256), new Float32Array(256 * 256), 256, 256, 256);
    expect(rt.workersStarted).toBe(false);
    await rt.destroy();
  });

  it('rejects unknown options and bad thread counts', async () => {
    await expect(WasmRuntime.create({ thread: 2 } as never)).rejects.toThrow(/unknown option 'thread'/);
    await expect(WasmRuntime.create({ threads: 0 })).rejects.toThrow(/positive integer/);
  });

  // tsx's loader takes ~1 s to start a child here; "a few seconds" leaves room on a loaded 2-core machine
  for (const arg of ['destroy', 'no-destroy']) {
    it(`a process that used the pool exits by itself (${arg})`, () => {
      const r = runChild(arg);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^ok 256 0\.0009765625 workers=true/);
      expect(r.status).toBe(0);
      expect(r.ms).toBeLessThan(8000);
    });
  }
});

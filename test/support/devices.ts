/**
 * Devices for the test files, one per backend per worker, created lazily.
 * `backendsUnderTest()` lists the backends global-setup found working here.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { inject, expect } from 'vitest';
import { createDevice, type BackendName, type Device } from '../../src/device.js';
import { AccuracyRecorder, makeContext, type CheckContext, type KernelCheck } from '../../src/testing/suite.js';
import { propertyParams } from '../../src/testing/arbitraries.js';

const devices = new Map<string, Promise<Device>>();
export const recorder = new AccuracyRecorder();

/**
 * The backend this worker tests: kernel suites run in one vitest project per
 * gpu.js backend (SK_BACKEND); empty when that backend does not work here
 * (global setup printed why).
 */
export function backendsUnderTest(): BackendName[] {
  const available = inject('backends') as BackendName[];
  const mine = process.env.SK_BACKEND as BackendName | undefined;
  if (!mine) throw new Error('kernel suites run inside a backend project (SK_BACKEND is not set)');
  return available.includes(mine) ? [mine] : [];
}

export function deviceFor(backend: BackendName): Promise<Device> {
  let d = devices.get(backend);
  if (!d) {
    d = createDevice({ backend });
    devices.set(backend, d);
  }
  return d;
}

export async function destroyDevices(): Promise<void> {
  for (const d of devices.values()) await (await d).destroy();
  devices.clear();
}

/** Context for running a shared check on a backend with CI's seed and run count. */
export async function contextFor(backend: BackendName, check: KernelCheck, o: Partial<CheckContext> = {}): Promise<CheckContext> {
  const { seed, numRuns } = propertyParams(check.defaultRuns);
  return makeContext(await deviceFor(backend), { seed, numRuns, recorder, ...o });
}

/** Writes this file's measured accuracy for scripts/accuracy.ts to merge into ACCURACY.md. */
export function saveAccuracy(): void {
  const entries = recorder.toJSON();
  if (entries.length === 0) return;
  const dir = inject('accuracyDir');
  mkdirSync(dir, { recursive: true });
  const name = basename(expect.getState().testPath ?? 'unknown').replace(/\W+/g, '_');
  writeFileSync(`${dir}/${name}-${process.env.SK_BACKEND ?? 'host'}-${process.pid}.json`, JSON.stringify(entries, null, 1));
}

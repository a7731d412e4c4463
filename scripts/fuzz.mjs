#!/usr/bin/env node
// Long fuzz run of the kernel suites: FUZZ_RUNS property runs each (default 500)
// with a fresh seed (printed, so a failure can be replayed with FUZZ_SEED=...).
import { spawnSync } from 'node:child_process';

const runs = process.env.FUZZ_RUNS ?? '500';
const seed = process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
console.log(`fuzz: FUZZ_RUNS=${runs} FUZZ_SEED=${seed}`);
const r = spawnSync('npx', ['vitest', 'run', 'test/kernels', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed },
});
process.exit(r.status ?? 1);

/**
 * The README's examples run and print what the README shows. They import the
 * package by name (self-reference through package.json "exports"), so the
 * built dist/ is what runs: the test builds it first.
 */
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, test } from 'vitest';

const run = (file: string) => spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 240_000 });

describe('examples/', () => {
  beforeAll(() => {
    const b = spawnSync('npm', ['run', 'build', '--silent'], { encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
  }, 120_000);

  test('quickstart: no overflow, no NaN, exact zeros for huge gaps', () => {
    const r = run('examples/quickstart.ts');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^backend: \w+ on /m);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('softmax [ 0.5, 0.5, 0, 1, 0, 0, 0, 0.2689, 0.7311 ]');
    expect(r.stdout).toContain('logSumExp [ 1000.693, 1e+30, 1.313262 ]');
    expect(r.stdout).toContain('dx        [ 0.25, -0.25, 0, 0, 0, 0, 0, -0.1966, 0.1966 ]');
  });

  test('test-your-softmax: the naive kernel fails with its worst element, the stable one passes', () => {
    const r = run('examples/test-your-softmax.ts');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/naive: FAILED after \d+ runs; smallest failing case/);
    expect(r.stdout).toMatch(/naive softmax: got NaN where the reference is finite \(1\) at \[0, 0\]/);
    expect(r.stdout).toContain('stable: passed 200 runs');
  });

  test('find-nan: the corrupted weight is found where it makes the Inf', () => {
    const r = run('examples/find-nan.ts');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Infinity created by matmul (forward) at mlp.fc.matmul on cpu');
    expect(r.stdout).toContain('every input was finite: this kernel created the value');
    expect(r.stdout).toContain("created here: true; kernel matmul, scope mlp.fc, output 'c' at [0, 3]");
  });
});

/**
 * The command line: help for every subcommand, exit codes that mean
 * something, and `check` catching a broken kernel a user registers.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';

const cli = (args: string[], timeout = 240_000) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout, env: { ...process.env, FORCE_COLOR: '0' } });

describe('stable-kernels CLI', () => {
  test('--help lists the subcommands, and each has its own help', () => {
    const r = cli(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['train', 'sample', 'check', 'trace', 'bench']) expect(r.stdout).toContain(c);
    for (const c of ['train', 'sample', 'check', 'trace', 'bench']) {
      const h = cli([c, '--help']);
      expect(h.status, h.stderr).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`Usage: stable-kernels ${c}`));
    }
  });

  test('bad usage exits 2 with a message that says what to do', () => {
    const r = cli(['train', '--precision', 'fp8']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are fp32, bf16, fp16/);
    const t = cli(['trace', 'softmax', '--shape', '4']);
    expect(t.status).toBe(2);
    expect(t.stderr).toMatch(/--shape for softmax is N,V \(2 numbers\), got 4/);
    const u = cli(['nope']);
    expect(u.status).toBe(2);
    const c = cli(['sample', '--checkpoint', 'no/such/file.safetensors']);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/^error: loadCheckpoint: cannot read 'no\/such\/file\.safetensors'/m);
  });

  test('check passes on the real kernels and exits 1 when a user-registered kernel breaks its bound', () => {
    const ok = cli(['check', '--backend', 'cpu', '--kernel', 'softmax', '--runs', '10', '--seconds', '60']);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/kernel\s+cpu/);
    expect(ok.stdout).toMatch(/softmax\s+ok worst error \d+% of bound/);
    const bad = cli(['check', '--backend', 'cpu', '--kernel', 'softmax', '--runs', '30', '--seconds', '60', '--import', './test/fixtures/broken-softmax.ts']);
    expect(bad.status, bad.stdout + bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(/softmax\s+FAIL/);
    expect(bad.stdout).toMatch(/FAIL cpu · softmax\.forward: within bound/);
    expect(bad.stdout).toMatch(/check\(s\) broke their bound/);
  });

  test('check covers every float32 backend here, never the FP64 oracle it compares against', () => {
    const r = cli(['check', '--kernel', 'heads', '--runs', '2', '--seconds', '60']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const header = r.stdout.split('\n').find((l) => l.startsWith('kernel '))!;
    expect(header, r.stdout).toMatch(/\bcpu\b/);
    expect(header).toMatch(/\bwasm\b/);
    expect(header).not.toMatch(/reference/);
    expect(r.stdout).toMatch(/Every kernel stayed within its documented bound/);
    const ref = cli(['check', '--backend', 'reference']);
    expect(ref.status).toBe(2);
    expect(ref.stderr).toMatch(/reference/);
  });

  test('trace exits 1 and names the creating kernel when anomaly mode finds one', () => {
    const r = cli(['trace', 'matmul', '--shape', '8,16,8', '--values', 'huge', '--anomalies', '--backend', 'cpu']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/anomaly: (Infinity|-Infinity|NaN) created by matmul \(forward\) at matmul\.matmul on cpu/);
  });
});

/**
 * The package as users get it: `npm pack`, installed into an empty project,
 * imported from plain JavaScript and from TypeScript (type-checked), calling
 * a kernel, a precision function and a testing assertion.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';

const root = resolve('.');
const work = mkdtempSync(join(tmpdir(), 'sk-pack-'));
const app = join(work, 'app');

function run(cmd: string, args: string[], cwd: string, timeout = 300_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const JS_CONSUMER = `
import { createDevice, tensor, softmax } from 'stable-kernels';
import { roundTo, float16 } from 'stable-kernels/precision';
import { assertClose, reference } from 'stable-kernels/testing';

const dev = await createDevice({ backend: 'cpu' });
const y = await softmax(dev, tensor([1000, 1000, -1e30], [1, 3]));
const values = await y.toArray();
assertClose(values, reference.softmaxRef(Float64Array.of(1000, 1000, -1e30), 1, 3), { rtol: 1e-6, what: 'softmax' });
let caught = '';
try { assertClose([0.5, 0.7], [0.5, 0.5], { rtol: 1e-6, what: 'demo' }); } catch (e) { caught = e.message.split('\\n')[0]; }
console.log(JSON.stringify({ values, half: roundTo(float16, 1 + 2 ** -11), backend: dev.backend, caught }));
await dev.destroy();
`;

const TS_CONSUMER = `
import { createDevice, tensor, logSumExp, type Tensor } from 'stable-kernels';
import { roundTo, type FloatFormat, bfloat16 } from 'stable-kernels/precision';
import { assertUlp } from 'stable-kernels/testing';

const dev = await createDevice({ backend: 'cpu' });
const lse: Tensor = await logSumExp(dev, tensor([1e30, 1e30], [1, 2]));
const f: FloatFormat = bfloat16;
const got = await lse.toArray();
assertUlp(got, [1e30 + Math.LN2], 1, 'lse');
console.log(JSON.stringify({ lse: got[0], bf: roundTo(f, 1 + 2 ** -8) }));
await dev.destroy();
`;

describe('the packed package in an empty project', () => {
  beforeAll(() => {
    run('npm', ['pack', '--pack-destination', work, '--silent'], root);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    // --ignore-scripts: the optional headless-gl would otherwise build from source for minutes
    run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-save', join(work, tarball)], app);
  }, 600_000);

  test('plain JavaScript: a kernel, a precision function, a testing assertion', () => {
    writeFileSync(join(app, 'consumer.mjs'), JS_CONSUMER);
    const out = JSON.parse(run(process.execPath, ['consumer.mjs'], app).trim().split('\n').pop()!);
    expect(out.values[0]).toBeCloseTo(0.5, 6);
    expect(out.values[2]).toBe(0);
    expect(out.half).toBe(1); // the tie 1 + 2^-11 rounds to even in float16
    expect(out.caught).toMatch(/^demo: error exceeds the bound at 1/);
  });

  test('TypeScript: type-checks against the shipped .d.ts and runs', () => {
    writeFileSync(join(app, 'consumer.ts'), TS_CONSUMER);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: false, types: [] }, files: ['consumer.ts'] }),
    );
    run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
    const out = JSON.parse(run(process.execPath, ['out/consumer.js'], app).trim().split('\n').pop()!);
    expect(out.lse).toBe(Math.fround(1e30));
    expect(out.bf).toBe(1);
  });

  test('the command is installed and answers --help', () => {
    const help = run(join(app, 'node_modules/.bin/stable-kernels'), ['--help'], app);
    expect(help).toMatch(/Usage: stable-kernels/);
  });
});

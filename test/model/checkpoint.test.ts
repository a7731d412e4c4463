import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'sk-ckpt-'));

describe('checkpoints', () => {
  const tensors = {
    a: { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, NaN]) },
    b: { shape: [4], data: Float64Array.from([Math.PI, -0, Infinity, 1e-300]) },
    c: { shape: [], data: Int32Array.from([-7]) },
  };

  test('round trip keeps every bit and the state', () => {
    const p = join(dir, 'ok.safetensors');
    saveCheckpoint(p, tensors, { step: 3, note: 'x' });
    const r = loadCheckpoint(p);
    expect(r.state).toEqual({ step: 3, note: 'x' });
    expect(new Uint8Array(r.tensors.get('a')!.data.buffer)).toEqual(new Uint8Array(tensors.a.data.buffer));
    expect(Object.is(r.tensors.get('b')!.data[1], -0)).toBe(true);
    expect(r.tensors.get('c')!.shape).toEqual([]);
    // no temporary file is left behind
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  test('the file is a valid safetensors file: u64 header length, JSON header, 8-byte aligned data', () => {
    const p = join(dir, 'fmt.safetensors');
    saveCheckpoint(p, tensors, {});
    const buf = readFileSync(p);
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    expect(header.a).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header.b.dtype).toBe('F64');
    expect(header.__metadata__.format).toBe('stable-kernels/checkpoint@1');
    expect(buf.length).toBe(8 + n + 24 + 32 + 4);
  });

  test('a truncated file is refused', () => {
    const p = join(dir, 'trunc.safetensors');
    saveCheckpoint(p, tensors, {});
    const buf = readFileSync(p);
    writeFileSync(p, buf.subarray(0, buf.length - 5));
    expect(() => loadCheckpoint(p)).toThrow(/truncated: tensors need 60 bytes of data, the file has 55/);
    writeFileSync(p, buf.subarray(0, 20));
    expect(() => loadCheckpoint(p)).toThrow(/truncated: its header claims/);
    writeFileSync(p, buf.subarray(0, 3));
    expect(() => loadCheckpoint(p)).toThrow(CheckpointError);
  });

  test('a flipped bit is refused by the checksum', () => {
    const p = join(dir, 'flip.safetensors');
    saveCheckpoint(p, tensors, {});
    const buf = Buffer.from(readFileSync(p));
    buf[buf.length - 10] ^= 0x10;
    writeFileSync(p, buf);
    expect(() => loadCheckpoint(p)).toThrow(/corrupted: SHA-256/);
  });

  test('a corrupted header is refused', () => {
    const p = join(dir, 'hdr.safetensors');
    saveCheckpoint(p, tensors, {});
    const buf = Buffer.from(readFileSync(p));
    buf[9] = 0x7b; // '{' where '"' was
    writeFileSync(p, buf);
    expect(() => loadCheckpoint(p)).toThrow(/corrupted header|corrupted: SHA-256/);
  });

  test('a file that is not a checkpoint is refused', () => {
    const p = join(dir, 'other.bin');
    writeFileSync(p, Buffer.from('hello world, this is not a checkpoint'));
    expect(() => loadCheckpoint(p)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(join(dir, 'missing'))).toThrow(/cannot read/);
  });
});

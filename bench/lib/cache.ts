/**
 * A disk cache for the expensive, deterministic parts of a case — its inputs,
 * FP64 references and bounds — shared by the processes of one run.
 *
 * bench/run.ts sets BENCH_CACHE_DIR to a fresh temporary folder and removes it
 * at the end: every subject's process would otherwise regenerate the same
 * arrays and recompute the same FP64 references (more than half of a quick
 * run's time). The values are pure functions of the code and the seeds, and
 * the cache never outlives the run, so it cannot go stale. Without the
 * variable (a worker started by hand, the tests) values live in memory only.
 *
 * Values are plain objects, arrays, numbers, strings, booleans, undefined
 * and typed arrays (Float32Array, Float64Array, Int32Array), stored as one
 * JSON skeleton followed by the arrays' bytes.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

type Typed = Float32Array | Float64Array | Int32Array;
const CTORS = { Float32Array, Float64Array, Int32Array } as const;

function dir(): string | undefined {
  return process.env.BENCH_CACHE_DIR || undefined;
}

function fileOf(key: string): string {
  return path.join(dir()!, `${key.replace(/[^\w.-]/g, '_')}.bin`);
}

function encode(value: unknown): Buffer {
  const blobs: Typed[] = [];
  let offset = 0;
  const skeleton = JSON.stringify(value, function (this: unknown, _k, v: unknown) {
    if (v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array) {
      offset = Math.ceil(offset / 8) * 8;
      const ref = { $typed: v.constructor.name, offset, length: v.length };
      blobs.push(v);
      offset += v.byteLength;
      return ref;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
    if (v === undefined) return { $undefined: true };
    return v;
  });
  const head = Buffer.from(skeleton, 'utf8');
  const start = Math.ceil((8 + head.length) / 8) * 8;
  const out = Buffer.alloc(start + offset);
  out.writeUInt32LE(head.length, 0);
  head.copy(out, 8);
  let o = 0;
  for (const b of blobs) {
    o = Math.ceil(o / 8) * 8;
    Buffer.from(b.buffer, b.byteOffset, b.byteLength).copy(out, start + o);
    o += b.byteLength;
  }
  return out;
}

function decode<T>(buf: Buffer): T {
  const len = buf.readUInt32LE(0);
  const skeleton = buf.subarray(8, 8 + len).toString('utf8');
  const start = Math.ceil((8 + len) / 8) * 8;
  return JSON.parse(skeleton, (_k, v: unknown) => {
    if (v && typeof v === 'object') {
      const o = v as { $typed?: keyof typeof CTORS; offset?: number; length?: number; $number?: string; $undefined?: boolean };
      if (o.$typed) {
        const C = CTORS[o.$typed];
        const bytes = o.length! * C.BYTES_PER_ELEMENT;
        // copy into a fresh, aligned buffer
        const copy = new ArrayBuffer(bytes);
        new Uint8Array(copy).set(buf.subarray(start + o.offset!, start + o.offset! + bytes));
        return new C(copy);
      }
      if (o.$number !== undefined) return Number(o.$number);
      if (o.$undefined) return undefined;
    }
    return v;
  }) as T;
}

/** f(), computed once per process — and once per run when BENCH_CACHE_DIR is set. */
export function diskCached<T>(key: string, f: () => T): T {
  if (!dir()) return f();
  const file = fileOf(key);
  if (existsSync(file)) {
    try {
      return decode<T>(readFileSync(file));
    } catch {
      // a torn or unreadable entry: recompute it
    }
  }
  const v = f();
  mkdirSync(dir()!, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, encode(v));
  renameSync(tmp, file);
  return v;
}

/** diskCached for an asynchronous computation. */
export async function diskCachedAsync<T>(key: string, f: () => Promise<T>): Promise<T> {
  if (!dir()) return f();
  const file = fileOf(key);
  if (existsSync(file)) {
    try {
      return decode<T>(readFileSync(file));
    } catch {
      // recompute below
    }
  }
  const v = await f();
  return diskCached(key, () => v);
}

/**
 * Checkpoints in the safetensors format, written atomically and checksummed.
 *
 * Layout (https://github.com/huggingface/safetensors, "Format"):
 *   8 bytes   little-endian u64 N: length of the JSON header
 *   N bytes   JSON header: { "<tensor name>": { "dtype": "F32" | "F64" | "I32",
 *                                               "shape": [...], "data_offsets": [begin, end] },
 *                            "__metadata__": { "<key>": "<string>" } }
 *             padded with spaces to a multiple of 8 bytes
 *   rest      the tensors' bytes, little-endian, at data_offsets relative to the end of the header
 * So any safetensors reader (Python `safetensors.safe_open`, Rust, JS) can
 * read the tensors. Our own metadata lives in `__metadata__` as strings:
 *   "format":          "stable-kernels/checkpoint@1"
 *   "stable_kernels":  JSON of the training state (config, step, optimizer
 *                      hyper-parameters, loss scaler, data loader and RNG state)
 *   "sha256":          SHA-256 of the header (with this field empty) and of the data
 *
 * Writes are atomic: the file is written to a temporary name in the same
 * folder, fsync'ed, renamed over the target, and the folder is fsync'ed, so a
 * crash leaves either the old checkpoint or the new one, never half of one.
 * Reading refuses, with an error that says what is wrong, a file that is
 * truncated, has a bad header, fails its checksum, or (in the model loader)
 * does not match the model's configuration.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const CHECKPOINT_FORMAT = 'stable-kernels/checkpoint@1';

export type CheckpointArray = Float32Array | Float64Array | Int32Array;

export interface CheckpointTensor {
  shape: readonly number[];
  data: CheckpointArray;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const DTYPES = { F32: Float32Array, F64: Float64Array, I32: Int32Array } as const;
type DTypeName = keyof typeof DTYPES;

function dtypeName(a: CheckpointArray): DTypeName {
  if (a instanceof Float32Array) return 'F32';
  if (a instanceof Float64Array) return 'F64';
  return 'I32';
}

interface HeaderEntry {
  dtype: DTypeName;
  shape: number[];
  data_offsets: [number, number];
}

function buildHeader(entries: Record<string, HeaderEntry>, metadata: Record<string, string>): Buffer {
  const json = JSON.stringify({ ...entries, __metadata__: metadata });
  const raw = Buffer.from(json, 'utf8');
  const padded = Buffer.alloc(Math.ceil(raw.length / 8) * 8, 0x20);
  raw.copy(padded);
  return padded;
}

/**
 * Writes tensors and a JSON-serialisable state atomically.
 *
 * @example
 * saveCheckpoint('run.safetensors', { 'wte': { shape: [V, C], data: wte } }, { step: 100 });
 */
export function saveCheckpoint(path: string, tensors: Record<string, CheckpointTensor>, state: unknown): void {
  const entries: Record<string, HeaderEntry> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new CheckpointError(`saveCheckpoint: tensor '${name}' has ${t.data.length} values but shape [${t.shape.join(', ')}]`);
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    entries[name] = { dtype: dtypeName(t.data), shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const data = Buffer.concat(chunks);
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT, stable_kernels: JSON.stringify(state), sha256: '' };
  const hash = createHash('sha256').update(buildHeader(entries, metadata)).update(data).digest('hex');
  const header = buildHeader(entries, { ...metadata, sha256: hash });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));

  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  const fd = openSync(tmp, 'w');
  try {
    for (const part of [len, header, data]) {
      let written = 0;
      while (written < part.length) written += writeSync(fd, part, written, part.length - written);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  // make the rename itself durable
  try {
    const dfd = openSync(dirname(path) || '.', 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // some filesystems do not allow fsync on a directory; the data itself is synced
  }
}

export interface LoadedCheckpoint {
  tensors: Map<string, CheckpointTensor>;
  state: unknown;
}

/** Reads and verifies a checkpoint written by `saveCheckpoint`.
 *
 * @example
 * const { tensors, state } = loadCheckpoint('run.safetensors'); // throws CheckpointError if truncated or corrupted
 */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`loadCheckpoint: cannot read '${path}': ${(e as Error).message}`);
  }
  if (buf.length < 8) throw new CheckpointError(`loadCheckpoint: '${path}' is truncated (${buf.length} bytes; a checkpoint starts with an 8-byte header length)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw new CheckpointError(`loadCheckpoint: '${path}' is truncated: its header claims ${n} bytes but only ${buf.length - 8} follow`);
  const headerBytes = buf.subarray(8, 8 + n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`loadCheckpoint: '${path}' has a corrupted header (not JSON: ${(e as Error).message})`);
  }
  const meta = header.__metadata__ as Record<string, string> | undefined;
  if (!meta || meta.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`loadCheckpoint: '${path}' is not a stable-kernels checkpoint (metadata format ${JSON.stringify(meta?.format)}, expected '${CHECKPOINT_FORMAT}')`);
  }
  const data = buf.subarray(8 + n);
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, HeaderEntry][];
  let end = 0;
  for (const [, e] of entries) end = Math.max(end, e.data_offsets[1]);
  if (data.length < end) throw new CheckpointError(`loadCheckpoint: '${path}' is truncated: tensors need ${end} bytes of data, the file has ${data.length}`);
  if (data.length > end) throw new CheckpointError(`loadCheckpoint: '${path}' has ${data.length - end} unexpected bytes after its tensors`);
  const expected = meta.sha256;
  const rebuilt = buildHeader(Object.fromEntries(entries), { ...meta, sha256: '' });
  const hash = createHash('sha256').update(rebuilt).update(data).digest('hex');
  if (hash !== expected) throw new CheckpointError(`loadCheckpoint: '${path}' is corrupted: SHA-256 ${hash.slice(0, 16)}… does not match the recorded ${String(expected).slice(0, 16)}…`);
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, e] of entries) {
    const Ctor = DTYPES[e.dtype];
    if (!Ctor) throw new CheckpointError(`loadCheckpoint: tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)}`);
    const [b, f] = e.data_offsets;
    const bytes = data.subarray(b, f);
    // copy into an aligned buffer of the right type
    const arr = new Ctor(bytes.length / Ctor.BYTES_PER_ELEMENT);
    new Uint8Array(arr.buffer).set(bytes);
    const count = e.shape.reduce((x, y) => x * y, 1);
    if (count !== arr.length) throw new CheckpointError(`loadCheckpoint: tensor '${name}' has ${arr.length} values but shape [${e.shape.join(', ')}]`);
    tensors.set(name, { shape: e.shape, data: arr });
  }
  let state: unknown;
  try {
    state = JSON.parse(meta.stable_kernels);
  } catch {
    throw new CheckpointError(`loadCheckpoint: '${path}' has corrupted training state metadata`);
  }
  return { tensors, state };
}

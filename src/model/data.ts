/**
 * Training data: the embedded default corpus, a character tokenizer and a
 * seeded, checkpointable batch loader.
 *
 * The default corpus is generated, not stored: an order-2 Markov chain over
 * characters, estimated once from the seed paragraph below (with a little
 * additive smoothing so every character can follow every context). Because
 * the source is a known Markov chain, the best loss any model can reach is
 * known exactly:
 *
 *   - entropy rate   h = Σ_{a,b} π(a,b) · H(P(·|a,b))       nats per character,
 *     with π the stationary distribution of the pair chain (power iteration
 *     in float64 to ‖Δπ‖₁ < 1e-15);
 *   - the floor of a model trained on windows of T + 1 characters (inputs are
 *     the first T, targets the last T): the first prediction sees one
 *     character, less context than the chain's order, every later one sees
 *     at least two:
 *       floor(T) = (H(X₁|X₀) + (T − 1)·h) / T.
 *     On a finite validation set the optimal predictor's own loss on those
 *     very characters (`optimalLoss`) is the exact comparison.
 *
 * Windows are cut from one long stationary stream, so the training and
 * validation losses are directly comparable with floor(T).
 */
import { readFileSync } from 'node:fs';
import { ArgumentError } from '../errors.js';
import { Rng } from '../testing/values.js';

/**
 * The seed text of the default source (written for this project). Its
 * character pairs define the chain; the generated stream looks like English
 * with the right letter statistics but no words you could quote.
 */
export const SEED_TEXT = [
  'a stable kernel keeps its promise at the edges. it subtracts the largest value before it takes an exponent,',
  'so no sum can overflow and no row can turn into a quiet number that means nothing. the reference runs in',
  'double precision and every fast version is measured against it, value by value, with a bound that was derived',
  'and written down. when a number goes wrong the trace names the kernel that made it, the scope it ran in and',
  'the inputs it was given. the model learns the text one character at a time, and the loss it can reach is',
  'known before it starts, because the source that wrote the text is a chain whose entropy we can count.',
].join(' ');

/** Additive smoothing per successor: small enough to keep the text's letter statistics, large enough that every context can reach every character (the chain is irreducible, so π is unique). */
const SMOOTHING = 0.003;

export interface MarkovSourceInfo {
  /** The characters, in token-id order. */
  alphabet: string;
  /** Entropy rate h in nats per character. */
  entropyRate: number;
  /** H(X₀) and H(X₁|X₀) under the stationary distribution. */
  h0: number;
  h1: number;
}

/**
 * An order-2 character Markov chain with its exact entropy rate.
 * `P[(a·V + b)·V + c]` = P(next = c | previous two = a, b).
 */
export class MarkovSource {
  readonly alphabet: string;
  readonly V: number;
  readonly P: Float64Array;
  /** Cumulative rows for sampling. */
  readonly #cdf: Float64Array;
  /** Stationary distribution over pairs (a, b). */
  readonly pi: Float64Array;
  readonly info: MarkovSourceInfo;

  constructor(seedText: string = SEED_TEXT, smoothing = SMOOTHING) {
    const alphabet = [...new Set(seedText)].sort().join('');
    const V = alphabet.length;
    const id = new Map([...alphabet].map((c, i) => [c, i]));
    const counts = new Float64Array(V * V * V).fill(smoothing);
    // the seed text read as a cycle, so every observed context has a successor
    const ids = [...seedText].map((c) => id.get(c)!);
    for (let i = 0; i < ids.length; i++) {
      const a = ids[i];
      const b = ids[(i + 1) % ids.length];
      const c = ids[(i + 2) % ids.length];
      counts[(a * V + b) * V + c] += 1;
    }
    const P = new Float64Array(V * V * V);
    const cdf = new Float64Array(V * V * V);
    for (let ctx = 0; ctx < V * V; ctx++) {
      let s = 0;
      for (let c = 0; c < V; c++) s += counts[ctx * V + c];
      let acc = 0;
      for (let c = 0; c < V; c++) {
        P[ctx * V + c] = counts[ctx * V + c] / s;
        acc += P[ctx * V + c];
        cdf[ctx * V + c] = acc;
      }
      cdf[ctx * V + V - 1] = 1;
    }
    this.alphabet = alphabet;
    this.V = V;
    this.P = P;
    this.#cdf = cdf;
    this.pi = stationaryPairs(P, V);
    this.info = { alphabet, entropyRate: this.#entropyRate(), ...this.#initialEntropies() };
  }

  /** h = Σ π(a,b)·H(P(·|a,b)). */
  #entropyRate(): number {
    const { V, P, pi } = this;
    let h = 0;
    for (let ctx = 0; ctx < V * V; ctx++) {
      let H = 0;
      for (let c = 0; c < V; c++) {
        const p = P[ctx * V + c];
        if (p > 0) H -= p * Math.log(p);
      }
      h += pi[ctx] * H;
    }
    return h;
  }

  /** H(X₀) and H(X₁|X₀) from the stationary pair distribution. */
  #initialEntropies(): { h0: number; h1: number } {
    const { V, pi } = this;
    const marg = new Float64Array(V);
    for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) marg[a] += pi[a * V + b];
    let h0 = 0;
    for (const p of marg) if (p > 0) h0 -= p * Math.log(p);
    let hPair = 0;
    for (const p of pi) if (p > 0) hPair -= p * Math.log(p);
    return { h0, h1: hPair - h0 };
  }

  /** Best achievable mean loss over windows of T predictions (see the file header). */
  windowFloor(T: number): number {
    const { entropyRate: h, h1 } = this.info;
    if (T <= 0) return NaN;
    return (h1 + (T - 1) * h) / T;
  }

  /**
   * The loss of the Bayes-optimal predictor on these batches: −log P(target |
   * what the model has seen of the window), using the chain's own
   * probabilities (the stationary pair distribution for the first position).
   */
  optimalLoss(batches: Batch[]): number {
    const { V, P, pi } = this;
    const marg = new Float64Array(V);
    for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) marg[a] += pi[a * V + b];
    let total = 0;
    let n = 0;
    for (const { inputs, targets, B, T } of batches) {
      for (let r = 0; r < B; r++) {
        for (let t = 0; t < T; t++) {
          const i = r * T + t;
          const c = targets[i];
          const p = t === 0 ? pi[inputs[i] * V + c] / marg[inputs[i]] : P[(inputs[i - 1] * V + inputs[i]) * V + c];
          total -= Math.log(p);
          n++;
        }
      }
    }
    return total / n;
  }

  /** Next character id given the previous two. */
  next(rng: Rng, a: number, b: number): number {
    const u = rng.uniform();
    const base = (a * this.V + b) * this.V;
    // V is small (~30): a linear scan of the CDF is as fast as a search
    for (let c = 0; c < this.V; c++) if (u < this.#cdf[base + c]) return c;
    return this.V - 1;
  }

  /** A pair drawn from the stationary distribution. */
  stationaryPair(rng: Rng): [number, number] {
    const u = rng.uniform();
    let acc = 0;
    for (let ctx = 0; ctx < this.pi.length; ctx++) {
      acc += this.pi[ctx];
      if (u < acc) return [Math.floor(ctx / this.V), ctx % this.V];
    }
    return [this.V - 1, this.V - 1];
  }
}

/** Stationary distribution of the pair chain (a, b) → (b, c) by power iteration. */
function stationaryPairs(P: Float64Array, V: number): Float64Array {
  let pi = new Float64Array(V * V).fill(1 / (V * V));
  for (let iter = 0; iter < 100_000; iter++) {
    const next = new Float64Array(V * V);
    for (let a = 0; a < V; a++)
      for (let b = 0; b < V; b++) {
        const w = pi[a * V + b];
        if (w === 0) continue;
        const base = (a * V + b) * V;
        for (let c = 0; c < V; c++) next[b * V + c] += w * P[base + c];
      }
    let diff = 0;
    let total = 0;
    for (let i = 0; i < next.length; i++) total += next[i];
    for (let i = 0; i < next.length; i++) {
      next[i] /= total;
      diff += Math.abs(next[i] - pi[i]);
    }
    pi = next;
    if (diff < 1e-15) return pi;
  }
  throw new Error('MarkovSource: the pair chain did not converge to a stationary distribution');
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

/** Character tokenizer over a fixed alphabet (token id = index in the alphabet). */
export class CharTokenizer {
  readonly alphabet: string;
  readonly #ids: Map<string, number>;

  constructor(alphabet: string) {
    const chars = [...alphabet];
    if (new Set(chars).size !== chars.length) throw new ArgumentError('CharTokenizer: the alphabet has repeated characters');
    if (chars.length === 0) throw new ArgumentError('CharTokenizer: the alphabet is empty');
    this.alphabet = alphabet;
    this.#ids = new Map(chars.map((c, i) => [c, i]));
  }

  /** A tokenizer for the characters that occur in `text`, sorted by code point. */
  static fromText(text: string): CharTokenizer {
    return new CharTokenizer([...new Set(text)].sort().join(''));
  }

  get vocabSize(): number {
    return this.#ids.size;
  }

  encode(text: string): Int32Array {
    const out = new Int32Array([...text].length);
    let i = 0;
    for (const ch of text) {
      const id = this.#ids.get(ch);
      if (id === undefined) throw new ArgumentError(`CharTokenizer.encode: character ${JSON.stringify(ch)} is not in the alphabet ${JSON.stringify(this.alphabet)}`);
      out[i++] = id;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const chars = [...this.alphabet];
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const c = chars[ids[i]];
      if (c === undefined) throw new ArgumentError(`CharTokenizer.decode: token id ${ids[i]} is outside [0, ${chars.length})`);
      s += c;
    }
    return s;
  }
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

export interface Batch {
  /** (B, T) input ids */
  inputs: Int32Array;
  /** (B, T) next-token targets */
  targets: Int32Array;
  B: number;
  T: number;
}

/** Serializable loader state (xoshiro state words and position). */
export interface LoaderState {
  kind: 'markov' | 'text';
  rng: number[];
  a?: number;
  b?: number;
}

export interface DataSource {
  readonly tokenizer: CharTokenizer;
  readonly description: string;
  /** Best achievable mean loss over windows of T predictions, if known. */
  floor(T: number): number | undefined;
  /** The optimal predictor's loss on these batches, if the source is known. */
  optimalLoss(batches: Batch[]): number | undefined;
  /** Entropy rate in nats per token, if known. */
  readonly entropyRate: number | undefined;
  nextBatch(B: number, T: number): Batch;
  /** A fixed validation set: the same batches every call. */
  validationBatches(B: number, T: number, count: number): Batch[];
  state(): LoaderState;
  loadState(s: LoaderState): void;
}

/** The embedded default: an endless stream from the Markov source. */
export class MarkovStream implements DataSource {
  readonly source: MarkovSource;
  readonly tokenizer: CharTokenizer;
  readonly description: string;
  #rng: Rng;
  #a: number;
  #b: number;
  readonly #seed: number;

  constructor(seed: number, source = new MarkovSource()) {
    this.source = source;
    this.tokenizer = new CharTokenizer(source.alphabet);
    this.#seed = seed;
    this.#rng = new Rng(seed);
    [this.#a, this.#b] = source.stationaryPair(this.#rng);
    this.description = `order-2 character Markov chain (V = ${source.V}, entropy rate ${source.info.entropyRate.toFixed(4)} nats/char)`;
  }

  get entropyRate(): number {
    return this.source.info.entropyRate;
  }

  floor(T: number): number {
    return this.source.windowFloor(T);
  }

  optimalLoss(batches: Batch[]): number {
    return this.source.optimalLoss(batches);
  }

  /** B windows of T + 1 consecutive characters, each starting at a fresh stationary point. */
  nextBatch(B: number, T: number): Batch {
    return sampleMarkov(this.source, this.#rng, B, T, () => {
      // continue the stream: each window starts where the previous one ended (stationary)
      return [this.#a, this.#b];
    }, (a, b) => {
      this.#a = a;
      this.#b = b;
    });
  }

  validationBatches(B: number, T: number, count: number): Batch[] {
    // an independent stream with a derived seed: never overlaps training
    const rng = new Rng(this.#seed ^ 0x7f4a7c15);
    let [a, b] = this.source.stationaryPair(rng);
    const out: Batch[] = [];
    for (let i = 0; i < count; i++) {
      out.push(
        sampleMarkov(this.source, rng, B, T, () => [a, b], (na, nb) => {
          a = na;
          b = nb;
        }),
      );
    }
    return out;
  }

  state(): LoaderState {
    return { kind: 'markov', rng: this.#rng.state(), a: this.#a, b: this.#b };
  }

  loadState(s: LoaderState): void {
    if (s.kind !== 'markov' || s.a === undefined || s.b === undefined) throw new ArgumentError(`MarkovStream.loadState: expected a 'markov' loader state, got '${s.kind}'`);
    this.#rng.setState(s.rng);
    this.#a = s.a;
    this.#b = s.b;
  }
}

function sampleMarkov(source: MarkovSource, rng: Rng, B: number, T: number, start: () => [number, number], end: (a: number, b: number) => void): Batch {
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  let [a, b] = start();
  for (let r = 0; r < B; r++) {
    // T + 1 characters: inputs are the first T, targets the last T
    const seq = new Int32Array(T + 1);
    for (let t = 0; t <= T; t++) {
      const c = source.next(rng, a, b);
      seq[t] = c;
      a = b;
      b = c;
    }
    inputs.set(seq.subarray(0, T), r * T);
    targets.set(seq.subarray(1), r * T);
  }
  end(a, b);
  return { inputs, targets, B, T };
}

/** A user's text file: random windows from the first 90%, validation from the last 10%. */
export class TextFileData implements DataSource {
  readonly tokenizer: CharTokenizer;
  readonly description: string;
  readonly entropyRate = undefined;
  readonly #train: Int32Array;
  readonly #val: Int32Array;
  #rng: Rng;

  constructor(path: string, seed: number, alphabet?: string) {
    const text = readFileSync(path, 'utf8');
    this.tokenizer = alphabet ? new CharTokenizer(alphabet) : CharTokenizer.fromText(text);
    const ids = this.tokenizer.encode(text);
    const cut = Math.floor(ids.length * 0.9);
    this.#train = ids.subarray(0, cut);
    this.#val = ids.subarray(cut);
    this.#rng = new Rng(seed);
    this.description = `${path} (${ids.length} characters, V = ${this.tokenizer.vocabSize})`;
  }

  floor(): undefined {
    return undefined;
  }

  optimalLoss(): undefined {
    return undefined;
  }

  #window(data: Int32Array, rng: Rng, B: number, T: number): Batch {
    if (data.length < T + 1) throw new ArgumentError(`TextFileData: the text has ${data.length} tokens in this split, fewer than T + 1 = ${T + 1}`);
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let r = 0; r < B; r++) {
      const s = rng.int(0, data.length - T - 1);
      inputs.set(data.subarray(s, s + T), r * T);
      targets.set(data.subarray(s + 1, s + T + 1), r * T);
    }
    return { inputs, targets, B, T };
  }

  nextBatch(B: number, T: number): Batch {
    return this.#window(this.#train, this.#rng, B, T);
  }

  validationBatches(B: number, T: number, count: number): Batch[] {
    const rng = new Rng(12345);
    return Array.from({ length: count }, () => this.#window(this.#val, rng, B, T));
  }

  state(): LoaderState {
    return { kind: 'text', rng: this.#rng.state() };
  }

  loadState(s: LoaderState): void {
    if (s.kind !== 'text') throw new ArgumentError(`TextFileData.loadState: expected a 'text' loader state, got '${s.kind}'`);
    this.#rng.setState(s.rng);
  }
}

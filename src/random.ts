/**
 * The library's pseudo-random generator: xoshiro128** seeded through
 * splitmix32. Deterministic across platforms (integer arithmetic only), with a
 * state that can be saved and restored (checkpoints resume the same stream).
 */

/** xoshiro128** (Blackman & Vigna): fast, 128-bit state, good equidistribution. */
export class Rng {
  #s = new Uint32Array(4);
  constructor(seed: number) {
    // splitmix32 to fill the state from one integer
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return (this.nextU32() * 2 ** 21 + (this.nextU32() >>> 11)) / 2 ** 53;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.uniform() * xs.length)];
  }

  /** The four state words (for checkpoints). */
  state(): number[] {
    return Array.from(this.#s);
  }

  /** Restores state saved with `state()`. */
  setState(words: readonly number[]): void {
    if (words.length !== 4 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new Error(`Rng.setState: expected 4 unsigned 32-bit integers, got ${JSON.stringify(words)}`);
    }
    this.#s.set(words);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}


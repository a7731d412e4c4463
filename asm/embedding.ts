/**
 * Token + position embedding of src/kernels/embedding.ts, forward and
 * backward. Token ids arrive as float32 (the public function validates them
 * and codes them so: exact integers below 2^24).
 *
 * The backward is a scatter, which the CPU does directly (the gpu.js kernel
 * gathers through a CSR index because it has no atomics): positions are
 * visited in increasing order p = b·T + t, so
 *   dwte[v, c] = (((0 + d_p1) + d_p2) + …) over the positions p1 < p2 < … of token v,
 *   dwpe[t, c] = (((0 + d_{0,t}) + d_{1,t}) + …) over b = 0, 1, …,
 * the reference's order: count(v) − 1 and B − 1 roundings (0 + d is exact),
 * the chains embeddingBackwardBound allows. Threads split the channels
 * [c0, c1), so every element keeps that order whatever the split.
 */

/** out[p, :] = wte[ids[p], :] + wpe[p mod T, :] for rows p ∈ [r0, r1). */
export function embedding_fwd(ids: usize, wte: usize, wpe: usize, out: usize, T: i32, C: i32, r0: i32, r1: i32): void {
  const C4 = C & ~3;
  for (let p = r0; p < r1; p++) {
    const v = <i32>load<f32>(ids + (<usize>p << 2));
    const t = p % T;
    const a = wte + ((<usize>v * <usize>C) << 2);
    const b = wpe + ((<usize>t * <usize>C) << 2);
    const o = out + ((<usize>p * <usize>C) << 2);
    let c = 0;
    for (; c < C4; c += 4) {
      const off = <usize>c << 2;
      v128.store(o + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      store<f32>(o + off, load<f32>(a + off) + load<f32>(b + off));
    }
  }
}

/**
 * dwte (V, C) and dwpe (maxT, C), both zeroed by the caller, accumulated over
 * the N = B·T positions for channels [c0, c1) (c0 a multiple of 4).
 */
export function embedding_bwd(ids: usize, dout: usize, dwte: usize, dwpe: usize, N: i32, T: i32, C: i32, c0: i32, c1: i32): void {
  const c4 = c0 + ((c1 - c0) & ~3);
  for (let p = 0; p < N; p++) {
    const v = <i32>load<f32>(ids + (<usize>p << 2));
    const t = p % T;
    const d = dout + ((<usize>p * <usize>C) << 2);
    const a = dwte + ((<usize>v * <usize>C) << 2);
    const b = dwpe + ((<usize>t * <usize>C) << 2);
    let c = c0;
    for (; c < c4; c += 4) {
      const off = <usize>c << 2;
      const g = v128.load(d + off);
      v128.store(a + off, f32x4.add(v128.load(a + off), g));
      v128.store(b + off, f32x4.add(v128.load(b + off), g));
    }
    for (; c < c1; c++) {
      const off = <usize>c << 2;
      const g = load<f32>(d + off);
      store<f32>(a + off, load<f32>(a + off) + g);
      store<f32>(b + off, load<f32>(b + off) + g);
    }
  }
}

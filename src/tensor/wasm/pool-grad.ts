/**
 * The wasm backend's max-pool backward for float32 gradients and int32 winner indices: the same
 * scatter as the reference (src/tensor/cpu/pool.ts maxPool2dGrad: gx[plane + index] += gy, index
 * -1 routing nothing), into a zeroed array the caller supplies (the backend's buffer pool, so no
 * page faults), in a loop whose operand types are fixed. The reference function serves every
 * dtype, so V8 sees several array types at its element accesses and compiles them generically;
 * here it sees one, which is what makes this ~3x faster at the tutorial CNN's first pooling.
 * Same additions in the same order, so the result is bit-identical to the reference.
 */
export function maxPool2dGradF32(gy: Float32Array, indices: Int32Array, gyShape: readonly number[], xShape: readonly number[], gx: Float32Array): Float32Array {
  const [N, C, OH, OW] = gyShape;
  const HW = xShape[2] * xShape[3];
  const L = OH * OW;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * HW, ob = nc * L;
    for (let t = 0; t < L; t++) {
      const at = indices[ob + t];
      if (at >= 0) gx[base + at] += gy[ob + t];
    }
  }
  return gx;
}

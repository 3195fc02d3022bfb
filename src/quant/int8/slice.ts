/**
 * Elements [start, end) of an array-like input without copying a typed array (a subarray view);
 * plain arrays are sliced. The int8 engines read their float input a chunk at a time through it.
 */
export function sliceOf(x: ArrayLike<number>, start: number, end: number): ArrayLike<number> {
  if (ArrayBuffer.isView(x)) return (x as unknown as Float32Array).subarray(start, end);
  return Array.prototype.slice.call(x, start, end) as number[];
}

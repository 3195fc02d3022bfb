/**
 * The integer limits the quantization arithmetic works against, defined once: int32 (the
 * accumulators and multipliers of Jacob et al. 2018 / TFLite), int16 (the operands of the SIMD
 * kernels' i32x4.dot_i16x8_s), and 2^30 (Q31's one half, the range of the vectorised output stage).
 */
export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
export const INT16_MAX = 32767;
export const TWO_30 = 1073741824;

/**
 * Emulating float32 arithmetic with Math.fround.
 *
 * PyTorch stores tensors, observer min/max and the fake-quant scale as float32 and computes with
 * them in float32. JavaScript numbers are float64, so each float32 operation is written as
 * Math.fround(a op b). For +, -, * and / of two float32 operands this is exactly the float32 result:
 * float64 has more than 2*24+2 significand bits, so rounding first to float64 and then to float32
 * never differs from rounding once (the "double rounding is innocuous" theorem; Figueroa 1995).
 */

export const fround = Math.fround;

/** float32 machine epsilon, 2^-23 = torch.finfo(torch.float32).eps: the observers' scale floor. */
export const FLOAT32_EPS = 2 ** -23;

/** Bit pattern of a float32 value (for exact comparisons and lossless fixtures). */
export function float32Bits(x: number): number {
  const buf = new Float32Array(1);
  buf[0] = x;
  return new Uint32Array(buf.buffer)[0];
}

/** The float32 value with the given bit pattern. */
export function float32FromBits(bits: number): number {
  const buf = new Uint32Array(1);
  buf[0] = bits;
  return new Float32Array(buf.buffer)[0];
}

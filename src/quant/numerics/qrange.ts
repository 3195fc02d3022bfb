/**
 * The integer range [qmin, qmax] an n-bit quantized value may take.
 *
 * - signed:   -2^(b-1) .. 2^(b-1)-1   (int8: -128..127; 1 bit: -1..0)
 * - unsigned:  0 .. 2^b-1             (uint8: 0..255)
 * - narrow:   drops the lowest level, as TFLite's quantization spec does for int8 weights
 *             (-127..127), making the signed range symmetric so that a zero point of 0 maps
 *             x and -x to opposite levels. For unsigned ranges narrow gives 1..2^b-1, as TensorFlow's
 *             fake_quant_with_min_max_vars(narrow_range=True) does.
 *
 * PyTorch expresses the same thing with quant_min/quant_max on its observers and fake-quant modules.
 */

export interface QRange {
  qmin: number;
  qmax: number;
}

export interface QRangeOptions {
  /** Drop the lowest level (TFLite's narrow range). */
  narrow?: boolean;
}

/** Bit widths qgrad supports: levels must fit comfortably in an Int32Array and a float32. */
export const MIN_BITS = 1;
export const MAX_BITS = 16;

export function qrange(bits: number, signed: boolean, options: QRangeOptions = {}): QRange {
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) {
    throw new Error(`qrange: bits must be an integer in ${MIN_BITS}..${MAX_BITS}, got ${String(bits)}`);
  }
  let qmin = signed ? -(2 ** (bits - 1)) : 0;
  const qmax = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (options.narrow) qmin += 1;
  if (qmin >= qmax) {
    throw new Error(
      `qrange: a narrow ${bits}-bit ${signed ? 'signed' : 'unsigned'} range would be ${qmin}..${qmax}, ` +
        'which has fewer than two levels',
    );
  }
  return { qmin, qmax };
}

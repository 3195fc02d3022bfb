/**
 * The size of a quantized model as a packed int8 file would hold it, per layer and bit width: the
 * cost side of mixed precision. HAQ (Wang et al. 2019, "HAQ: Hardware-Aware Automated
 * Quantization with Mixed Precision", CVPR, §3.3 "model size constraint") frames mixed precision as
 * choosing bits per layer under a budget on exactly this quantity: the bits of the weights summed.
 *
 * Analytic packed size of one conv2d / linear layer with n weights, O output channels, at b bits:
 *
 *   bytes(b) = ceil(n·b / 8)          the weight levels, packed densely (sub-byte packing: b bits each,
 *                                     consecutive across the whole tensor, the last byte padded)
 *            + O · (4 + 4 + 4)        per output channel, as the int8 file stores them
 *                                     (src/quant/int8/format.ts): the int32 weight zero point and the
 *                                     int32 requantization multiplier and shift, which is how the file
 *                                     holds the scale s_in·s_w[o]/s_out (Jacob et al. 2018 eq. 5-6)
 *            + O · 4 if the layer has a bias (int32; a conv followed by BatchNorm gets the folded one)
 *
 * Only the first term depends on b. The file's JSON header (layer list, activation scales and zero
 * points, container framing: a few hundred bytes) is left out: it does not change with the bits.
 * At b = 8 the formula equals the bytes of the layer's arrays in today's int8 file exactly (tested).
 */
import { BatchNorm2d, Conv2d, Linear, type Sequential } from '../../nn/layers.js';

/** What the size formula needs to know about one quantizable layer. */
export interface QuantLayerInfo {
  /** The float model's child name: the key of `QatConfig.layers` ('0', '4', ...). */
  name: string;
  kind: 'conv2d' | 'linear';
  weightCount: number;
  outChannels: number;
  /** True when the converted layer stores an int32 bias (its own, or BatchNorm's folded shift). */
  hasBias: boolean;
}

/** Bytes per output channel that do not depend on the bit width (int8 file: zero point, multiplier, shift). */
export const CHANNEL_OVERHEAD_BYTES = 4 + 4 + 4;
/** Bytes per output channel of an int32 bias. */
export const BIAS_BYTES = 4;

/** Bit widths a weight tensor can be packed at (the int8 engine holds levels within 8 bits). */
export const MIN_WEIGHT_BITS = 1;
export const MAX_WEIGHT_BITS = 8;

export function checkBits(bits: number, who: string): void {
  if (!Number.isInteger(bits) || bits < MIN_WEIGHT_BITS || bits > MAX_WEIGHT_BITS) {
    throw new Error(`${who}: bits must be an integer from ${MIN_WEIGHT_BITS} to ${MAX_WEIGHT_BITS}, got ${bits}`);
  }
}

/** ceil(n·b/8): n levels of b bits packed densely into bytes. */
export function packedWeightBytes(weightCount: number, bits: number): number {
  if (!Number.isSafeInteger(weightCount) || weightCount < 0) throw new Error(`packedWeightBytes: weightCount must be a non-negative integer, got ${weightCount}`);
  checkBits(bits, 'packedWeightBytes');
  return Math.ceil((weightCount * bits) / 8);
}

/** The analytic packed size of one layer at `bits` (formula in the file comment). */
export function packedLayerBytes(layer: QuantLayerInfo, bits: number): number {
  checkBits(bits, `packedLayerBytes (layer '${layer.name}')`);
  return packedWeightBytes(layer.weightCount, bits) + layer.outChannels * (CHANNEL_OVERHEAD_BYTES + (layer.hasBias ? BIAS_BYTES : 0));
}

/** The packed size of a whole configuration: every layer at its bits (a missing layer is an error). */
export function packedModelBytes(layers: readonly QuantLayerInfo[], bitsByLayer: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const layer of layers) {
    const bits = bitsByLayer[layer.name];
    if (bits === undefined) throw new Error(`packedModelBytes: no bit width for layer '${layer.name}' (given: ${Object.keys(bitsByLayer).join(', ') || 'none'})`);
    total += packedLayerBytes(layer, bits);
  }
  return total;
}

/**
 * The conv2d / linear children of a Sequential, named as prepareQAT's layer overrides name them.
 * A conv followed by a BatchNorm2d gets a bias when converted (the folded β − γ·μ/σ).
 */
export function quantizableLayers(model: Sequential): QuantLayerInfo[] {
  const children = model.namedChildren();
  const out: QuantLayerInfo[] = [];
  children.forEach(([name, m], i) => {
    if (m instanceof Conv2d) {
      const bn = children[i + 1]?.[1] instanceof BatchNorm2d;
      out.push({ name, kind: 'conv2d', weightCount: m.weight.size, outChannels: m.weight.shape[0], hasBias: m.bias !== null || bn });
    } else if (m instanceof Linear) {
      out.push({ name, kind: 'linear', weightCount: m.weight.size, outChannels: m.weight.shape[0], hasBias: m.bias !== null });
    }
  });
  return out;
}

/**
 * Mixed precision by sensitivity: measure how much each layer suffers at each bit width
 * (sensitivity.ts), price each width in packed bytes (size.ts), and choose bits per layer on the
 * exact Pareto frontier of (size, estimated loss) under a budget (allocate.ts).
 */
export {
  packedWeightBytes, packedLayerBytes, packedModelBytes, quantizableLayers, CHANNEL_OVERHEAD_BYTES, BIAS_BYTES,
  MIN_WEIGHT_BITS, MAX_WEIGHT_BITS, type QuantLayerInfo,
} from './size.js';
export { paretoFrontier, allocateBits, minimumBytes, type LayerOption, type LayerChoices, type FrontierPoint } from './allocate.js';
export { measureSensitivity, layerChoices, type SensitivityOptions, type SensitivityEntry, type SensitivityTable } from './sensitivity.js';

/**
 * qgrad/testing: a conformance kit for quantization kernels written elsewhere (WGSL, WebAssembly,
 * C, Rust, ...). Wrap the kernels as a KernelsUnderTest, name the convention (PyTorch or TFLite)
 * and tie rule they claim, and run the property suites standalone (runConformance) or under vitest
 * (registerConformance); or write golden vectors (vectors.ts) for a harness in another language.
 * docs/conformance.md walks through it. Needs fast-check (an optional peer dependency of qgrad).
 */
export {
  nextFloat32,
  scaledInput,
  tieInput,
  arbRange,
  arbScale,
  arbRounding,
  arbZeroPoint,
  arbQParams,
  arbInput,
  arbLevel,
  arbQuantizeCase,
  arbPerChannelCase,
  arbQuantizedMultiplier,
  arbAccumulator,
  arbInt8ArithCase,
  type RangeCase,
  type QParamsArbOptions,
} from './arbitraries.js';
export { CONVENTIONS, defaultRounding, reference, type Convention, type Reference } from './convention.js';
export { type FailureKind, type Product, type TieRule, matchingHypotheses, probeInputs } from './diagnose.js';
export type { KernelsUnderTest, Int8ArithKernel } from './kernels.js';
export {
  SEED,
  DEFAULT_NUM_RUNS,
  SUITE_NAMES,
  runConformance,
  conformanceChecks,
  registerConformance,
  formatReport,
  formatSuiteResult,
  type ConformanceOptions,
  type ConformanceReport,
  type SuiteResult,
  type Counterexample,
  type TestRegistrar,
} from './suites.js';
export { referenceKernels, fastInt8Kernels, tensorKernels } from './qgrad-kernels.js';
export {
  VECTOR_FORMAT,
  VECTOR_VERSION,
  VECTOR_MAGIC,
  QUANT_FLAGS,
  REQUANT_FLAGS,
  generateVectors,
  buildQuantVectors,
  encodeVectors,
  decodeVectors,
  validateOutputs,
  checkOutputs,
  formatCheck,
  type VectorSet,
  type VectorGroup,
  type QuantVector,
  type RequantVector,
  type QuantFlag,
  type RequantFlag,
  type VectorOptions,
  type GroupInputs,
  type VectorOutputs,
  type Mismatch,
  type CheckResult,
} from './vectors.js';

/**
 * The elementwise ops as JavaScript expressions over `x` (unary) or `a`, `b` (binary): the one
 * definition every backend starts from. The cpu backend compiles each into a loop
 * (cpu/elementwise.ts); the gpu backend hands them to gpu.js (gpu/kernels/elementwise.ts), which
 * overrides only what GLSL cannot take; the wasm backend's SIMD kernels
 * (wasm/elementwise-kernels.ts) are tested bit for bit against the cpu loops built from these.
 */
import type { BinaryOp, UnaryOp } from './backend.js';

/** Expressions over `x` (unary) or `a`, `b` (binary). NaN behaviour follows PyTorch where cheap. */
export const UNARY_EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  sqrt: 'Math.sqrt(x)',
  abs: 'Math.abs(x)',
  relu: '(x < 0 ? 0 : x)',
  sigmoid: '1 / (1 + Math.exp(-x))',
  tanh: 'Math.tanh(x)',
  sign: 'Math.sign(x)',
  floor: 'Math.floor(x)',
  ceil: 'Math.ceil(x)',
  reciprocal: '1 / x',
  square: 'x * x',
  step: '(x > 0 ? 1 : 0)',
  identity: 'x',
};

export const BINARY_EXPR: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  pow: 'Math.pow(a, b)',
  maximum: 'Math.max(a, b)',
  minimum: 'Math.min(a, b)',
  eq: '(a === b ? 1 : 0)',
  ne: '(a !== b ? 1 : 0)',
  lt: '(a < b ? 1 : 0)',
  le: '(a <= b ? 1 : 0)',
  gt: '(a > b ? 1 : 0)',
  ge: '(a >= b ? 1 : 0)',
  reluBackward: '(b <= 0 ? 0 : a)',
};

/**
 * qgrad: a from-scratch tensor and reverse-mode autograd engine, with a quantization library
 * (fake quantization with a straight-through estimator, QAT, PTQ, integer-only int8 inference).
 */
export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './nn/index.js';
export * as io from './io/index.js';
export * as quant from './quant/index.js';

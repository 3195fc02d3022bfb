/** Test helpers shared by the backend suites: generators, the naive reference, assertions. */
export * from './arbitraries.js';
export * from './assert.js';
export * as R from './reference.js';
export type { NDArray } from './reference.js';

/** Public surface of autograd: Function/Context, backward, grad mode, gradCheck and the functional ops. */
import './methods.js';
export { Function, Context, Node } from './function.js';
export { backward, zeroGrad, type BackwardOptions } from './engine.js';
export { noGrad, isGradEnabled } from './grad-mode.js';
export { gradCheck, type GradCheckResult, type GradCheckOptions } from './gradcheck.js';
export * as F from './functional.js';

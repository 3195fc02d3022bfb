/**
 * A custom differentiable operation, written the way every built-in op is (src/autograd/function.ts):
 * a class with a static forward and backward, applied with `apply`. Compiled by `npm run typecheck`
 * (strict, noImplicitOverride: hence `static override`) and run by test/autograd/custom-function.test.ts.
 *
 *   npx tsx examples/custom-function.ts
 */
import { Context, Function, fromArray, type Tensor } from '../src/index.js';

/** y = x², with dy/dx = 2x saved from the forward pass. */
export class Square extends Function {
  static override forward(ctx: Context, x: Tensor): Tensor {
    ctx.saveForBackward(x);
    return x.mul(x);
  }
  static override backward(ctx: Context, g: Tensor) {
    const [x] = ctx.savedTensors;
    return [g.mul(x).mul(2)];
  }
}

export function demo(): { y: number[]; grad: number[] } {
  const x = fromArray([1, -2, 3], [3], { requiresGrad: true });
  const y = Square.apply(x);
  y.sum().backward();
  return { y: Array.from(y.toTypedArray()), grad: Array.from(x.grad!.toTypedArray()) };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(demo());

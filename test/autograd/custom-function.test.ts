/**
 * The custom-Function example of src/autograd/function.ts, kept as examples/custom-function.ts so
 * that `npm run typecheck` compiles it; here it runs, and its gradient is checked against the
 * closed form d(x²)/dx = 2x. The doc comment must show the same class.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { demo, Square } from '../../examples/custom-function.js';
import { fromArray } from '../../src/index.js';

describe('the custom Function example', () => {
  it('runs: y = x², dy/dx = 2x', () => {
    expect(demo()).toEqual({ y: [1, 4, 9], grad: [2, -4, 6] });
    const x = fromArray([0.5, -1.5], [2], { requiresGrad: true });
    Square.apply(x).sum().backward();
    expect(Array.from(x.grad!.toTypedArray())).toEqual([1, -3]);
  });

  it('is the example the doc comment of src/autograd/function.ts shows (with static override)', () => {
    const doc = readFileSync(new URL('../../src/autograd/function.ts', import.meta.url), 'utf8');
    expect(doc).toContain('static override forward(ctx: Context, x: Tensor) { ctx.saveForBackward(x); return x.mul(x); }');
    expect(doc).toContain('examples/custom-function.ts');
  });
});

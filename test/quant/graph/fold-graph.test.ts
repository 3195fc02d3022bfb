import { describe, expect, it } from 'vitest';
import { Generator, noGrad } from '../../../src/index.js';
import { BatchNorm2d, MnistResNet, trace } from '../../../src/nn/index.js';
import { fuseConvBnGraph } from '../../../src/quant/index.js';
import { batchTensor } from './helpers.js';

describe('BN folding on a traced graph', () => {
  it('removes every BatchNorm2d of the residual network and keeps its eval output (to float rounding)', () => {
    const model = new MnistResNet({ channels: 4, generator: new Generator(5) });
    noGrad(() => { for (let i = 0; i < 3; i++) model.call(batchTensor(40 + i, 8, [1, 12, 12])); });
    model.eval();
    const gm = trace(model, batchTensor(1, 2, [1, 12, 12]));
    const fused = fuseConvBnGraph(gm);
    fused.eval();
    const bns = (g: typeof gm) => g.graph.nodes.filter((n) => n.op === 'call_module' && g.moduleAt(n.target) instanceof BatchNorm2d).length;
    expect(bns(gm)).toBe(8);
    expect(bns(fused)).toBe(0);
    expect(fused.graph.nodes.length).toBe(gm.graph.nodes.length - 8);
    const x = batchTensor(2, 4, [1, 12, 12]);
    const a = noGrad(() => model.call(x).toTypedArray());
    const b = noGrad(() => fused.call(x).toTypedArray());
    let worst = 0, scale = 0;
    for (let i = 0; i < a.length; i++) { worst = Math.max(worst, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(a[i])); }
    expect(worst).toBeLessThan(1e-5 * Math.max(1, scale));
  });
});

/**
 * One dtype promotion rule for every binary op, matmul and where included (issue 11, item 5):
 * PyTorch's for these three dtypes (any float wins over int32, float64 over float32), with true
 * division (int32 / int32 is float32) and comparisons giving float32 0/1 (qgrad has no bool dtype).
 * The expected dtypes are this table, written from the rule, not read from the library.
 */
import { describe, expect, it } from 'vitest';
import { F, fromArray, type DType, type Tensor } from '../../src/index.js';
import { onEachDevice } from '../helpers/devices.js';

const DTYPES: DType[] = ['int32', 'float32', 'float64'];
const rank: Record<DType, number> = { int32: 0, float32: 1, float64: 2 };
const promoted = (a: DType, b: DType): DType => (rank[a] >= rank[b] ? a : b);

type Op = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'lt' | 'eq' | 'matmul' | 'where';
const expected = (op: Op, a: DType, b: DType): DType => {
  if (op === 'lt' || op === 'eq') return 'float32';
  const p = promoted(a, b);
  if ((op === 'div' || op === 'pow') && p === 'int32') return 'float32';
  return p;
};

const run = (op: Op, x: Tensor, y: Tensor): Tensor => {
  switch (op) {
    case 'add': return F.add(x, y);
    case 'sub': return F.sub(x, y);
    case 'mul': return F.mul(x, y);
    case 'div': return F.div(x, y);
    case 'pow': return F.pow(x, y);
    case 'maximum': return F.maximum(x, y);
    case 'minimum': return F.minimum(x, y);
    case 'lt': return F.lt(x, y);
    case 'eq': return F.eq(x, y);
    case 'matmul': return F.matmul(x, y);
    case 'where': return F.where(fromArray([1, 0], [2], { dtype: 'float32' }), x, y);
  }
};

onEachDevice(() => {
  describe('dtype promotion', () => {
    const ops: Op[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'lt', 'eq', 'matmul', 'where'];
    for (const op of ops) {
      it(`${op}: every pair of dtypes, both orders`, () => {
        for (const a of DTYPES) {
          for (const b of DTYPES) {
            const x = fromArray([2, 3], [2], { dtype: a }), y = fromArray([1, 2], [2], { dtype: b });
            expect(run(op, x, y).dtype, `${op}(${a}, ${b})`).toBe(expected(op, a, b));
          }
        }
      });
    }

    it('matmul keeps the float part: int32 [1,2] @ float32 [[0.5],[0.5]] is float32 [1.5] (was int32 [1])', () => {
      const y = fromArray([1, 2], [1, 2], { dtype: 'int32' }).matmul(fromArray([0.5, 0.5], [2, 1]));
      expect(y.dtype).toBe('float32');
      expect(Array.from(y.toTypedArray())).toEqual([1.5]);
      const z = fromArray([0.5, 0.25], [1, 2], { dtype: 'float64' }).matmul(fromArray([3, 4], [2], { dtype: 'int32' }));
      expect(z.dtype).toBe('float64');
      expect(Array.from(z.toTypedArray())).toEqual([2.5]);
    });

    it('int32 @ int32 stays int32 and exact', () => {
      const y = fromArray([1, 2, 3, 4], [2, 2], { dtype: 'int32' }).matmul(fromArray([5, 6, 7, 8], [2, 2], { dtype: 'int32' }));
      expect(y.dtype).toBe('int32');
      expect(y.toArray()).toEqual([[19, 22], [43, 50]]);
    });

    it('a number operand counts as int32 when it is an integer, else float32', () => {
      const i = fromArray([1, 2], [2], { dtype: 'int32' });
      expect(F.add(i, 2).dtype).toBe('int32');
      expect(F.add(i, 0.5).dtype).toBe('float32');
      expect(Array.from(F.add(i, 0.5).toTypedArray())).toEqual([1.5, 2.5]);
      expect(F.add(fromArray([1], [1], { dtype: 'float64' }), 0.1).dtype).toBe('float64');
    });
  });
});

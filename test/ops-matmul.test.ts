import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { type Tensor, tensor } from '../index.js';
import { matmulShapesArb, tensorArb } from '../testing/arbitraries.js';
import { RUNS, assertClose, assertGradcheck, assertGradgradcheck, broadcastRead, inputArb, numel, unravel, valuesOf } from './core-helpers.js';

/**
 * matmul by a triple loop under NumPy's rules: a 1-D left operand is a row vector and a 1-D
 * right operand a column vector (their added dim is dropped from the result), and batch dims
 * broadcast.
 */
function matmulReference(a: Tensor, b: Tensor, outShape: readonly number[]): number[] {
  const aShape = a.ndim === 1 ? [1, a.shape[0]] : a.shape;
  const bShape = b.ndim === 1 ? [b.shape[0], 1] : b.shape;
  const [m, k] = aShape.slice(-2);
  const n = bShape[bShape.length - 1];
  const aValues = valuesOf(a);
  const bValues = valuesOf(b);
  const batchShape = outShape.slice(0, outShape.length - (a.ndim === 1 ? 0 : 1) - (b.ndim === 1 ? 0 : 1));
  const out: number[] = [];
  for (let p = 0; p < numel(batchShape); p++) {
    const batch = unravel(p, batchShape);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let total = 0;
        for (let l = 0; l < k; l++) {
          total += broadcastRead(aValues, aShape, [...batch, i, l]) * broadcastRead(bValues, bShape, [...batch, l, j]);
        }
        out.push(total);
      }
    }
  }
  return out;
}

const operands = matmulShapesArb({ maxBatchRank: 2, maxSize: 3 }).chain((shapes) =>
  fc.record({ shapes: fc.constant(shapes), a: inputArb(shapes.a), b: inputArb(shapes.b) }),
);

describe('matmul', () => {
  it('forward matches a triple loop with NumPy 1-D and batch rules', () => {
    fc.assert(
      fc.property(operands, ({ shapes, a, b }) => {
        const out = a.matmul(b);
        assert.deepEqual(out.shape, shapes.out);
        assertClose(valuesOf(out), matmulReference(a, b, shapes.out), { atol: 1e-12 });
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('float32 forward matches the float64 loop', () => {
    const float32 = matmulShapesArb({ maxSize: 4 }).chain((shapes) =>
      fc.record({ shapes: fc.constant(shapes), a: tensorArb({ shape: shapes.a, dtype: 'float32' }), b: tensorArb({ shape: shapes.b, dtype: 'float32' }) }),
    );
    fc.assert(
      fc.property(float32, ({ shapes, a, b }) => {
        const out = a.matmul(b);
        assert.equal(out.dtype, 'float32');
        assertClose(valuesOf(out), matmulReference(a, b, shapes.out), { atol: 1e-5, rtol: 1e-5 });
      }),
      { numRuns: RUNS },
    );
  });

  it('1-D cases give the NumPy shapes', () => {
    const v = tensor([1, 2, 3], { dtype: 'float64' });
    const m = tensor([[1, 0], [0, 1], [1, 1]], { dtype: 'float64' });
    const dot = v.matmul(v);
    assert.deepEqual(dot.shape, []);
    assert.equal(dot.item(), 14);
    assert.deepEqual(v.matmul(m).toArray(), [4, 5]);
    assert.deepEqual(m.T.matmul(v).toArray(), [4, 5]);
    const batch = S.stack([m.T, m.T.mul(2)]);
    assert.deepEqual(batch.matmul(v).toArray(), [[4, 5], [8, 10]]);
  });

  it('batch dims broadcast', () => {
    const a = S.ones([2, 1, 2, 3], { dtype: 'float64' });
    const b = S.ones([4, 3, 5], { dtype: 'float64' });
    const out = a.matmul(b);
    assert.deepEqual(out.shape, [2, 4, 2, 5]);
    assert.ok(valuesOf(out).every((v) => v === 3));
  });

  it('passes gradcheck', () => {
    assertGradcheck(operands.map(({ a, b }) => [a, b]), (a, b) => a.matmul(b), RUNS * 2);
  });

  it('passes gradgradcheck', () => {
    assertGradgradcheck(operands.map(({ a, b }) => [a, b]), (a, b) => a.matmul(b));
  });

  it('mm multiplies 2-D tensors', () => {
    const a = tensor([[1, 2], [3, 4]]);
    const b = tensor([[5, 6], [7, 8]]);
    assert.deepEqual(a.mm(b).toArray(), [[19, 22], [43, 50]]);
    assert.throws(() => S.mm(tensor([1, 2]), b), S.ShapeError);
  });

  it('bmm multiplies batches of equal size', () => {
    const a = S.stack([tensor([[1, 2], [3, 4]]), tensor([[0, 1], [1, 0]])]);
    const b = S.stack([tensor([[5, 6], [7, 8]]), tensor([[5, 6], [7, 8]])]);
    assert.deepEqual(S.bmm(a, b).toArray(), [[[19, 22], [43, 50]], [[7, 8], [5, 6]]]);
    assert.throws(() => S.bmm(a, S.zeros([1, 2, 2])), S.ShapeError);
  });

  /** Input of shape [...batch, in], weight [out, in] and an optional bias [out]. */
  const linearCases = fc
    .record({
      batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
      inFeatures: fc.integer({ min: 1, max: 3 }),
      outFeatures: fc.integer({ min: 1, max: 3 }),
      withBias: fc.boolean(),
    })
    .chain(({ batch, inFeatures, outFeatures, withBias }) =>
      fc.record({
        x: inputArb([...batch, inFeatures]),
        weight: inputArb([outFeatures, inFeatures]),
        bias: withBias ? inputArb([outFeatures]).map((t): Tensor | null => t) : fc.constant(null),
      }),
    );

  it('linear computes x W^T + b', () => {
    fc.assert(
      fc.property(linearCases, ({ x, weight, bias }) => {
        const out = S.linear(x, weight, bias);
        const [outFeatures, inFeatures] = weight.shape;
        const rows = valuesOf(x);
        const w = valuesOf(weight);
        const b = bias === null ? null : valuesOf(bias);
        const expected: number[] = [];
        for (let r = 0; r < rows.length / inFeatures; r++) {
          for (let o = 0; o < outFeatures; o++) {
            let total = b === null ? 0 : b[o];
            for (let i = 0; i < inFeatures; i++) total += rows[r * inFeatures + i] * w[o * inFeatures + i];
            expected.push(total);
          }
        }
        assert.deepEqual(out.shape, [...x.shape.slice(0, -1), outFeatures]);
        assertClose(valuesOf(out), expected, { atol: 1e-12 });
      }),
      { numRuns: RUNS },
    );
  });

  it('linear passes gradcheck', () => {
    fc.assert(
      fc.property(linearCases, ({ x, weight, bias }) =>
        bias === null ? S.gradcheck((a, w) => S.linear(a, w), [x, weight]) : S.gradcheck((a, w, c) => S.linear(a, w, c), [x, weight, bias]),
      ),
      { numRuns: RUNS },
    );
  });
});

import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { tensor } from '../index.js';
import { shapeArb } from '../testing/arbitraries.js';
import { RUNS, assertClose, assertGradgradcheck, inputArb, ravel, unravel, valuesOf } from './core-helpers.js';

/** softmax along `dim` straight from the definition exp(x_i) / sum_j exp(x_j), with no max shift. */
function softmaxReference(values: number[], shape: number[], dim: number): number[] {
  return values.map((_, i) => {
    const index = unravel(i, shape);
    let total = 0;
    for (let j = 0; j < shape[dim]; j++) {
      const other = [...index];
      other[dim] = j;
      total += Math.exp(values[ravel(other, shape)]);
    }
    return Math.exp(values[i]) / total;
  });
}

const cases = shapeArb({ minRank: 1, maxSize: 3 }).chain((shape) =>
  fc.record({ shape: fc.constant(shape), dim: fc.integer({ min: -shape.length, max: shape.length - 1 }), x: inputArb(shape, { min: -5, max: 5 }) }),
);

describe('softmax and logSoftmax', () => {
  it('softmax matches the definition', () => {
    fc.assert(
      fc.property(cases, ({ shape, dim, x }) => {
        const d = dim < 0 ? dim + shape.length : dim;
        const out = x.softmax(dim);
        assert.deepEqual(out.shape, shape);
        assertClose(valuesOf(out), softmaxReference(valuesOf(x), shape, d), { atol: 1e-15, rtol: 1e-13 });
      }),
      { numRuns: RUNS },
    );
  });

  it('logSoftmax matches the log of the definition', () => {
    fc.assert(
      fc.property(cases, ({ shape, dim, x }) => {
        const d = dim < 0 ? dim + shape.length : dim;
        const out = S.logSoftmax(x, dim);
        assertClose(valuesOf(out), softmaxReference(valuesOf(x), shape, d).map(Math.log), { atol: 1e-13, rtol: 1e-13 });
      }),
      { numRuns: RUNS },
    );
  });

  it('softmax rows sum to 1', () => {
    fc.assert(
      fc.property(cases, ({ dim, x }) => {
        const totals = valuesOf(x.softmax(dim).sum(dim));
        assertClose(totals, totals.map(() => 1), { atol: 1e-14 });
      }),
      { numRuns: RUNS },
    );
  });

  it('softmax matches hand-computed values', () => {
    // e^0, e^1, e^2 normalized: 1 / (1 + e + e^2) = 0.09003057317038046.
    const out = tensor([0, 1, 2], { dtype: 'float64' }).softmax();
    assertClose(valuesOf(out), [0.09003057317038046, 0.24472847105479764, 0.6652409557748219], { atol: 1e-16 });
  });

  it('softmax passes gradcheck', () => {
    fc.assert(fc.property(cases, ({ dim, x }) => S.gradcheck((t) => t.softmax(dim), [x])), { numRuns: RUNS });
  });

  it('logSoftmax passes gradcheck', () => {
    fc.assert(fc.property(cases, ({ dim, x }) => S.gradcheck((t) => t.logSoftmax(dim), [x])), { numRuns: RUNS });
  });

  it('softmax passes gradgradcheck', () => {
    const small = shapeArb({ minRank: 1, maxRank: 2, maxSize: 3 }).chain((shape) => inputArb(shape).map((x) => [x]));
    assertGradgradcheck(small, (t) => t.softmax(0));
    assertGradgradcheck(small, (t) => t.softmax(-1));
  });

  it('logSoftmax passes gradgradcheck', () => {
    const small = shapeArb({ minRank: 1, maxRank: 2, maxSize: 3 }).chain((shape) => inputArb(shape).map((x) => [x]));
    assertGradgradcheck(small, (t) => t.logSoftmax(0));
    assertGradgradcheck(small, (t) => t.logSoftmax(-1));
  });

  it('a 0-d tensor is a row of one element', () => {
    const x = tensor(3, { dtype: 'float64', requiresGrad: true });
    assert.equal(x.softmax(0).item(), 1);
    assert.equal(x.logSoftmax(-1).item(), 0);
    assert.ok(S.gradcheck((t) => t.softmax(0).mul(t), [x]));
  });

  it('float32 softmax stays float32', () => {
    const out = tensor([[1, 2], [3, 5]]).softmax(0);
    assert.equal(out.dtype, 'float32');
    assertClose(valuesOf(out), [1 / (1 + Math.E ** 2), 1 / (1 + Math.E ** 3), 1 / (1 + Math.E ** -2), 1 / (1 + Math.E ** -3)], { atol: 1e-7 });
  });
});

import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { tensor } from '../index.js';
import { shapeArb, tensorArb } from '../testing/arbitraries.js';
import { RUNS, assertClose, inputArb, numel, ravel, unravel, valuesOf } from './core-helpers.js';

/** An input shape, a dim, and an index shape that fits gather (no larger than the input outside dim). */
const gatherCases = shapeArb({ minRank: 1, maxSize: 3 }).chain((shape) =>
  fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) =>
    fc
      .tuple(...shape.map((size, d) => fc.integer({ min: d === dim ? 0 : 1, max: d === dim ? 4 : size })))
      .chain((indexShape) =>
        fc.record({
          dim: fc.constant(dim),
          negativeDim: fc.boolean(),
          x: inputArb(shape),
          // Negative indices count from the end, as in PyTorch.
          index: tensorArb({ shape: indexShape, dtype: 'int32', min: -shape[dim], max: shape[dim] - 1 }),
        }),
      ),
  ),
);

describe('indexing ops', () => {
  it('gather reads x at index along dim', () => {
    fc.assert(
      fc.property(gatherCases, ({ dim, negativeDim, x, index }) => {
        const out = x.gather(negativeDim ? dim - x.ndim : dim, index);
        const xValues = valuesOf(x);
        const indices = valuesOf(index);
        const size = x.shape[dim];
        const expected = indices.map((at, i) => {
          const position = unravel(i, index.shape);
          position[dim] = at < 0 ? at + size : at;
          return xValues[ravel(position, x.shape)];
        });
        assert.deepEqual(out.shape, index.shape);
        assert.deepEqual(valuesOf(out), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('gather passes gradcheck', () => {
    // Repeated indices make the backward accumulate, which gradcheck covers.
    fc.assert(fc.property(gatherCases, ({ dim, x, index }) => S.gradcheck((t) => t.gather(dim, index), [x])), { numRuns: RUNS });
  });

  /** x, and src at least as large as index in every dim; index no larger than x outside dim. */
  const scatterCases = gatherCases.chain(({ dim, x, index }) =>
    fc
      .tuple(...index.shape.map((size) => fc.integer({ min: size, max: size + 1 })))
      .chain((srcShape) => fc.record({ dim: fc.constant(dim), x: fc.constant(x), index: fc.constant(index), src: inputArb(srcShape) })),
  );

  it('scatterAdd adds src at index along dim', () => {
    fc.assert(
      fc.property(scatterCases, ({ dim, x, index, src }) => {
        const out = x.scatterAdd(dim, index, src);
        const expected = valuesOf(x);
        const srcValues = valuesOf(src);
        const size = x.shape[dim];
        valuesOf(index).forEach((at, i) => {
          const position = unravel(i, index.shape);
          const from = ravel(position, src.shape);
          position[dim] = at < 0 ? at + size : at;
          expected[ravel(position, x.shape)] += srcValues[from];
        });
        assert.deepEqual(out.shape, x.shape);
        assertClose(valuesOf(out), expected, { atol: 1e-14 });
      }),
      { numRuns: RUNS },
    );
  });

  it('scatterAdd passes gradcheck for input and src', () => {
    fc.assert(fc.property(scatterCases, ({ dim, x, index, src }) => S.gradcheck((a, b) => a.scatterAdd(dim, index, b), [x, src])), { numRuns: RUNS });
  });

  it('scatterAdd accumulates repeated indices', () => {
    const out = S.zeros([3]).scatterAdd(0, tensor([0, 2, 0, 0], { dtype: 'int32' }), tensor([1, 2, 3, 4]));
    assert.deepEqual(valuesOf(out), [8, 0, 2]);
  });

  /** An input, a dim and a 1-D index of any length (repeats allowed) into that dim. */
  const selectCases = shapeArb({ minRank: 1, maxSize: 3 }).chain((shape) =>
    fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) =>
      fc.record({
        dim: fc.constant(dim),
        x: inputArb(shape),
        index: tensorArb({ shape: fc.tuple(fc.integer({ min: 0, max: 5 })), dtype: 'int32', min: -shape[dim], max: shape[dim] - 1 }),
      }),
    ),
  );

  it('indexSelect takes whole slices', () => {
    fc.assert(
      fc.property(selectCases, ({ dim, x, index }) => {
        const out = x.indexSelect(dim, index);
        const outShape = x.shape;
        outShape[dim] = index.numel();
        const size = x.shape[dim];
        const indices = valuesOf(index).map((at) => (at < 0 ? at + size : at));
        const xValues = valuesOf(x);
        const expected: number[] = [];
        for (let i = 0; i < numel(outShape); i++) {
          const position = unravel(i, outShape);
          position[dim] = indices[position[dim]];
          expected.push(xValues[ravel(position, x.shape)]);
        }
        assert.deepEqual(out.shape, outShape);
        assert.deepEqual(valuesOf(out), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('indexSelect passes gradcheck', () => {
    fc.assert(fc.property(selectCases, ({ dim, x, index }) => S.gradcheck((t) => t.indexSelect(dim, index), [x])), { numRuns: RUNS });
  });

  it('indexAdd is the adjoint of indexSelect', () => {
    // <indexSelect(x), y> = <x, indexAdd(y)> for every x and y.
    fc.assert(
      fc.property(selectCases, ({ dim, x, index }) => {
        const selected = x.indexSelect(dim, index);
        const y = S.randn(selected.shape, { dtype: 'float64', generator: new S.Generator(index.numel()) });
        const left = selected.mul(y).sum().item();
        const right = x.mul(S.indexAdd(x.shape, dim, index, y)).sum().item();
        assertClose([left], [right], { atol: 1e-12 });
      }),
      { numRuns: RUNS },
    );
  });

  it('indexAdd takes a negative dim', () => {
    const out = S.indexAdd([2, 3], -1, tensor([0, 2, 0], { dtype: 'int32' }), tensor([[1, 2, 3], [4, 5, 6]]));
    assert.deepEqual(out.toArray(), [[4, 0, 2], [10, 0, 5]]);
  });

  it('indexAdd passes gradcheck', () => {
    fc.assert(
      fc.property(selectCases, ({ dim, x, index }) => {
        const shape = x.shape;
        const srcShape = [...shape];
        srcShape[dim] = index.numel();
        const src = S.randn(srcShape, { dtype: 'float64', generator: new S.Generator(7) }).requiresGrad_();
        return S.gradcheck((t) => S.indexAdd(shape, dim, index, t), [src]);
      }),
      { numRuns: RUNS },
    );
  });
});

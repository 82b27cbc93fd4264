import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { type Tensor, tensor } from '../index.js';
import { shapeArb, tensorArb } from '../testing/arbitraries.js';
import { RUNS, assertClose, assertGradcheck, inputArb, numel, ravel, unravel, valuesOf } from './core-helpers.js';

/**
 * Values of an output of `outShape` whose element at multi-index i is the input element at
 * `source(i)`: the index arithmetic of a movement op, written independently of the library.
 */
function gatherReference(x: Tensor, outShape: readonly number[], source: (index: number[]) => number[]): number[] {
  const values = valuesOf(x);
  const out: number[] = [];
  for (let i = 0; i < numel(outShape); i++) out.push(values[ravel(source(unravel(i, outShape)), x.shape)]);
  return out;
}

/** Checks shape and values of `out` against the index map `source`. */
function assertMovement(out: Tensor, x: Tensor, outShape: readonly number[], source: (index: number[]) => number[]): void {
  assert.deepEqual(out.shape, [...outShape]);
  assertClose(valuesOf(out), gatherReference(x, outShape, source), { atol: 0, rtol: 0 });
}

/** A shape and an input with that shape (contiguous or strided), for forward and gradient checks. */
const inputs = (options: Parameters<typeof shapeArb>[0] = {}) =>
  shapeArb({ maxSize: 3, ...options }).chain((shape) => fc.tuple(fc.constant(shape), inputArb(shape)));

/**
 * Generates another shape with `shape`'s element count (shuffled sizes, adjacent ones merged, 1s
 * inserted) and the index of one dim to write as -1, or -1 to write none.
 */
const reshapeTargetArb = (shape: number[]): fc.Arbitrary<[number[], number]> =>
  fc
    .record({
      order: fc.shuffledSubarray(shape, { minLength: shape.length, maxLength: shape.length }),
      merges: fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      ones: fc.array(fc.integer({ min: 0, max: shape.length }), { maxLength: 2 }),
    })
    .map(({ order, merges, ones }) => {
      const target: number[] = [];
      order.forEach((size, i) => {
        if (merges[i] && target.length > 0) target[target.length - 1] *= size;
        else target.push(size);
      });
      for (const at of ones) target.splice(Math.min(at, target.length), 0, 1);
      return target;
    })
    .chain((target) => fc.tuple(fc.constant(target), fc.integer({ min: -1, max: target.length - 1 })));

describe('shape ops', () => {
  it('reshape keeps row-major order', () => {
    const cases = inputs().chain(([shape, x]) => fc.tuple(fc.constant(x), reshapeTargetArb(shape)));
    fc.assert(
      fc.property(cases, ([x, [target, inferAt]]) => {
        const written = target.map((size, d) => (d === inferAt ? -1 : size));
        const out = x.reshape(written);
        assert.deepEqual(out.shape, target);
        assert.deepEqual(valuesOf(out), valuesOf(x));
      }),
      { numRuns: RUNS },
    );
  });

  it('reshape passes gradcheck', () => {
    const cases = inputs().chain(([shape, x]) => fc.tuple(fc.constant(x), reshapeTargetArb(shape)));
    fc.assert(fc.property(cases, ([x, [target]]) => S.gradcheck((t) => t.reshape(target).mul(t.reshape(target)), [x])), { numRuns: RUNS });
  });

  it('view of a contiguous tensor shares storage', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const v = x.view(3, 2);
    assert.equal(v.storage, x.storage);
    assert.deepEqual(v.toArray(), [[1, 2], [3, 4], [5, 6]]);
  });

  it('permute maps indices', () => {
    const cases = inputs({ minRank: 1 }).chain(([shape, x]) =>
      fc.tuple(fc.constant(x), fc.shuffledSubarray(shape.map((_, d) => d), { minLength: shape.length, maxLength: shape.length })),
    );
    fc.assert(
      fc.property(cases, ([x, order]) => {
        const outShape = order.map((d) => x.shape[d]);
        assertMovement(x.permute(order), x, outShape, (index) => {
          const source = new Array<number>(order.length);
          order.forEach((d, k) => (source[d] = index[k]));
          return source;
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('permute passes gradcheck', () => {
    const cases = inputs({ minRank: 1 }).chain(([shape, x]) =>
      fc.tuple(fc.constant(x), fc.shuffledSubarray(shape.map((_, d) => d), { minLength: shape.length, maxLength: shape.length })),
    );
    fc.assert(fc.property(cases, ([x, order]) => S.gradcheck((t) => t.permute(order), [x])), { numRuns: RUNS });
  });

  const transposeCases = inputs({ minRank: 2 }).chain(([shape, x]) =>
    fc.tuple(fc.constant(x), fc.integer({ min: -shape.length, max: shape.length - 1 }), fc.integer({ min: -shape.length, max: shape.length - 1 })),
  );

  it('transpose swaps two dims', () => {
    fc.assert(
      fc.property(transposeCases, ([x, d0, d1]) => {
        const rank = x.ndim;
        const [a, b] = [(d0 + rank) % rank, (d1 + rank) % rank];
        const outShape = x.shape;
        [outShape[a], outShape[b]] = [outShape[b], outShape[a]];
        assertMovement(x.transpose(d0, d1), x, outShape, (index) => {
          const source = [...index];
          [source[a], source[b]] = [source[b], source[a]];
          return source;
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('transpose passes gradcheck', () => {
    fc.assert(fc.property(transposeCases, ([x, d0, d1]) => S.gradcheck((t) => t.transpose(d0, d1), [x])), { numRuns: RUNS });
  });

  it('mT and T reverse the last two and all dims', () => {
    const x = S.arange(24).reshape(2, 3, 4);
    assert.deepEqual(x.mT.shape, [2, 4, 3]);
    assert.equal(x.mT.get(1, 3, 2), x.get(1, 2, 3));
    assert.deepEqual(x.T.shape, [4, 3, 2]);
    assert.equal(x.T.get(3, 2, 1), x.get(1, 2, 3));
  });

  const squeezeCases = shapeArb({ minRank: 1, maxSize: 2 }).chain((shape) =>
    fc.tuple(fc.constant(shape), inputArb(shape), fc.option(fc.integer({ min: -shape.length, max: shape.length - 1 }), { nil: undefined })),
  );

  it('squeeze removes size-1 dims', () => {
    fc.assert(
      fc.property(squeezeCases, ([shape, x, dim]) => {
        const rank = shape.length;
        const target = dim === undefined ? null : (dim + rank) % rank;
        const expected = shape.filter((size, d) => size !== 1 || (target !== null && d !== target));
        const out = dim === undefined ? x.squeeze() : x.squeeze(dim);
        assert.deepEqual(out.shape, expected);
        assert.deepEqual(valuesOf(out), valuesOf(x));
      }),
      { numRuns: RUNS },
    );
  });

  it('squeeze passes gradcheck', () => {
    fc.assert(fc.property(squeezeCases, ([, x, dim]) => S.gradcheck((t) => t.squeeze(dim), [x])), { numRuns: RUNS });
  });

  const unsqueezeCases = inputs().chain(([shape, x]) => fc.tuple(fc.constant(shape), fc.constant(x), fc.integer({ min: -shape.length - 1, max: shape.length })));

  it('unsqueeze inserts a size-1 dim', () => {
    fc.assert(
      fc.property(unsqueezeCases, ([shape, x, dim]) => {
        const at = dim < 0 ? dim + shape.length + 1 : dim;
        const expected = [...shape.slice(0, at), 1, ...shape.slice(at)];
        const out = x.unsqueeze(dim);
        assert.deepEqual(out.shape, expected);
        assert.deepEqual(valuesOf(out), valuesOf(x));
      }),
      { numRuns: RUNS },
    );
  });

  it('unsqueeze passes gradcheck', () => {
    fc.assert(fc.property(unsqueezeCases, ([, x, dim]) => S.gradcheck((t) => t.unsqueeze(dim).mul(2), [x])), { numRuns: RUNS });
  });

  const flattenCases = inputs({ minRank: 1 }).chain(([shape, x]) =>
    fc
      .tuple(fc.integer({ min: 0, max: shape.length - 1 }), fc.integer({ min: 0, max: shape.length - 1 }))
      .map(([a, b]) => [x, Math.min(a, b), Math.max(a, b)] as const),
  );

  it('flatten merges a range of dims', () => {
    fc.assert(
      fc.property(flattenCases, ([x, start, end]) => {
        const shape = x.shape;
        const expected = [...shape.slice(0, start), numel(shape.slice(start, end + 1)), ...shape.slice(end + 1)];
        const out = x.flatten(start, end);
        assert.deepEqual(out.shape, expected);
        assert.deepEqual(valuesOf(out), valuesOf(x));
      }),
      { numRuns: RUNS },
    );
    assert.deepEqual(tensor(5).flatten().shape, [1]);
  });

  it('flatten passes gradcheck', () => {
    fc.assert(fc.property(flattenCases, ([x, start, end]) => S.gradcheck((t) => t.flatten(start, end), [x])), { numRuns: RUNS });
  });

  /** A small shape, and a target it expands to: size-1 dims grown, leading dims added, some written as -1. */
  const expandCases = shapeArb({ maxSize: 3 }).chain((shape) =>
    fc
      .record({
        x: inputArb(shape),
        grown: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: shape.length, maxLength: shape.length }),
        leading: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
        keep: fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      })
      .map(({ x, grown, leading, keep }) => {
        const grownShape = shape.map((size, d) => (size === 1 ? grown[d] : size));
        // -1 keeps the input's size, so a kept size-1 dim stays 1.
        const written = [...leading, ...grownShape.map((size, d) => (keep[d] ? -1 : size))];
        const target = [...leading, ...grownShape.map((size, d) => (keep[d] ? shape[d] : size))];
        return { x, target, written };
      }),
  );

  it('expand repeats size-1 dims without copying', () => {
    fc.assert(
      fc.property(expandCases, ({ x, target, written }) => {
        const out = x.expand(written);
        assert.equal(out.storage, x.storage);
        const skip = target.length - x.ndim;
        assertMovement(out, x, target, (index) => x.shape.map((size, d) => (size === 1 ? 0 : index[d + skip])));
      }),
      { numRuns: RUNS },
    );
  });

  it('expand passes gradcheck', () => {
    fc.assert(fc.property(expandCases, ({ x, written }) => S.gradcheck((t) => t.expand(written).mul(1.5), [x])), { numRuns: RUNS });
    fc.assert(fc.property(expandCases, ({ x, target }) => S.gradcheck((t) => t.expandAs(S.zeros(target, { dtype: 'float64' })), [x])), { numRuns: 10 });
  });

  /** dim, start, end (possibly negative or past the end) and step for slice. */
  const sliceCases = inputs({ minRank: 1, maxSize: 4 }).chain(([shape, x]) =>
    fc.record({
      x: fc.constant(x),
      dim: fc.integer({ min: 0, max: shape.length - 1 }),
      start: fc.integer({ min: -5, max: 5 }),
      end: fc.option(fc.integer({ min: -5, max: 6 }), { nil: undefined }),
      step: fc.integer({ min: 1, max: 3 }),
    }),
  );

  it('slice follows Python slicing with step', () => {
    fc.assert(
      fc.property(sliceCases, ({ x, dim, start, end, step }) => {
        const size = x.shape[dim];
        // Python: range(size)[start:end:step] for a positive step.
        const clamp = (i: number): number => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
        const picked: number[] = [];
        for (let i = clamp(start); i < clamp(end ?? size); i += step) picked.push(i);
        const outShape = x.shape;
        outShape[dim] = picked.length;
        assertMovement(x.slice(dim, start, end, step), x, outShape, (index) => index.map((v, d) => (d === dim ? picked[v] : v)));
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('slice passes gradcheck', () => {
    fc.assert(fc.property(sliceCases, ({ x, dim, start, end, step }) => S.gradcheck((t) => t.slice(dim, start, end, step), [x])), { numRuns: RUNS });
  });

  it('slice of a slice passes gradgradcheck', () => {
    const x = S.randn([5, 4], { dtype: 'float64', generator: new S.Generator(3) }).requiresGrad_();
    assert.ok(S.gradgradcheck((t) => t.slice(0, 1, undefined, 2).slice(1, 0, 3, 2).square(), [x]));
  });

  const narrowCases = inputs({ minRank: 1, maxSize: 4 }).chain(([shape, x]) =>
    fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) =>
      fc.integer({ min: 0, max: shape[dim] }).chain((length) =>
        fc.record({ x: fc.constant(x), dim: fc.constant(dim), length: fc.constant(length), start: fc.integer({ min: 0, max: shape[dim] - length }), negative: fc.boolean() }),
      ),
    ),
  );

  it('narrow takes length elements from start', () => {
    fc.assert(
      fc.property(narrowCases, ({ x, dim, start, length, negative }) => {
        const size = x.shape[dim];
        const written = negative && start < size ? start - size : start;
        const outShape = x.shape;
        outShape[dim] = length;
        assertMovement(x.narrow(dim, written, length), x, outShape, (index) => index.map((v, d) => (d === dim ? v + start : v)));
      }),
      { numRuns: RUNS },
    );
  });

  it('narrow passes gradcheck', () => {
    fc.assert(fc.property(narrowCases, ({ x, dim, start, length }) => S.gradcheck((t) => t.narrow(dim, start, length), [x])), { numRuns: RUNS });
  });

  const selectCases = inputs({ minRank: 1 }).chain(([shape, x]) =>
    fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) => fc.record({ x: fc.constant(x), dim: fc.constant(dim), index: fc.integer({ min: -shape[dim], max: shape[dim] - 1 }) })),
  );

  it('select picks one index and drops the dim', () => {
    fc.assert(
      fc.property(selectCases, ({ x, dim, index }) => {
        const at = index < 0 ? index + x.shape[dim] : index;
        const outShape = x.shape.filter((_, d) => d !== dim);
        assertMovement(x.select(dim, index), x, outShape, (i) => [...i.slice(0, dim), at, ...i.slice(dim)]);
      }),
      { numRuns: RUNS },
    );
  });

  it('select passes gradcheck', () => {
    fc.assert(fc.property(selectCases, ({ x, dim, index }) => S.gradcheck((t) => t.select(dim, index), [x])), { numRuns: RUNS });
  });

  /** One to three tensors that agree on every dim but `dim`. */
  const catCases = shapeArb({ minRank: 1, maxSize: 3 }).chain((shape) =>
    fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) =>
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }).chain((sizes) =>
        fc.record({
          dim: fc.constant(dim),
          negative: fc.boolean(),
          xs: fc.tuple(...sizes.map((size) => inputArb(shape.map((s, d) => (d === dim ? size : s))))),
        }),
      ),
    ),
  );

  it('cat joins along dim', () => {
    fc.assert(
      fc.property(catCases, ({ dim, negative, xs }) => {
        const out = S.cat(xs, negative ? dim - xs[0].ndim : dim);
        const starts: number[] = [];
        let total = 0;
        for (const x of xs) {
          starts.push(total);
          total += x.shape[dim];
        }
        const outShape = xs[0].shape;
        outShape[dim] = total;
        assert.deepEqual(out.shape, outShape);
        const expected: number[] = [];
        for (let i = 0; i < numel(outShape); i++) {
          const index = unravel(i, outShape);
          // The last input whose range along dim starts at or before the index (empty inputs own no range).
          let part = 0;
          xs.forEach((x, k) => {
            if (index[dim] >= starts[k] && x.shape[dim] > 0) part = k;
          });
          const local = index.map((v, d) => (d === dim ? v - starts[part] : v));
          expected.push(valuesOf(xs[part])[ravel(local, xs[part].shape)]);
        }
        assert.deepEqual(valuesOf(out), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('cat passes gradcheck', () => {
    fc.assert(fc.property(catCases, ({ dim, xs }) => S.gradcheck((...ts) => S.cat(ts, dim), xs)), { numRuns: RUNS });
  });

  const stackCases = shapeArb({ maxSize: 3 }).chain((shape) =>
    fc.record({
      dim: fc.integer({ min: -shape.length - 1, max: shape.length }),
      xs: fc.integer({ min: 1, max: 3 }).chain((count) => fc.tuple(...Array.from({ length: count }, () => inputArb(shape)))),
    }),
  );

  it('stack adds a new dim', () => {
    fc.assert(
      fc.property(stackCases, ({ dim, xs }) => {
        const rank = xs[0].ndim + 1;
        const at = dim < 0 ? dim + rank : dim;
        const outShape = [...xs[0].shape.slice(0, at), xs.length, ...xs[0].shape.slice(at)];
        const out = S.stack(xs, dim);
        assert.deepEqual(out.shape, outShape);
        const expected: number[] = [];
        for (let i = 0; i < numel(outShape); i++) {
          const index = unravel(i, outShape);
          const source = xs[index[at]];
          expected.push(valuesOf(source)[ravel(index.filter((_, d) => d !== at), source.shape)]);
        }
        assert.deepEqual(valuesOf(out), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('stack passes gradcheck', () => {
    fc.assert(fc.property(stackCases, ({ dim, xs }) => S.gradcheck((...ts) => S.stack(ts, dim), xs)), { numRuns: RUNS });
  });

  const splitCases = inputs({ minRank: 1, maxSize: 4 }).chain(([shape, x]) =>
    fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) =>
      fc.record({ x: fc.constant(x), dim: fc.constant(dim), size: fc.integer({ min: 1, max: 4 }), chunks: fc.integer({ min: 1, max: 4 }) }),
    ),
  );

  /** Checks that `parts` are consecutive narrows of `x` along `dim` with the given sizes. */
  function assertParts(parts: Tensor[], x: Tensor, dim: number, sizes: number[]): void {
    assert.deepEqual(parts.map((p) => p.shape[dim]), sizes);
    let start = 0;
    for (const part of parts) {
      assertMovement(part, x, part.shape, (index) => index.map((v, d) => (d === dim ? v + start : v)));
      start += part.shape[dim];
    }
  }

  it('split cuts pieces of a given size or sizes', () => {
    fc.assert(
      fc.property(splitCases, ({ x, dim, size }) => {
        const total = x.shape[dim];
        const sizes: number[] = [];
        for (let start = 0; start < total; start += size) sizes.push(Math.min(size, total - start));
        assertParts(x.split(size, dim), x, dim, sizes);
        const listed = total >= 2 ? [1, total - 1] : [total];
        assertParts(x.split(listed, dim), x, dim, listed);
      }),
      { numRuns: RUNS },
    );
  });

  it('split and chunk of an empty dim give one empty piece', () => {
    // As torch.split and torch.chunk do.
    for (const parts of [S.zeros([0]).split(2), S.zeros([0]).chunk(3), S.zeros([2, 0]).split(1, 1)]) {
      assert.equal(parts.length, 1);
      assert.equal(parts[0].numel(), 0);
    }
  });

  it('split passes gradcheck', () => {
    fc.assert(fc.property(splitCases, ({ x, dim, size }) => S.gradcheck((t) => t.split(size, dim).map((p, i) => p.mul(i + 1)), [x])), { numRuns: RUNS });
  });

  it('chunk cuts equal pieces as torch.chunk does', () => {
    fc.assert(
      fc.property(splitCases, ({ x, dim, chunks }) => {
        const total = x.shape[dim];
        const each = Math.ceil(total / chunks);
        const sizes: number[] = [];
        for (let start = 0; start < total; start += each) sizes.push(Math.min(each, total - start));
        assertParts(x.chunk(chunks, dim), x, dim, sizes);
      }),
      { numRuns: RUNS },
    );
    // torch.chunk(arange(5), 3) gives pieces of 2, 2 and 1; chunk(arange(6), 4) gives three pieces of 2.
    assert.deepEqual(S.arange(5).chunk(3).map((p) => p.numel()), [2, 2, 1]);
    assert.deepEqual(S.arange(6).chunk(4).map((p) => p.numel()), [2, 2, 2]);
  });

  it('chunk passes gradcheck', () => {
    fc.assert(fc.property(splitCases, ({ x, dim, chunks }) => S.gradcheck((t) => t.chunk(chunks, dim), [x])), { numRuns: RUNS });
  });

  it('contiguous and clone copy strided values in order', () => {
    const strided = inputs({ minRank: 1 }).map(([, x]) => x);
    fc.assert(
      fc.property(strided, (x) => {
        for (const out of [x.contiguous(), x.clone()]) {
          assert.ok(out.isContiguous());
          assert.deepEqual(out.shape, x.shape);
          assert.deepEqual(valuesOf(out), valuesOf(x));
        }
        assert.notEqual(x.clone().storage, x.storage);
      }),
      { numRuns: RUNS },
    );
  });

  it('contiguous and clone pass gradcheck', () => {
    assertGradcheck(inputs().map(([, x]) => [x]), (t) => t.contiguous().mul(t.clone()));
  });

  it('shape ops of a leaf that requires grad record history', () => {
    const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    assert.equal(x.transpose(0, 1).gradFn?.name, 'Permute');
    assert.equal(x.reshape(4).gradFn?.name, 'Reshape');
  });

  it('values round-trip through many views', () => {
    fc.assert(
      fc.property(tensorArb({ shape: [2, 3, 4] }), (x) => {
        const roundTrip = x.permute(2, 0, 1).slice(0, 0, undefined, 1).transpose(1, 2).reshape(4, 6).reshape(4, 3, 2).permute(2, 1, 0).contiguous();
        assert.deepEqual(roundTrip.shape, [2, 3, 4]);
        assert.deepEqual(valuesOf(roundTrip), valuesOf(x));
      }),
      { numRuns: 5 },
    );
  });
});

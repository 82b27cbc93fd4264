import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { type Tensor, tensor } from '../index.js';
import { type TensorArbOptions, tensorArb } from '../testing/arbitraries.js';
import { RUNS, assertClose, assertGradcheck, inputArb, reduceReference, reductionArb, valuesOf } from './core-helpers.js';

/** Dims as the ops accept them: a single number or a list, some of them negative. */
function asDimArgument(dims: number[], rank: number, negate: boolean[]): number | number[] {
  const written = dims.map((d, i) => (negate[i] ? d - rank : d));
  return written.length === 1 ? written[0] : written;
}

const reductions = reductionArb({ maxRank: 3, maxSize: 3 }).chain((case_) =>
  fc.record({
    shape: fc.constant(case_.shape),
    dims: fc.constant(case_.dims),
    keepdim: fc.constant(case_.keepdim),
    negate: fc.array(fc.boolean(), { minLength: case_.dims.length, maxLength: case_.dims.length }),
  }),
);

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]): number => sum(xs) / xs.length;
const variance = (correction: number) => (xs: number[]): number => {
  const m = mean(xs);
  return sum(xs.map((v) => (v - m) ** 2)) / Math.max(xs.length - correction, 0);
};
const logsumexp = (xs: number[]): number => {
  const top = Math.max(...xs);
  return top + Math.log(sum(xs.map((v) => Math.exp(v - top))));
};

interface ReductionCase {
  name: string;
  apply: (x: Tensor, dim: number | number[], keepdim: boolean) => Tensor;
  reference: (elements: number[]) => number;
  values?: TensorArbOptions;
  /** Reductions that need two or more elements per output (var and std with correction 1). */
  minCount?: number;
}

// max and min have a kink where elements tie, and prod's gradient check is cleanest away from 0
// (exact zeros get their own test below).
const DISTINCT: TensorArbOptions = { separation: 0.05 };

const CASES: ReductionCase[] = [
  { name: 'sum', apply: (x, d, k) => x.sum(d, k), reference: sum },
  { name: 'mean', apply: (x, d, k) => x.mean(d, k), reference: mean },
  { name: 'var (correction 1)', apply: (x, d, k) => x.var(d, { keepdim: k }), reference: variance(1), minCount: 2 },
  { name: 'var (correction 0)', apply: (x, d, k) => x.var(d, { correction: 0, keepdim: k }), reference: variance(0) },
  { name: 'std (correction 1)', apply: (x, d, k) => x.std(d, { keepdim: k }), reference: (xs) => Math.sqrt(variance(1)(xs)), minCount: 2, values: DISTINCT },
  { name: 'std (correction 0)', apply: (x, d, k) => x.std(d, { correction: 0, keepdim: k }), reference: (xs) => Math.sqrt(variance(0)(xs)), minCount: 2, values: DISTINCT },
  { name: 'prod', apply: (x, d, k) => x.prod(d, k), reference: (xs) => xs.reduce((a, b) => a * b, 1), values: { awayFrom: [0], margin: 0.2, min: -2, max: 2 } },
  { name: 'max', apply: (x, d, k) => x.max(d, k), reference: (xs) => Math.max(...xs), values: DISTINCT },
  { name: 'min', apply: (x, d, k) => x.min(d, k), reference: (xs) => Math.min(...xs), values: DISTINCT },
  { name: 'logsumexp', apply: (x, d, k) => x.logsumexp(d, k), reference: logsumexp },
];

/** The number of elements each output of a reduction over `dims` combines. */
const countOf = (shape: number[], dims: number[]): number => dims.reduce((n, d) => n * shape[d], 1);

describe('reductions', () => {
  for (const op of CASES) {
    const cases = reductions.filter(({ shape, dims }) => countOf(shape, dims) >= (op.minCount ?? 1));

    it(`${op.name} forward matches a loop over the reduced dims`, () => {
      const inputs = cases.chain((c) => fc.record({ c: fc.constant(c), x: inputArb(c.shape, op.values) }));
      fc.assert(
        fc.property(inputs, ({ c, x }) => {
          const out = op.apply(x, asDimArgument(c.dims, c.shape.length, c.negate), c.keepdim);
          const expected = reduceReference(valuesOf(x), c.shape, c.dims, c.keepdim, op.reference);
          assert.deepEqual(out.shape, expected.shape);
          assertClose(valuesOf(out), expected.values, { atol: 1e-12, rtol: 1e-12 }, op.name);
        }),
        { numRuns: RUNS },
      );
    });

    it(`${op.name} passes gradcheck`, () => {
      const inputs = cases.chain((c) => fc.tuple(fc.constant(c), inputArb(c.shape, op.values)));
      fc.assert(
        fc.property(inputs, ([c, x]) => S.gradcheck((t) => op.apply(t, asDimArgument(c.dims, c.shape.length, c.negate), c.keepdim), [x])),
        { numRuns: RUNS },
      );
    });

    it(`${op.name} passes gradgradcheck`, () => {
      const inputs = cases.chain((c) => fc.tuple(fc.constant(c), inputArb(c.shape, op.values)));
      fc.assert(
        fc.property(inputs, ([c, x]) => S.gradgradcheck((t) => op.apply(t, asDimArgument(c.dims, c.shape.length, c.negate), c.keepdim), [x])),
        { numRuns: 8 },
      );
    });
  }

  it('reductions over all dims return a 0-d tensor', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    assert.deepEqual(x.sum().shape, []);
    assert.equal(x.sum().item(), 10);
    assert.equal(x.mean().item(), 2.5);
    assert.equal(x.prod().item(), 24);
    assert.equal(x.max().item(), 4);
    assert.equal(x.min().item(), 1);
    assert.equal(x.var().item(), 5 / 3);
    assert.equal(x.var(undefined, { correction: 0 }).item(), 1.25);
    assert.equal(x.std(undefined, { correction: 0 }).item(), Math.sqrt(1.25));
    assertClose([x.logsumexp().item()], [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3) + Math.exp(4))]);
  });

  it('a 0-d tensor reduces over dim 0 or -1 to itself', () => {
    const x = tensor(5, { dtype: 'float64', requiresGrad: true });
    for (const op of CASES.filter((c) => !c.minCount)) {
      for (const dim of [0, -1]) {
        const out = op.apply(x, dim, false);
        assert.deepEqual(out.shape, [], op.name);
        assertClose([out.item()], [op.reference([5])], {}, op.name);
        assert.ok(S.gradcheck((t) => op.apply(t, dim, true), [x]));
      }
    }
  });

  it('sum of a bool tensor counts the true elements', () => {
    const count = tensor([true, false, true]).sum();
    assert.equal(count.dtype, 'int32');
    assert.equal(count.item(), 2);
  });

  it('prod gradient is exact with zeros', () => {
    // With one zero, only the zero gets a gradient (the product of the others); with two, none does.
    const one = tensor([[2, 0, 3], [0, 0, 5]], { dtype: 'float64', requiresGrad: true });
    one.prod(1).sum().backward();
    assert.deepEqual(one.grad!.toArray(), [[0, 6, 0], [0, 0, 0]]);
  });

  it('prod passes gradcheck with exact zeros', () => {
    // prod is multilinear, so central differences are exact at zeros too.
    const inputs = reductions.chain((c) =>
      fc.tuple(fc.constant(c), tensorArb({ shape: c.shape }), fc.array(fc.boolean(), { minLength: valuesCount(c.shape), maxLength: valuesCount(c.shape) })),
    );
    fc.assert(
      fc.property(inputs, ([c, x, zeroAt]) => {
        const values = valuesOf(x).map((v, i) => (zeroAt[i] ? 0 : v));
        const withZeros = tensor(Float64Array.from(values), { shape: c.shape, requiresGrad: true });
        return S.gradcheck((t) => t.prod(asDimArgument(c.dims, c.shape.length, c.negate), c.keepdim), [withZeros]);
      }),
      { numRuns: RUNS },
    );
  });

  it('max splits the gradient evenly among ties', () => {
    const x = tensor([[1, 3, 3], [2, 2, 2]], { requiresGrad: true });
    x.max(1).sum().backward();
    assertClose(valuesOf(x.grad!), [0, 0.5, 0.5, 1 / 3, 1 / 3, 1 / 3], { atol: 1e-7 });
  });

  it('argmax and argmin match a loop and take the first tie', () => {
    const inputs = reductionArb({ maxRank: 3, maxSize: 3 }).chain((c) => fc.tuple(fc.constant(c), tensorArb({ shape: c.shape, dtype: 'int32', min: -2, max: 2 })));
    fc.assert(
      fc.property(inputs, ([c, x]) => {
        const dim = c.dims[0];
        const firstIndexOf = (pick: (xs: number[]) => number) => (xs: number[]): number => xs.indexOf(pick(xs));
        for (const [op, pick] of [['argmax', Math.max], ['argmin', Math.min]] as const) {
          const out = op === 'argmax' ? x.argmax(dim, c.keepdim) : x.argmin(dim, c.keepdim);
          const expected = reduceReference(valuesOf(x), c.shape, [dim], c.keepdim, firstIndexOf((xs) => pick(...xs)));
          assert.equal(out.dtype, 'int32');
          assert.deepEqual(out.shape, expected.shape);
          assert.deepEqual(valuesOf(out), expected.values, op);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('argmax without dim indexes the flattened tensor', () => {
    assert.equal(tensor([[1, 9], [9, 2]]).argmax().item(), 1);
    assert.equal(tensor([[1, 9], [0, 2]]).argmin().item(), 2);
  });
});

function valuesCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

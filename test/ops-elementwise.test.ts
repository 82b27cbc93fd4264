import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { type Tensor, tensor } from '../index.js';
import { type TensorArbOptions, broadcastPairArb, nonContiguousTensorArb, shapeArb, tensorArb } from '../testing/arbitraries.js';
import { RUNS, assertClose, assertGradcheck, assertGradgradcheck, broadcastMap, inputArb, valuesOf } from './core-helpers.js';

/** erf by Simpson's rule on 2/sqrt(pi) * exp(-t^2) over [0, x]: about 1e-12 accurate for |x| <= 4. */
function erfReference(x: number): number {
  const steps = 2000;
  const h = x / steps;
  let total = 1 + Math.exp(-x * x);
  for (let i = 1; i < steps; i++) total += (i % 2 === 1 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((total * h) / 3) * (2 / Math.sqrt(Math.PI));
}

interface UnaryCase {
  name: string;
  apply: (x: Tensor) => Tensor;
  reference: (v: number) => number;
  /** Input range and kinks for the op's domain. */
  values?: TensorArbOptions;
}

const sigmoidReference = (v: number): number => 1 / (1 + Math.exp(-v));
const geluTanhReference = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

const UNARY_CASES: UnaryCase[] = [
  { name: 'neg', apply: (x) => x.neg(), reference: (v) => -v },
  { name: 'exp', apply: (x) => x.exp(), reference: Math.exp },
  { name: 'expm1', apply: (x) => x.expm1(), reference: Math.expm1 },
  { name: 'log', apply: (x) => x.log(), reference: Math.log, values: { positive: true, margin: 0.2, max: 4 } },
  { name: 'log1p', apply: (x) => x.log1p(), reference: Math.log1p, values: { min: -0.8, max: 3 } },
  { name: 'sqrt', apply: (x) => x.sqrt(), reference: Math.sqrt, values: { positive: true, margin: 0.2, max: 4 } },
  { name: 'rsqrt', apply: (x) => x.rsqrt(), reference: (v) => 1 / Math.sqrt(v), values: { positive: true, margin: 0.2, max: 4 } },
  { name: 'abs', apply: (x) => x.abs(), reference: Math.abs, values: { awayFrom: [0] } },
  { name: 'sin', apply: (x) => x.sin(), reference: Math.sin },
  { name: 'cos', apply: (x) => x.cos(), reference: Math.cos },
  { name: 'tanh', apply: (x) => x.tanh(), reference: Math.tanh },
  { name: 'sigmoid', apply: (x) => x.sigmoid(), reference: sigmoidReference },
  { name: 'relu', apply: (x) => x.relu(), reference: (v) => Math.max(v, 0), values: { awayFrom: [0] } },
  { name: 'gelu (exact)', apply: (x) => x.gelu(), reference: (v) => 0.5 * v * (1 + erfReference(v / Math.SQRT2)) },
  { name: 'gelu (tanh)', apply: (x) => x.gelu('tanh'), reference: geluTanhReference },
  { name: 'silu', apply: (x) => x.silu(), reference: (v) => v * sigmoidReference(v) },
  { name: 'erf', apply: (x) => x.erf(), reference: erfReference },
  { name: 'square', apply: (x) => x.square(), reference: (v) => v * v },
  { name: 'reciprocal', apply: (x) => x.reciprocal(), reference: (v) => 1 / v, values: { awayFrom: [0], margin: 0.3 } },
  { name: 'clamp(-1, 1)', apply: (x) => x.clamp(-1, 1), reference: (v) => Math.min(Math.max(v, -1), 1), values: { awayFrom: [-1, 1] } },
  { name: 'clamp(min 0.5)', apply: (x) => x.clamp(0.5), reference: (v) => Math.max(v, 0.5), values: { awayFrom: [0.5] } },
  { name: 'clamp(max -0.5)', apply: (x) => S.clamp(x, -Infinity, -0.5), reference: (v) => Math.min(v, -0.5), values: { awayFrom: [-0.5] } },
];

describe('elementwise unary ops', () => {
  for (const op of UNARY_CASES) {
    it(`${op.name} forward matches Math`, () => {
      const inputs = fc.oneof(tensorArb(op.values), nonContiguousTensorArb(op.values).map((s) => s.view));
      fc.assert(
        fc.property(inputs, (x) => {
          const expected = valuesOf(x).map(op.reference);
          const out = op.apply(x);
          assert.deepEqual(out.shape, x.shape);
          assert.equal(out.dtype, 'float64');
          assertClose(valuesOf(out), expected, { atol: 1e-12, rtol: 1e-11 }, op.name);
        }),
        { numRuns: RUNS },
      );
    });

    it(`${op.name} passes gradcheck`, () => {
      assertGradcheck(shapeArb({ maxSize: 3 }).chain((shape) => inputArb(shape, op.values).map((x) => [x])), op.apply);
    });

    it(`${op.name} passes gradgradcheck`, () => {
      assertGradgradcheck(shapeArb({ maxRank: 2, maxSize: 3 }).chain((shape) => inputArb(shape, op.values).map((x) => [x])), op.apply, 8);
    });
  }

  it('erf matches tabulated values', () => {
    // Expected values from Python's math.erf (CPython 3.11).
    const x = tensor([0, 0.5, 1, 2, -3, 6.5], { dtype: 'float64' });
    assertClose(valuesOf(x.erf()), [0, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, -0.9999779095030014, 1], { atol: 1e-15 });
  });

  it('gelu matches hand-computed values', () => {
    // gelu(1) = 1 * Phi(1) = 0.8413447460685429; the tanh form differs in the fourth decimal.
    const x = tensor([-1, 0, 1, 2], { dtype: 'float64' });
    assertClose(valuesOf(x.gelu()), [-0.15865525393145707, 0, 0.8413447460685429, 1.9544997361036416], { atol: 1e-14 });
    assertClose(valuesOf(x.gelu('tanh')), [-0.15880800939172324, 0, 0.8411919906082768, 1.954597694087775], { atol: 1e-14 });
  });

  it('relu and abs gradient at 0 is 0', () => {
    const x = tensor([-1, 0, 2], { dtype: 'float64', requiresGrad: true });
    x.relu().sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [0, 0, 1]);
    const y = tensor([-1, 0, 2], { dtype: 'float64', requiresGrad: true });
    y.abs().sum().backward();
    assert.deepEqual(valuesOf(y.grad!), [-1, 0, 1]);
  });

  it('clamp passes gradient inside the range only', () => {
    const x = tensor([-2, -0.5, 0.5, 2], { requiresGrad: true });
    x.clamp(-1, 1).sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [0, 1, 1, 0]);
  });

  it('gradgradcheck: exp and tanh', () => {
    const inputs = shapeArb({ maxRank: 2, maxSize: 3 }).chain((shape) => inputArb(shape).map((x) => [x]));
    assertGradgradcheck(inputs, (x) => x.exp());
    assertGradgradcheck(inputs, (x) => x.tanh());
  });
});

interface BinaryCase {
  name: string;
  apply: (a: Tensor, b: Tensor) => Tensor;
  reference: (x: number, y: number) => number;
  a?: TensorArbOptions;
  b?: TensorArbOptions;
}

// Values of `a` lie in [k + 0.05, k + 0.45] and values of `b` in [k + 0.55, k + 0.95] for integers
// k, so no pair ties: maximum and minimum have a kink wherever a = b.
const integersNear = (offset: number): number[] => Array.from({ length: 9 }, (_, i) => i - 4 + offset);
const LOW_FRACTIONS: TensorArbOptions = { awayFrom: integersNear(0.75), margin: 0.3 };
const HIGH_FRACTIONS: TensorArbOptions = { awayFrom: integersNear(0.25), margin: 0.3 };

const BINARY_CASES: BinaryCase[] = [
  { name: 'add', apply: (a, b) => a.add(b), reference: (x, y) => x + y },
  { name: 'sub', apply: (a, b) => a.sub(b), reference: (x, y) => x - y },
  { name: 'mul', apply: (a, b) => a.mul(b), reference: (x, y) => x * y },
  { name: 'div', apply: (a, b) => a.div(b), reference: (x, y) => x / y, b: { awayFrom: [0], margin: 0.3 } },
  { name: 'pow', apply: (a, b) => a.pow(b), reference: Math.pow, a: { positive: true, margin: 0.3 }, b: { min: -2, max: 2 } },
  { name: 'maximum', apply: (a, b) => a.maximum(b), reference: Math.max, a: LOW_FRACTIONS, b: HIGH_FRACTIONS },
  { name: 'minimum', apply: (a, b) => a.minimum(b), reference: Math.min, a: LOW_FRACTIONS, b: HIGH_FRACTIONS },
];

describe('elementwise binary ops', () => {
  const pairs = broadcastPairArb({ maxRank: 3, maxSize: 3 });

  for (const op of BINARY_CASES) {
    it(`${op.name} forward broadcasts like NumPy`, () => {
      const inputs = pairs.chain((pair) =>
        fc.record({ pair: fc.constant(pair), a: tensorArb({ ...op.a, shape: pair.a }), b: tensorArb({ ...op.b, shape: pair.b }) }),
      );
      fc.assert(
        fc.property(inputs, ({ pair, a, b }) => {
          const out = op.apply(a, b);
          assert.deepEqual(out.shape, pair.out);
          const expected = broadcastMap({ values: valuesOf(a), shape: a.shape }, { values: valuesOf(b), shape: b.shape }, pair.out, op.reference);
          assertClose(valuesOf(out), expected, { rtol: 1e-14 }, op.name);
        }),
        { numRuns: RUNS },
      );
    });

    it(`${op.name} passes gradcheck with broadcasting`, () => {
      const inputs = pairs.chain((pair) => fc.tuple(inputArb(pair.a, op.a), inputArb(pair.b, op.b)));
      assertGradcheck(inputs, op.apply);
    });
  }

  it('number operands adopt the tensor dtype', () => {
    const x = tensor([1, 2, 3]);
    assert.equal(x.mul(2).dtype, 'float32');
    assert.deepEqual(valuesOf(S.sub(10, x)), [9, 8, 7]);
    assert.deepEqual(valuesOf(S.div(1, tensor([2, 4]))), [0.5, 0.25]);
    assert.deepEqual(valuesOf(x.pow(2)), [1, 4, 9]);
  });

  it('pow with an integer exponent passes gradcheck for negative bases', () => {
    const inputs = shapeArb({ maxSize: 3 }).chain((shape) => inputArb(shape).map((x) => [x]));
    assertGradcheck(inputs, (x) => x.pow(3).add(x.pow(2)));
  });

  it('pow gradient for the exponent at base 0 is 0', () => {
    // d(x^y)/dy = x^y log x, whose limit at x = 0 is 0 for y > 0.
    const x = tensor([0, 2], { dtype: 'float64' });
    const y = tensor([2, 3], { dtype: 'float64', requiresGrad: true });
    x.pow(y).sum().backward();
    assertClose(valuesOf(y.grad!), [0, 8 * Math.log(2)]);
  });

  it('maximum splits the gradient evenly on ties', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    const b = tensor([1, 5, 0], { requiresGrad: true });
    a.maximum(b).sum().backward();
    assert.deepEqual(valuesOf(a.grad!), [0.5, 0, 1]);
    assert.deepEqual(valuesOf(b.grad!), [0.5, 1, 0]);
  });

  it('gradgradcheck: mul and div', () => {
    const inputs = broadcastPairArb({ maxRank: 2, maxSize: 3 }).chain((pair) => fc.tuple(inputArb(pair.a), inputArb(pair.b, { awayFrom: [0], margin: 0.3 })));
    assertGradgradcheck(inputs, (a, b) => a.mul(b));
    assertGradgradcheck(inputs, (a, b) => a.div(b));
  });
});

describe('where, maskedFill and dtype conversion', () => {
  /** A shape that broadcasts to `shape`: some dims set to 1, some leading dims dropped. */
  const broadcastableTo = (shape: number[]): fc.Arbitrary<number[]> =>
    fc
      .tuple(fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), fc.integer({ min: 0, max: shape.length }))
      .map(([ones, dropped]) => shape.map((size, d) => (ones[d] ? 1 : size)).slice(dropped));

  const whereInputs = broadcastPairArb({ maxRank: 3, maxSize: 3 }).chain((pair) =>
    broadcastableTo(pair.out).chain((condShape) =>
      fc.record({
        pair: fc.constant(pair),
        condition: tensorArb({ shape: condShape, dtype: 'bool' }),
        a: inputArb(pair.a),
        b: inputArb(pair.b),
      }),
    ),
  );

  it('where forward picks elementwise with broadcasting', () => {
    fc.assert(
      fc.property(whereInputs, ({ pair, condition, a, b }) => {
        const out = S.where(condition, a, b);
        assert.deepEqual(out.shape, pair.out);
        const spread = (t: Tensor): number[] => broadcastMap({ values: valuesOf(t), shape: t.shape }, { values: [0], shape: [] }, pair.out, (v) => v);
        const [conditionValues, aValues, bValues] = [spread(condition), spread(a), spread(b)];
        const expected = conditionValues.map((c, i) => (c ? aValues[i] : bValues[i]));
        assertClose(valuesOf(out), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('where passes gradcheck', () => {
    fc.assert(fc.property(whereInputs, ({ condition, a, b }) => S.gradcheck((x, y) => S.where(condition, x, y), [a, b])), { numRuns: RUNS });
  });

  it('maskedFill passes gradcheck', () => {
    const inputs = shapeArb({ minRank: 1, maxSize: 3 }).chain((shape) =>
      fc.record({ x: inputArb(shape), mask: broadcastableTo(shape).chain((maskShape) => tensorArb({ shape: maskShape, dtype: 'bool' })) }),
    );
    fc.assert(fc.property(inputs, ({ x, mask }) => S.gradcheck((t) => t.maskedFill(mask, -7), [x])), { numRuns: RUNS });
  });

  it('maskedFill forward replaces masked elements', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const mask = tensor([true, false, true]);
    assert.deepEqual(x.maskedFill(mask, 0).toArray(), [[0, 2, 0], [0, 5, 0]]);
  });

  it('maskedFill with a tensor value gets a gradient', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const value = tensor(9, { dtype: 'float64', requiresGrad: true });
    const out = x.maskedFill(tensor([true, false, true]), value);
    assert.deepEqual(valuesOf(out), [9, 2, 9]);
    out.mul(tensor([1, 10, 100], { dtype: 'float64' })).sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [0, 10, 0]);
    assert.equal(value.grad!.item(), 101);
  });

  it('to(float64) passes the gradient back as float32', () => {
    const x = tensor([1.5, -2], { requiresGrad: true });
    const y = x.to('float64');
    assert.equal(y.dtype, 'float64');
    y.mul(tensor([3, 4], { dtype: 'float64' })).sum().backward();
    assert.equal(x.grad!.dtype, 'float32');
    assert.deepEqual(valuesOf(x.grad!), [3, 4]);
  });

  it('to(float64) passes gradcheck through a float32 round trip', () => {
    // The float32 leg rounds values to about 1e-7 relative, so eps is large; x.float().to('float64')
    // is linear, so a large eps costs no truncation error.
    const inputs = shapeArb({ maxSize: 3 }).chain((shape) => inputArb(shape).map((x) => [x]));
    fc.assert(fc.property(inputs, ([x]) => S.gradcheck((t) => t.float().to('float64').mul(3), [x], { eps: 1e-2, atol: 1e-4 })), { numRuns: RUNS });
  });

  it('float64 with float32 promotes to float64', () => {
    const sum = tensor([1], { dtype: 'float64' }).add(tensor([2]));
    assert.equal(sum.dtype, 'float64');
    assert.equal(sum.item(), 3);
  });
});

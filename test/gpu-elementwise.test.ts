import assert from 'node:assert/strict';
import fc from 'fast-check';

import { Tensor, clamp, tensor, where } from '../index.js';
import {
  FLOAT32, RUNS, VIEW_KINDS, baseShapeFor, checkForwardBackward, describeGpu, expectClose, expectEqual, sample, sampleMagnitude, viewOf,
} from './gpu-harness.js';

const dimSize = fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 7 }));
const shapeOf = (minRank: number, maxRank: number) => fc.array(dimSize, { minLength: minRank, maxLength: maxRank });
const seed = fc.integer({ min: 1, max: 2 ** 30 });
const viewKind = fc.constantFrom(...VIEW_KINDS);

/** A differentiable unary op, the range its inputs are drawn from, and whether it has a kink at 0. */
interface UnaryCase {
  name: string;
  apply: (x: Tensor) => Tensor;
  low: number;
  high: number;
  positive?: boolean;
}

// Magnitudes stay away from 0 where the op has a kink (abs, relu) or a pole (reciprocal).
const UNARY_CASES: UnaryCase[] = [
  { name: 'neg', apply: (x) => x.neg(), low: 0, high: 3 },
  { name: 'exp', apply: (x) => x.exp(), low: 0, high: 3 },
  { name: 'expm1', apply: (x) => x.expm1(), low: 0, high: 2 },
  { name: 'log', apply: (x) => x.log(), low: 0.1, high: 4, positive: true },
  { name: 'log1p', apply: (x) => x.log1p(), low: 0, high: 0.9 },
  { name: 'sqrt', apply: (x) => x.sqrt(), low: 0.1, high: 4, positive: true },
  { name: 'rsqrt', apply: (x) => x.rsqrt(), low: 0.2, high: 4, positive: true },
  { name: 'abs', apply: (x) => x.abs(), low: 0.05, high: 3 },
  { name: 'sin', apply: (x) => x.sin(), low: 0, high: 3 },
  { name: 'cos', apply: (x) => x.cos(), low: 0, high: 3 },
  { name: 'tanh', apply: (x) => x.tanh(), low: 0, high: 3 },
  { name: 'sigmoid', apply: (x) => x.sigmoid(), low: 0, high: 6 },
  { name: 'relu', apply: (x) => x.relu(), low: 0.05, high: 3 },
  { name: 'erf', apply: (x) => x.erf(), low: 0, high: 3 },
  { name: 'gelu', apply: (x) => x.gelu(), low: 0, high: 3 },
  { name: 'gelu tanh', apply: (x) => x.gelu('tanh'), low: 0, high: 3 },
  { name: 'silu', apply: (x) => x.silu(), low: 0, high: 3 },
  { name: 'square', apply: (x) => x.square(), low: 0, high: 3 },
  { name: 'reciprocal', apply: (x) => x.reciprocal(), low: 0.3, high: 3 },
];

const BINARY_CASES: { name: string; apply: (a: Tensor, b: Tensor) => Tensor; positiveLeft?: boolean }[] = [
  { name: 'add', apply: (a, b) => a.add(b) },
  { name: 'sub', apply: (a, b) => a.sub(b) },
  { name: 'mul', apply: (a, b) => a.mul(b) },
  { name: 'div', apply: (a, b) => a.div(b.abs().add(0.5)) },
  { name: 'pow', apply: (a, b) => a.pow(b), positiveLeft: true },
  { name: 'maximum', apply: (a, b) => a.maximum(b) },
  { name: 'minimum', apply: (a, b) => a.minimum(b) },
];

describeGpu('gpu elementwise kernels', () => {
  for (const op of UNARY_CASES) {
    it(`${op.name} forward and backward on views`, () => {
      fc.assert(
        fc.property(shapeOf(0, 4), viewKind, seed, (shape, kind, s) => {
          const base = sampleMagnitude(baseShapeFor(shape, kind), s, op.low, op.high, op.positive);
          checkForwardBackward(op.name, (x) => op.apply(viewOf(x, shape, kind)), [base], s);
        }),
        RUNS,
      );
    });
  }

  for (const op of BINARY_CASES) {
    it(`${op.name} broadcasting forward and backward`, () => {
      fc.assert(
        fc.property(shapeOf(1, 4), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), viewKind, seed, (shape, keep, kind, s) => {
          // The right operand drops leading dims and has size 1 where `keep` is false.
          const rightShape = shape.slice(1).map((size, d) => (keep[d] ? size : 1));
          const left = op.positiveLeft ? sampleMagnitude(baseShapeFor(shape, kind), s, 0.2, 2, true) : sample(baseShapeFor(shape, kind), s);
          const right = sample(rightShape, s + 7);
          checkForwardBackward(op.name, (a, b) => op.apply(viewOf(a, shape, kind), b), [left, right], s, FLOAT32, { atol: 1e-4, rtol: 1e-4 });
        }),
        RUNS,
      );
    });
  }

  it('comparison and logical ops give exact bools', () => {
    fc.assert(
      fc.property(shapeOf(1, 3), seed, (shape, s) => {
        // Rounded values make ties, so eq and le are exercised on equal elements too.
        const a = sample(shape, s).mul(2).round();
        const b = sample(shape, s + 1).mul(2).round();
        const [ga, gb] = [a.gpu(), b.gpu()];
        for (const name of ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr'] as const) {
          const actual = ga[name](gb);
          assert.equal(actual.dtype, 'bool');
          expectEqual(actual, a[name](b), name);
        }
        expectEqual(ga.gt(0).logicalNot(), a.gt(0).logicalNot(), 'logicalNot');
      }),
      RUNS,
    );
  });

  it('floor ceil round sign exact', () => {
    const values = tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.7, -3.7, 0, 1e-3]);
    for (const name of ['floor', 'ceil', 'round', 'sign'] as const) expectEqual(values.gpu()[name](), values[name](), name);
  });

  it('nan and infinity semantics match cpu', () => {
    const values = tensor([NaN, Infinity, -Infinity, 0, -1, 2]);
    const onGpu = values.gpu();
    expectEqual(onGpu.isnan(), values.isnan(), 'isnan');
    expectEqual(onGpu.isfinite(), values.isfinite(), 'isfinite');
    expectEqual(onGpu.relu(), values.relu(), 'relu');
    expectEqual(onGpu.maximum(tensor([1, 1, 1, 1, NaN, 1]).gpu()), values.maximum(tensor([1, 1, 1, 1, NaN, 1])), 'maximum');
    expectClose(onGpu.tanh(), values.tanh(), FLOAT32, 'tanh');
    expectClose(onGpu.sigmoid(), values.sigmoid(), FLOAT32, 'sigmoid');
  });

  it('pow with negative bases and zeros', () => {
    const base = tensor([-2, -2, -8, 0, 0, 0, 3, NaN]);
    const exponent = tensor([3, 2, 1 / 3, 2, 0, -1, 0, 0]);
    expectClose(base.gpu().pow(exponent.gpu()), base.pow(exponent), FLOAT32, 'pow');
  });

  it('small arguments keep relative accuracy', () => {
    // log1p, expm1, tanh and erf of tiny values are where naive formulas lose every digit.
    const x = tensor([1e-7, -3e-6, 2e-4, -0.05, 0.09, 0.2], { dtype: 'float64' });
    for (const name of ['log1p', 'expm1', 'tanh', 'erf'] as const) {
      expectClose(x.float().gpu()[name](), x[name](), { atol: 0, rtol: 2e-5 }, name);
    }
  });

  it('series and formula agree at the switch', () => {
    // The kernels switch from a Taylor series to the closed form at |x| = 0.1 (log1p, expm1),
    // 0.25 (tanh) and 0.5 (erf); both sides of each switch must be accurate.
    const bounds = { log1p: 0.1, expm1: 0.1, tanh: 0.25, erf: 0.5 } as const;
    for (const [name, bound] of Object.entries(bounds) as [keyof typeof bounds, number][]) {
      const x = tensor([-1.01, -0.99, 0.99, 1.01].map((f) => f * bound), { dtype: 'float64' });
      expectClose(x.float().gpu()[name](), x[name](), { atol: 0, rtol: 2e-5 }, `${name} near ${bound}`);
    }
  });

  it('where and clamp forward and backward', () => {
    fc.assert(
      fc.property(shapeOf(1, 3), viewKind, seed, fc.double({ min: -1, max: 0, noNaN: true }), (shape, kind, s, low) => {
        const x = sample(baseShapeFor(shape, kind), s);
        const y = sample(shape, s + 3);
        const condition = sample(shape, s + 5).gt(0);
        checkForwardBackward('where', (a, b) => where(condition.to(a.device), viewOf(a, shape, kind), b), [x, y], s);
        checkForwardBackward('clamp', (a) => clamp(viewOf(a, shape, kind), low, low + 0.8), [x], s);
      }),
      RUNS,
    );
  });

  it('clamp with infinite bounds', () => {
    const x = tensor([-Infinity, -3, 0, 3, Infinity]);
    expectEqual(clamp(x.gpu(), -1), clamp(x, -1), 'clamp min only');
    expectEqual(clamp(x.gpu(), -Infinity, 1), clamp(x, -Infinity, 1), 'clamp max only');
  });

  it('cast between float32 int32 and bool', () => {
    const x = tensor([-2.7, -0.2, 0, 0.4, 1.9, 7]);
    const onGpu = x.gpu();
    expectEqual(onGpu.int(), x.int(), 'to int32');
    expectEqual(onGpu.bool(), x.bool(), 'to bool');
    expectEqual(onGpu.int().float(), x.int().float(), 'int32 to float32');
    expectEqual(onGpu.bool().int(), x.bool().int(), 'bool to int32');
    assert.equal(onGpu.int().dtype, 'int32');
    assert.deepEqual(Array.from(onGpu.int().toTypedArray()), [-2, 0, 0, 0, 1, 7]);
  });

  it('one-dim tensor longer than a texture row', () => {
    // 70000 elements span several rows of any texture (GL's maximum width here is 16384).
    const x = sample([70000], 11);
    expectClose(x.gpu().mul(2).add(1).sin(), x.double().mul(2).add(1).sin(), FLOAT32, 'sin(2x+1)');
    checkForwardBackward('tanh 70000', (a) => a.tanh(), [sample([5001], 12)], 12);
  });
});

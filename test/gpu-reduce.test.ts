import assert from 'node:assert/strict';
import fc from 'fast-check';

import { Tensor, full, logSoftmax, softmax, tensor, where } from '../index.js';
import {
  FLOAT32, RUNS, VIEW_KINDS, baseShapeFor, checkForwardBackward, describeGpu, expectClose, expectEqual, sample, sampleMagnitude, viewOf,
} from './gpu-harness.js';

const dimSize = fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 9 }));
const shapeOf = (minRank: number, maxRank: number) => fc.array(dimSize, { minLength: minRank, maxLength: maxRank });
const seed = fc.integer({ min: 1, max: 2 ** 30 });
const viewKind = fc.constantFrom(...VIEW_KINDS);

/** A shape with a random non-empty, sorted set of its dims. */
const shapeAndDims = shapeOf(1, 4).chain((shape) =>
  fc.subarray(shape.map((_, d) => d), { minLength: 1 }).map((dims) => ({ shape, dims })),
);

/** Sums of n float32 terms round up to about n units of 2^-24 times the sum of magnitudes. */
const SUM_TOLERANCE = { atol: 1e-5, rtol: 2e-4 };

describeGpu('gpu reductions', () => {
  for (const op of ['sum', 'mean', 'max', 'min'] as const) {
    it(`${op} over random dims forward and backward`, () => {
      fc.assert(
        fc.property(shapeAndDims, fc.boolean(), viewKind, seed, ({ shape, dims }, keepdim, kind, s) => {
          const x = sample(baseShapeFor(shape, kind), s);
          checkForwardBackward(`${op} dims [${dims}]`, (a) => viewOf(a, shape, kind)[op](dims, keepdim), [x], s, SUM_TOLERANCE);
        }),
        RUNS,
      );
    });
  }

  it('prod forward and backward', () => {
    fc.assert(
      fc.property(shapeAndDims, seed, ({ shape, dims }, s) => {
        // Magnitudes near 1 keep products of up to 9^4 factors in float32 range.
        const x = sampleMagnitude(shape, s, 0.8, 1.2);
        checkForwardBackward(`prod dims [${dims}]`, (a) => a.prod(dims), [x], s, SUM_TOLERANCE);
      }),
      RUNS,
    );
  });

  it('var logsumexp forward and backward', () => {
    fc.assert(
      fc.property(shapeAndDims, viewKind, seed, ({ shape, dims }, kind, s) => {
        const x = sample(baseShapeFor(shape, kind), s);
        checkForwardBackward('logsumexp', (a) => viewOf(a, shape, kind).logsumexp(dims), [x], s, SUM_TOLERANCE);
        checkForwardBackward('var', (a) => viewOf(a, shape, kind).var(dims, { correction: 0 }), [x], s, SUM_TOLERANCE);
      }),
      RUNS,
    );
  });

  it('sum over all elements of a long vector', () => {
    // 70000 elements take three reduction passes (64, then 64 again, then the rest).
    for (const length of [4097, 70000]) {
      checkForwardBackward(`sum of ${length}`, (a) => a.sum(), [sample([length], length)], 3, { atol: 1e-4, rtol: 1e-4 });
    }
    const ones = full([70000], 1, { device: 'gpu' });
    assert.equal(ones.sum().item(), 70000);
  });

  it('sum of bool counts as int32', () => {
    const mask = tensor([[true, false, true], [true, true, true]]);
    const counts = mask.gpu().sum(1);
    assert.equal(counts.dtype, 'int32');
    expectEqual(counts, mask.sum(1), 'bool sum');
  });

  it('argmax and argmin pick the first extreme', () => {
    fc.assert(
      fc.property(shapeOf(1, 4), fc.nat(3), fc.boolean(), viewKind, seed, (shape, dimChoice, keepdim, kind, s) => {
        const dim = dimChoice % shape.length;
        // Few distinct values, so ties are common and the first-index rule is exercised.
        const base = sample(baseShapeFor(shape, kind), s).mul(1.5).round();
        const view = viewOf(base, shape, kind);
        const onGpu = viewOf(base.gpu(), shape, kind);
        expectEqual(onGpu.argmax(dim, keepdim), view.argmax(dim, keepdim), `argmax dim ${dim}`);
        expectEqual(onGpu.argmin(dim, keepdim), view.argmin(dim, keepdim), `argmin dim ${dim}`);
      }),
      RUNS,
    );
    const long = sample([6000], 5);
    assert.equal(long.gpu().argmax().item(), long.argmax().item());
  });

  it('max and argmax propagate NaN', () => {
    const x = tensor([[1, NaN, 3], [4, 5, 6]]);
    expectEqual(x.gpu().max(1), x.max(1), 'max');
    expectEqual(x.gpu().argmax(1), x.argmax(1), 'argmax');
  });
});

describeGpu('gpu softmax', () => {
  for (const [name, fn] of [['softmax', softmax], ['logSoftmax', logSoftmax]] as const) {
    it(`${name} forward and backward along each dim`, () => {
      fc.assert(
        fc.property(shapeOf(1, 4), fc.nat(3), viewKind, seed, (shape, dimChoice, kind, s) => {
          const dim = dimChoice % shape.length;
          const x = sample(baseShapeFor(shape, kind), s, 3);
          checkForwardBackward(`${name} dim ${dim}`, (a) => fn(viewOf(a, shape, kind), dim), [x], s);
        }),
        RUNS,
      );
    });
  }

  it('softmax of large logits does not overflow', () => {
    const x = tensor([[1000, 1001, 1002], [-1000, 0, 1000]]);
    expectClose(x.gpu().softmax(1), x.double().softmax(1), FLOAT32, 'softmax');
    expectClose(x.gpu().logSoftmax(1), x.double().logSoftmax(1), FLOAT32, 'logSoftmax');
  });

  it('fully masked rows give zeros and -inf', () => {
    const logits = sample([3, 4], 9);
    const mask = tensor([[false, true, true, false], [true, true, true, true], [false, false, false, false]]);
    const masked = (t: Tensor) => where(mask.to(t.device), full([], -Infinity, { device: t.device }), t);
    expectClose(masked(logits.gpu()).softmax(1), masked(logits.double()).softmax(1), FLOAT32, 'masked softmax');
    expectClose(masked(logits.gpu()).logSoftmax(1), masked(logits.double()).logSoftmax(1), FLOAT32, 'masked logSoftmax');
  });

  it('softmax over a row longer than a texture row', () => {
    checkForwardBackward('softmax 5000', (a) => a.softmax(0), [sample([5000], 4, 2)], 4);
  });
});

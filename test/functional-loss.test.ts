import assert from 'node:assert/strict';

import fc from 'fast-check';

import {
  DTypeError,
  IndexError,
  ShapeError,
  Tensor,
  ValueError,
  binaryCrossEntropyWithLogits,
  crossEntropy,
  gradcheck,
  gradgradcheck,
  logSoftmax,
  mseLoss,
  nllLoss,
  softmax,
  tensor,
  type Reduction,
} from '../index.js';
import { assertAllClose, randomIntegers, randomTensor, referenceLogSoftmax, valuesOf } from './functional-helpers.js';

// The references below index a row-major (N, C, d1, ...) array directly: element (n, c, k) sits
// at (n C + c) D + k, where D is the product of the trailing dims and k runs over them.

interface Layout {
  batch: number;
  classes: number;
  inner: number;
}

function layoutOf(shape: number[]): Layout {
  return { batch: shape[0], classes: shape[1], inner: shape.slice(2).reduce((p, s) => p * s, 1) };
}

function classRow(logits: number[], { classes, inner }: Layout, n: number, k: number): number[] {
  return Array.from({ length: classes }, (_, c) => logits[(n * classes + c) * inner + k]);
}

function reduceReference(perElement: number[], denominator: number, reduction: Reduction): number[] {
  if (reduction === 'none') return perElement;
  const total = perElement.reduce((a, b) => a + b, 0);
  return [reduction === 'sum' ? total : total / denominator];
}

/**
 * PyTorch's documented cross-entropy for class indices: l = -w[y] log p[y] for targets that are
 * not ignored, 'mean' divides by the sum of w[y] over those targets, and label smoothing ε
 * replaces the one-hot target by (1 - ε) one-hot + ε / C, each class weighted by its own w[c].
 */
function referenceClassIndexLoss(
  logits: number[], shape: number[], targets: number[], weight: number[] | null,
  ignoreIndex: number, smoothing: number, reduction: Reduction,
): number[] {
  const layout = layoutOf(shape);
  const perElement: number[] = [];
  let weightSum = 0;
  for (let n = 0; n < layout.batch; n++) {
    for (let k = 0; k < layout.inner; k++) {
      const y = targets[n * layout.inner + k];
      if (y === ignoreIndex) {
        perElement.push(0);
        continue;
      }
      const logProbs = referenceLogSoftmax(classRow(logits, layout, n, k));
      const w = (c: number): number => (weight === null ? 1 : weight[c]);
      let uniformTerm = 0;
      for (let c = 0; c < layout.classes; c++) uniformTerm -= w(c) * logProbs[c];
      perElement.push((1 - smoothing) * -w(y) * logProbs[y] + (smoothing / layout.classes) * uniformTerm);
      weightSum += w(y);
    }
  }
  return reduceReference(perElement, weightSum, reduction);
}

/** l = -sum_c w[c] log p[c] q[c] with q = (1 - ε) target + ε / C; 'mean' divides by N d1 .... */
function referenceProbabilityLoss(
  logits: number[], shape: number[], probabilities: number[], weight: number[] | null, smoothing: number, reduction: Reduction,
): number[] {
  const layout = layoutOf(shape);
  const perElement: number[] = [];
  for (let n = 0; n < layout.batch; n++) {
    for (let k = 0; k < layout.inner; k++) {
      const logProbs = referenceLogSoftmax(classRow(logits, layout, n, k));
      const target = classRow(probabilities, layout, n, k);
      let loss = 0;
      for (let c = 0; c < layout.classes; c++) {
        const mixed = (1 - smoothing) * target[c] + smoothing / layout.classes;
        loss -= (weight === null ? 1 : weight[c]) * logProbs[c] * mixed;
      }
      perElement.push(loss);
    }
  }
  return reduceReference(perElement, layout.batch * layout.inner, reduction);
}

const reductionArbitrary = fc.constantFrom<Reduction>('mean', 'sum', 'none');

const classCase = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  classes: fc.integer({ min: 2, max: 4 }),
  extra: fc.constantFrom<number[]>([], [2], [1, 2]),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  weighted: fc.boolean(),
  ignoreIndex: fc.constantFrom(-100, 1),
  smoothing: fc.constantFrom(0, 0.1, 0.35),
  reduction: reductionArbitrary,
});

type ClassCase = typeof classCase extends fc.Arbitrary<infer T> ? T : never;

interface ClassInputs {
  shape: number[];
  logits: Tensor;
  target: Tensor;
  targets: number[];
  weight: Tensor | null;
}

/**
 * Draws random logits and int32 targets for a case. With ignoreIndex -100, about a third of the
 * targets are replaced by it. With ignoreIndex 1, the targets that happen to be class 1 are
 * ignored. The first target is always class 0, so the mean never divides by zero.
 */
function classInputs(c: ClassCase): ClassInputs {
  const shape = [c.batch, c.classes, ...c.extra];
  const count = shape.reduce((p, s) => p * s, 1) / c.classes;
  const targets = randomIntegers(count, 0, c.classes, c.seed + 1);
  const ignoreDraws = randomIntegers(count, 0, 3, c.seed + 2);
  for (let i = 0; i < count; i++) if (c.ignoreIndex === -100 && ignoreDraws[i] === 0) targets[i] = -100;
  targets[0] = 0;
  return {
    shape,
    logits: randomTensor(shape, c.seed, { scale: 2, requiresGrad: true }),
    target: tensor(Int32Array.from(targets), { shape: [c.batch, ...c.extra] }),
    targets,
    weight: c.weighted ? randomTensor([c.classes], c.seed + 3, { scale: 0.3, shift: 1, requiresGrad: true }) : null,
  };
}

describe('functional losses', () => {
  describe('crossEntropy with class indices', () => {
    it('matches the documented formula', () => {
      fc.assert(
        fc.property(classCase, (c) => {
          const { shape, logits, target, targets, weight } = classInputs(c);
          const options = { weight, ignoreIndex: c.ignoreIndex, labelSmoothing: c.smoothing, reduction: c.reduction };
          const expected = referenceClassIndexLoss(valuesOf(logits), shape, targets, weight && valuesOf(weight), c.ignoreIndex, c.smoothing, c.reduction);
          const loss = crossEntropy(logits, target, options);
          assert.deepEqual(loss.shape, c.reduction === 'none' ? [c.batch, ...c.extra] : []);
          assertAllClose(valuesOf(loss), expected);
        }),
        { numRuns: 60 },
      );
    });

    it('passes gradcheck for logits and class weight', () => {
      fc.assert(
        fc.property(classCase, (c) => {
          const { logits, target, weight } = classInputs(c);
          const options = { ignoreIndex: c.ignoreIndex, labelSmoothing: c.smoothing, reduction: c.reduction };
          const inputs = weight === null ? [logits] : [logits, weight];
          return gradcheck((x, w) => crossEntropy(x, target, { ...options, weight: w ?? null }), inputs);
        }),
        { numRuns: 25 },
      );
    });

    it('passes gradgradcheck', () => {
      fc.assert(
        fc.property(classCase, (c) => {
          const { logits, target, weight } = classInputs({ ...c, extra: [] });
          const options = { ignoreIndex: c.ignoreIndex, labelSmoothing: c.smoothing, reduction: c.reduction };
          const inputs = weight === null ? [logits] : [logits, weight];
          return gradgradcheck((x, w) => crossEntropy(x, target, { ...options, weight: w ?? null }), inputs);
        }),
        { numRuns: 6 },
      );
    });

    it('equals probability targets under smoothing', () => {
      // With 'sum' both forms add the same per-element terms, so they must agree exactly even
      // with class weights ('mean' differs on purpose: it divides by sum w[y] versus N).
      const logits = randomTensor([3, 4], 7);
      const weight = tensor([0.5, 1, 2, 1.5], { dtype: 'float64' });
      const classes = [2, 0, 3];
      const smoothed = new Float64Array(12).fill(0.2 / 4);
      classes.forEach((y, n) => (smoothed[n * 4 + y] += 0.8));
      const probabilities = tensor(smoothed, { shape: [3, 4] });
      const fromIndices = crossEntropy(logits, tensor(classes, { dtype: 'int32' }), { weight, labelSmoothing: 0.2, reduction: 'sum' });
      const fromProbabilities = crossEntropy(logits, probabilities, { weight, reduction: 'sum' });
      assertAllClose(valuesOf(fromIndices), valuesOf(fromProbabilities));
    });

    it('gives log C for equal logits', () => {
      const loss = crossEntropy(tensor([[0, 0, 0], [5, 5, 5]], { dtype: 'float64' }), tensor([1, 2], { dtype: 'int32' }), { labelSmoothing: 0.3 });
      assertAllClose(valuesOf(loss), [Math.log(3)]);
    });

    it('handles an unbatched input', () => {
      const logits = randomTensor([5], 3);
      const target = tensor(2, { dtype: 'int32' });
      const loss = crossEntropy(logits, target, { reduction: 'none' });
      assert.deepEqual(loss.shape, []);
      assertAllClose(valuesOf(loss), [-referenceLogSoftmax(valuesOf(logits))[2]]);
      const batched = crossEntropy(logits.reshape(1, 5), tensor([2], { dtype: 'int32' }));
      assertAllClose(valuesOf(crossEntropy(logits, target)), valuesOf(batched));

      const probabilities = softmax(randomTensor([5], 4), 0);
      const soft = crossEntropy(logits, probabilities, { reduction: 'none' });
      assert.deepEqual(soft.shape, []);
      assertAllClose(valuesOf(soft), valuesOf(crossEntropy(logits.reshape(1, 5), probabilities.reshape(1, 5))));
    });

    it('gives NaN for a mean over ignored targets only', () => {
      // PyTorch divides 0 by a zero weight sum here; the result must not pretend to be a loss.
      const loss = crossEntropy(randomTensor([2, 3], 1), tensor([-100, -100], { dtype: 'int32' }));
      assert.ok(Number.isNaN(loss.item()));
    });

    it('stays finite for logits of 1e4', () => {
      for (const dtype of ['float32', 'float64'] as const) {
        const logits = tensor([[1e4, 0, -1e4], [1e4, 0, -1e4], [1e4, 0, -1e4]], { dtype, requiresGrad: true });
        const loss = crossEntropy(logits, tensor([0, 1, 2], { dtype: 'int32' }), { reduction: 'none' });
        assertAllClose(valuesOf(loss), [0, 1e4, 2e4], { rtol: 1e-6, label: dtype });
        loss.sum().backward();
        // Each row's gradient is softmax - one-hot: [1, 0, 0] minus the target's one-hot.
        assertAllClose(valuesOf(logits.grad!), [0, 0, 0, 1, -1, 0, 1, 0, -1], { atol: 1e-6, label: `${dtype} gradient` });
      }
    });

    it('names an out-of-range target and C', () => {
      const logits = randomTensor([2, 3], 1);
      assert.throws(() => crossEntropy(logits, tensor([0, 5], { dtype: 'int32' })), { name: 'IndexError', message: /target 5 is out of bounds for 3 classes/ });
      assert.throws(() => crossEntropy(logits, tensor([-1, 0], { dtype: 'int32' })), IndexError);
    });

    it('names mismatched target shapes', () => {
      const logits = randomTensor([2, 3, 4], 1);
      assert.throws(() => crossEntropy(logits, tensor([0, 1], { dtype: 'int32' })), {
        name: 'ShapeError',
        message: /target of shape \[2\] does not fit input of shape \[2, 3, 4\]; class indices need shape \[2, 4\]/,
      });
    });

    it('rejects a bad weight, dtype or option', () => {
      const logits = randomTensor([2, 3], 1);
      const target = tensor([0, 1], { dtype: 'int32' });
      assert.throws(() => crossEntropy(logits, target, { weight: tensor([1, 1], { dtype: 'float64' }) }), { name: 'ShapeError', message: /one entry per class \(3\), got shape \[2\]/ });
      assert.throws(() => crossEntropy(logits, target.double()), DTypeError);
      assert.throws(() => crossEntropy(logits, target, { labelSmoothing: 1.5 }), { name: 'ValueError', message: /1\.5/ });
      assert.throws(() => crossEntropy(logits, target, { reduction: 'avg' as Reduction }), { name: 'ValueError', message: /'avg'/ });
    });
  });

  describe('crossEntropy with class probabilities', () => {
    const probabilityCase = fc.record({
      batch: fc.integer({ min: 1, max: 3 }),
      classes: fc.integer({ min: 2, max: 4 }),
      extra: fc.constantFrom<number[]>([], [2]),
      seed: fc.integer({ min: 0, max: 1_000_000 }),
      weighted: fc.boolean(),
      smoothing: fc.constantFrom(0, 0.2),
      reduction: reductionArbitrary,
    });

    function probabilityInputs(c: typeof probabilityCase extends fc.Arbitrary<infer T> ? T : never) {
      const shape = [c.batch, c.classes, ...c.extra];
      return {
        shape,
        logits: randomTensor(shape, c.seed, { scale: 2, requiresGrad: true }),
        // Random distributions over the class dim, made a leaf so that gradcheck can perturb them.
        probabilities: softmax(randomTensor(shape, c.seed + 1), 1).detach().requiresGrad_(true),
        weight: c.weighted ? randomTensor([c.classes], c.seed + 2, { scale: 0.3, shift: 1, requiresGrad: true }) : null,
      };
    }

    it('matches the documented formula', () => {
      fc.assert(
        fc.property(probabilityCase, (c) => {
          const { shape, logits, probabilities, weight } = probabilityInputs(c);
          const loss = crossEntropy(logits, probabilities, { weight, labelSmoothing: c.smoothing, reduction: c.reduction });
          const expected = referenceProbabilityLoss(valuesOf(logits), shape, valuesOf(probabilities), weight && valuesOf(weight), c.smoothing, c.reduction);
          assertAllClose(valuesOf(loss), expected);
        }),
        { numRuns: 40 },
      );
    });

    it('passes gradcheck for logits, target and weight', () => {
      fc.assert(
        fc.property(probabilityCase, (c) => {
          const { logits, probabilities, weight } = probabilityInputs(c);
          const options = { labelSmoothing: c.smoothing, reduction: c.reduction };
          const inputs = weight === null ? [logits, probabilities] : [logits, probabilities, weight];
          return gradcheck((x, p, w) => crossEntropy(x, p, { ...options, weight: w ?? null }), inputs);
        }),
        { numRuns: 20 },
      );
    });

    it('passes gradgradcheck', () => {
      const logits = randomTensor([2, 3], 11, { requiresGrad: true });
      const probabilities = softmax(randomTensor([2, 3], 12), 1).detach().requiresGrad_(true);
      assert.ok(gradgradcheck((x, p) => crossEntropy(x, p, { labelSmoothing: 0.1 }), [logits, probabilities]));
    });

    it('stays finite for logits of 1e4', () => {
      const logits = tensor([[1e4, 0, -1e4]], { dtype: 'float32' });
      const loss = crossEntropy(logits, tensor([[0.5, 0.5, 0]], { dtype: 'float32' }));
      assertAllClose(valuesOf(loss), [0.5e4], { rtol: 1e-6 });
    });

    it('rejects a non-negative ignoreIndex', () => {
      const logits = randomTensor([2, 3], 1);
      assert.throws(() => crossEntropy(logits, softmax(logits, 1), { ignoreIndex: 0 }), { name: 'ValueError', message: /ignoreIndex 0 is not supported with class-probability targets/ });
    });
  });

  describe('nllLoss', () => {
    it('matches the documented formula', () => {
      fc.assert(
        fc.property(classCase, (c) => {
          const { shape, target, targets, weight } = classInputs(c);
          // nllLoss takes any scores; it does not normalize them, so plain random values test that.
          const scores = randomTensor(shape, c.seed + 5);
          const loss = nllLoss(scores, target, { weight, ignoreIndex: c.ignoreIndex, reduction: c.reduction });
          const layout = layoutOf(shape);
          const perElement: number[] = [];
          let weightSum = 0;
          targets.forEach((y, i) => {
            if (y === c.ignoreIndex) return void perElement.push(0);
            const n = Math.floor(i / layout.inner);
            const w = weight === null ? 1 : valuesOf(weight)[y];
            perElement.push(-w * valuesOf(scores)[(n * layout.classes + y) * layout.inner + (i % layout.inner)]);
            weightSum += w;
          });
          assertAllClose(valuesOf(loss), reduceReference(perElement, weightSum, c.reduction));
        }),
        { numRuns: 40 },
      );
    });

    it('passes gradcheck for input and weight', () => {
      fc.assert(
        fc.property(classCase, (c) => {
          const { logits, target, weight } = classInputs(c);
          const inputs = weight === null ? [logits] : [logits, weight];
          return gradcheck((x, w) => nllLoss(x, target, { weight: w ?? null, ignoreIndex: c.ignoreIndex, reduction: c.reduction }), inputs);
        }),
        { numRuns: 15 },
      );
    });

    it('equals crossEntropy on log-probabilities', () => {
      const logits = randomTensor([4, 3], 2);
      const target = tensor([0, 2, 1, 2], { dtype: 'int32' });
      const weight = tensor([1, 2, 0.5], { dtype: 'float64' });
      assertAllClose(valuesOf(nllLoss(logSoftmax(logits, 1), target, { weight })), valuesOf(crossEntropy(logits, target, { weight })));
    });

    it('names an out-of-range target', () => {
      assert.throws(() => nllLoss(randomTensor([1, 4], 1), tensor([4], { dtype: 'int32' })), { name: 'IndexError', message: /target 4 is out of bounds for 4 classes/ });
    });
  });

  describe('mseLoss', () => {
    const mseCase = fc.record({
      shape: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 }),
      seed: fc.integer({ min: 0, max: 1_000_000 }),
      reduction: reductionArbitrary,
    });

    it('matches a loop', () => {
      fc.assert(
        fc.property(mseCase, ({ shape, seed, reduction }) => {
          const input = randomTensor(shape, seed);
          const target = randomTensor(shape, seed + 1);
          const squares = valuesOf(input).map((x, i) => (x - valuesOf(target)[i]) ** 2);
          assertAllClose(valuesOf(mseLoss(input, target, { reduction })), reduceReference(squares, squares.length, reduction));
        }),
        { numRuns: 30 },
      );
    });

    it('passes gradcheck for input and target', () => {
      fc.assert(
        fc.property(mseCase, ({ shape, seed, reduction }) => {
          const input = randomTensor(shape, seed, { requiresGrad: true });
          const target = randomTensor(shape, seed + 1, { requiresGrad: true });
          return gradcheck((x, y) => mseLoss(x, y, { reduction }), [input, target]);
        }),
        { numRuns: 15 },
      );
    });

    it('names mismatched shapes', () => {
      assert.throws(() => mseLoss(randomTensor([2, 3], 1), randomTensor([3], 2)), { name: 'ShapeError', message: /input of shape \[2, 3\] and target of shape \[3\] differ/ });
    });
  });

  describe('binaryCrossEntropyWithLogits', () => {
    const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

    const bceCase = fc.record({
      rows: fc.integer({ min: 1, max: 3 }),
      classes: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer({ min: 0, max: 1_000_000 }),
      weighted: fc.boolean(),
      positiveWeighted: fc.boolean(),
      reduction: reductionArbitrary,
    });

    function bceInputs(c: typeof bceCase extends fc.Arbitrary<infer T> ? T : never) {
      const shape = [c.rows, c.classes];
      return {
        logits: randomTensor(shape, c.seed, { scale: 2, requiresGrad: true }),
        target: tensor(Float64Array.from(valuesOf(randomTensor(shape, c.seed + 1)), sigmoid), { dtype: 'float64', shape, requiresGrad: true }),
        weight: c.weighted ? randomTensor(shape, c.seed + 2, { scale: 0.3, shift: 1, requiresGrad: true }) : null,
        posWeight: c.positiveWeighted ? randomTensor([c.classes], c.seed + 3, { scale: 0.3, shift: 2, requiresGrad: true }) : null,
      };
    }

    it('matches the documented formula', () => {
      fc.assert(
        fc.property(bceCase, (c) => {
          const { logits, target, weight, posWeight } = bceInputs(c);
          const x = valuesOf(logits);
          const y = valuesOf(target);
          const perElement = x.map((xi, i) => {
            const w = weight === null ? 1 : valuesOf(weight)[i];
            const p = posWeight === null ? 1 : valuesOf(posWeight)[i % c.classes];
            return -w * (p * y[i] * Math.log(sigmoid(xi)) + (1 - y[i]) * Math.log(1 - sigmoid(xi)));
          });
          const loss = binaryCrossEntropyWithLogits(logits, target, { weight, posWeight, reduction: c.reduction });
          assertAllClose(valuesOf(loss), reduceReference(perElement, perElement.length, c.reduction), { atol: 1e-9, rtol: 1e-8 });
        }),
        { numRuns: 30 },
      );
    });

    it('passes gradcheck for every float input', () => {
      fc.assert(
        fc.property(bceCase, (c) => {
          const { logits, target, weight, posWeight } = bceInputs(c);
          const inputs = [logits, target, ...(weight === null ? [] : [weight]), ...(posWeight === null ? [] : [posWeight])];
          return gradcheck((...args: Tensor[]) => {
            const [x, y, ...optional] = args;
            const w = weight === null ? null : optional.shift()!;
            const p = posWeight === null ? null : optional.shift()!;
            return binaryCrossEntropyWithLogits(x, y, { weight: w, posWeight: p, reduction: c.reduction });
          }, inputs);
        }),
        { numRuns: 15 },
      );
    });

    it('has gradient sigmoid(x) - y at x = 0', () => {
      const logits = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
      binaryCrossEntropyWithLogits(logits, tensor([1, 0.25], { dtype: 'float64' }), { reduction: 'sum' }).backward();
      assertAllClose(valuesOf(logits.grad!), [-0.5, 0.25]);
    });

    it('stays finite for logits of 1e4', () => {
      const loss = binaryCrossEntropyWithLogits(tensor([1e4, -1e4, 1e4]), tensor([0, 1, 1]), { reduction: 'none' });
      assertAllClose(valuesOf(loss), [1e4, 1e4, 0], { rtol: 1e-6 });
    });

    it('names mismatched shapes', () => {
      assert.throws(() => binaryCrossEntropyWithLogits(randomTensor([2, 3], 1), randomTensor([2], 2)), ShapeError);
      assert.throws(
        () => binaryCrossEntropyWithLogits(randomTensor([2, 3], 1), randomTensor([2, 3], 2), { posWeight: randomTensor([2, 1, 3], 3) }),
        { name: 'ShapeError', message: /posWeight of shape \[2, 1, 3\] must broadcast to the input's shape \[2, 3\]/ },
      );
    });
  });

  it('reports ValueError for a bad reduction in every loss', () => {
    const x = randomTensor([2, 3], 1);
    const bad = { reduction: 'avg' as Reduction };
    assert.throws(() => mseLoss(x, x, bad), ValueError);
    assert.throws(() => binaryCrossEntropyWithLogits(x, x, bad), ValueError);
    assert.throws(() => nllLoss(x, tensor([0, 1], { dtype: 'int32' }), bad), ValueError);
  });
});

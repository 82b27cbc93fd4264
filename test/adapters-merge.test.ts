/**
 * The two ways of computing an adapted Linear (factored fast path and materialised weight) agree,
 * and merging, unmerging and unloading adapters preserve outputs and base weights.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { type Tensor, linear, noGrad } from '../index.js';
import { type AdapterMethod, AdapterStateError, injectAdapters, isParametrized } from '../adapters/index.js';
import { Parameter } from '../nn/parameter.js';
import {
  type LayerShape,
  METHODS,
  OneLayer,
  SHAPE_EXAMPLES,
  adapterOf,
  fillRandom,
  layerShapeArbitrary,
  originalWeight,
  randomTensor,
  seedArbitrary,
  toMatrix,
} from './adapters-helpers.js';

const RAMP_STEPS = 6;

/** Builds an adapted one-layer model whose adapter has random, non-trivial values (B included). */
function adaptedModel(method: AdapterMethod, shape: LayerShape, seed: number, options: { dtype?: 'float32' | 'float64'; bias?: boolean } = {}) {
  const model = new OneLayer(shape, { seed, dtype: options.dtype, bias: options.bias });
  const adapted = injectAdapters(model, { method, rank: shape.rank, alpha: 2, targets: ['layer'], rampSteps: RAMP_STEPS });
  adapted.clock.setStep(2);
  adapterOf(model.layer)
    .parameters()
    .forEach((param, i) => {
      if (param.ndim === 2) fillRandom(param, seed + 10 + i, 0.5);
    });
  return { model, adapted };
}

function relativeDifference(actual: Tensor, expected: Tensor): number {
  const a = actual.toTypedArray();
  const e = expected.toTypedArray();
  assert.equal(a.length, e.length);
  let difference = 0;
  let size = 0;
  for (let i = 0; i < a.length; i++) {
    difference = Math.max(difference, Math.abs(Number(a[i]) - Number(e[i])));
    size = Math.max(size, Math.abs(Number(e[i])));
  }
  return difference / Math.max(size, 1e-30);
}

function assertBitEqual(actual: Tensor, expected: Tensor, label: string): void {
  assert.deepEqual(Array.from(actual.toTypedArray()), Array.from(expected.toTypedArray()), label);
}

/**
 * Returns max_j (‖W0_j‖² + ‖ΔW_j‖²) / ‖V_j‖² for DoRA (1 for other methods). The factored row
 * norm sums these three terms, so a row of V = W0 + ΔW that nearly cancels loses relative
 * accuracy by this factor, and the comparison allows for it.
 */
function normConditioning(method: AdapterMethod, model: OneLayer): number {
  if (method !== 'dora' && method !== 'singlora-dora') return 1;
  const w0 = toMatrix(originalWeight(model.layer));
  const delta = toMatrix(adapterOf(model.layer).deltaWeight());
  const square = (row: number[]): number => row.reduce((sum, v) => sum + v * v, 0);
  return w0.reduce((worst, row, j) => {
    const v = row.map((w, i) => w + delta[j][i]);
    return Math.max(worst, (square(row) + square(delta[j])) / square(v));
  }, 1);
}

const methodArbitrary = fc.constantFrom(...METHODS.map(({ method }) => method));

describe('factored and materialised forwards', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    const tolerance = dtype === 'float64' ? 1e-12 : 1e-5;

    it(`agree in ${dtype} (2-D and 3-D inputs, with and without bias)`, () => {
      fc.assert(
        fc.property(methodArbitrary, layerShapeArbitrary(8), seedArbitrary, fc.boolean(), fc.boolean(), (method, shape, seed, bias, threeD) => {
          const { model } = adaptedModel(method, shape, seed, { dtype, bias });
          const inputShape = threeD ? [2, 3, shape.inFeatures] : [4, shape.inFeatures];
          const x = randomTensor(inputShape, seed + 1, { dtype });
          const factored = model.layer.call(x);
          const materialised = linear(x, model.layer.weight, model.layer.bias);
          assert.deepEqual(factored.shape, [...inputShape.slice(0, -1), shape.outFeatures]);
          assert.equal(factored.dtype, dtype);
          const difference = relativeDifference(factored, materialised);
          const allowed = tolerance * normConditioning(method, model);
          assert.ok(difference <= allowed, `${method}: relative difference ${difference} exceeds ${allowed}`);
        }),
        { numRuns: 150 },
      );
    });
  }

  it('fast path never builds ΔW', () => {
    for (const { method } of METHODS) {
      const { model } = adaptedModel(method, { inFeatures: 3, outFeatures: 5, rank: 2 }, 1);
      const adapter = adapterOf(model.layer);
      adapter.deltaWeight = () => {
        throw new Error(`${method}: the fast path built ΔW`);
      };
      model.layer.call(randomTensor([2, 3], 2));
    }
  });
});

describe('merge and unmerge', () => {
  it('merged forward equals the unmerged forward', () => {
    fc.assert(
      fc.property(methodArbitrary, layerShapeArbitrary(8), seedArbitrary, (method, shape, seed) => {
        const { model, adapted } = adaptedModel(method, shape, seed);
        model.eval();
        const x = randomTensor([3, shape.inFeatures], seed + 1);
        const before = model.call(x);
        adapted.merge();
        assert.ok(adapted.isMerged);
        const merged = model.call(x);
        assert.ok(relativeDifference(merged, before) <= 1e-12, `${method}: merged output differs by ${relativeDifference(merged, before)}`);
      }),
      { numRuns: 30, examples: SHAPE_EXAMPLES.map((shape) => ['singlora' as AdapterMethod, shape, 3]) },
    );
  });

  it('unmerge restores the base weight bit-exactly, also after t changes', () => {
    fc.assert(
      fc.property(methodArbitrary, layerShapeArbitrary(8), seedArbitrary, fc.integer({ min: 0, max: 10 }), (method, shape, seed, advance) => {
        const { model, adapted } = adaptedModel(method, shape, seed);
        const base = originalWeight(model.layer);
        const copy = base.clone();
        const x = randomTensor([3, shape.inFeatures], seed + 1);
        model.eval();
        adapted.merge();
        adapted.clock.advance(advance);
        adapted.unmerge();
        assert.ok(!adapted.isMerged);
        assertBitEqual(base, copy, `${method}: base weight after unmerge`);
        assert.equal(originalWeight(model.layer), base, 'unmerge replaced the base Parameter');

        // The branch is active again: output follows the current t, not the merged one.
        model.train();
        const expected = linear(x, model.layer.weight, model.layer.bias);
        assert.ok(relativeDifference(model.call(x), expected) <= 1e-12);
      }),
      { numRuns: 60 },
    );
  });

  it('merging twice keeps the first merge', () => {
    const { model, adapted } = adaptedModel('singlora', { inFeatures: 3, outFeatures: 4, rank: 2 }, 5);
    const copy = originalWeight(model.layer).clone();
    adapted.merge();
    const once = originalWeight(model.layer).clone();
    adapted.merge();
    assertBitEqual(originalWeight(model.layer), once, 'a second merge changed the weight');
    adapted.unmerge();
    assertBitEqual(originalWeight(model.layer), copy, 'base weight after unmerge');
  });

  it('training while merged throws AdapterStateError', () => {
    for (const { method } of METHODS) {
      const { model, adapted } = adaptedModel(method, { inFeatures: 4, outFeatures: 3, rank: 2 }, 6);
      adapted.merge();
      model.train();
      const x = randomTensor([2, 4], 7);
      assert.throws(() => model.call(x), AdapterStateError, `${method}: factored forward`);
      assert.throws(() => linear(x, model.layer.weight, model.layer.bias), AdapterStateError, `${method}: weight read`);
      noGrad(() => model.call(x));
      model.eval();
      model.call(x);
    }
  });

  it('AdapterStateError message says to unmerge', () => {
    const { model, adapted } = adaptedModel('lora', { inFeatures: 2, outFeatures: 2, rank: 1 }, 8);
    adapted.merge();
    assert.throws(() => model.call(randomTensor([1, 2], 9)), /merged into the base weight.*unmerge\(\)/);
  });
});

describe('mergeAndUnload and unload', () => {
  it('mergeAndUnload returns a plain model with the adapted output', () => {
    fc.assert(
      fc.property(methodArbitrary, layerShapeArbitrary(8), seedArbitrary, (method, shape, seed) => {
        const { model, adapted } = adaptedModel(method, shape, seed);
        const base = originalWeight(model.layer);
        const x = randomTensor([3, shape.inFeatures], seed + 1);
        const expected = model.call(x).detach();
        const plain = adapted.mergeAndUnload() as OneLayer;

        assert.equal(plain, model);
        assert.ok(!isParametrized(plain.layer));
        assert.ok(plain.layer.weight instanceof Parameter);
        assert.equal(plain.layer.weight, base, 'the base Parameter object was replaced');
        assert.deepEqual(plain.namedParameters().map(([name]) => name).sort(), ['layer.bias', 'layer.weight']);
        assert.ok(relativeDifference(plain.call(x), expected) <= 1e-12);
      }),
      { numRuns: 50 },
    );
  });

  it('mergeAndUnload after merge bakes the update in once', () => {
    const { model, adapted } = adaptedModel('singlora', { inFeatures: 4, outFeatures: 6, rank: 2 }, 11);
    const x = randomTensor([3, 4], 12);
    const expected = model.call(x).detach();
    adapted.merge();
    const plain = adapted.mergeAndUnload();
    assert.ok(relativeDifference(plain.call(x), expected) <= 1e-12);
  });

  it('unload restores the original output bit-exactly', () => {
    fc.assert(
      fc.property(methodArbitrary, layerShapeArbitrary(8), seedArbitrary, fc.boolean(), (method, shape, seed, mergeFirst) => {
        const frozen = new OneLayer(shape, { seed });
        const x = randomTensor([3, shape.inFeatures], seed + 1);
        const expected = frozen.call(x);
        const { model, adapted } = adaptedModel(method, shape, seed);
        if (mergeFirst) adapted.merge();
        const plain = adapted.unload() as OneLayer;
        assert.equal(plain, model);
        assert.ok(!isParametrized(plain.layer));
        assertBitEqual(plain.call(x), expected, `${method}: output after unload`);
        assertBitEqual(plain.layer.weight, frozen.layer.weight, `${method}: weight after unload`);
      }),
      { numRuns: 50 },
    );
  });
});

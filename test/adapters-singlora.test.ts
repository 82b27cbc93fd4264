/**
 * SingLoRA's update ΔW(t) = (α/r) u(t) A[0:out] A[0:in]^T, checked against plain-JavaScript
 * arithmetic: shapes, the leading-block rule in both non-square directions, zero update and zero
 * gradient at t = 0, symmetry and positive semi-definiteness, rank, scaling, the closed-form
 * gradient, and the transformation invariance of one gradient-descent step.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { type Tensor, linear, noGrad, tensor } from '../index.js';
import { LoRA, SingLoRA, injectAdapters } from '../adapters/index.js';
import { SGD } from '../nn/optim/index.js';
import {
  type LayerShape,
  type Matrix,
  OneLayer,
  SHAPE_EXAMPLES,
  adapterOf,
  determinant,
  fillRandom,
  layerShapeArbitrary,
  matmulPlain,
  maxAbs,
  maxAbsDifference,
  originalWeight,
  randomOrthogonal,
  randomTensor,
  seedArbitrary,
  squareShapeArbitrary,
  toMatrix,
  transposePlain,
} from './adapters-helpers.js';

const RAMP_STEPS = 8;

/** Builds a SingLoRA layer at step `step` of an 8-step ramp. */
function singloraLayer(shape: LayerShape, seed: number, options: { alpha?: number; step?: number; bias?: boolean } = {}) {
  const model = new OneLayer(shape, { seed, bias: options.bias });
  const adapted = injectAdapters(model, { method: 'singlora', rank: shape.rank, alpha: options.alpha ?? 2, targets: ['layer'], rampSteps: RAMP_STEPS });
  adapted.clock.setStep(options.step ?? RAMP_STEPS);
  const adapter = adapterOf(model.layer) as SingLoRA;
  return { model, adapted, adapter };
}

/** s_t A A^T restricted to its leading out x in block, in plain JavaScript. */
function expectedDelta(a: Matrix, shape: LayerShape, scale: number): Matrix {
  const full = matmulPlain(a, transposePlain(a));
  return full.slice(0, shape.outFeatures).map((row) => row.slice(0, shape.inFeatures).map((v) => scale * v));
}

function leadingBlock(m: Matrix, size: number): Matrix {
  return m.slice(0, size).map((row) => row.slice(0, size));
}

function quadraticForm(m: Matrix, v: number[]): number {
  return m.reduce((sum, row, i) => sum + v[i] * row.reduce((inner, value, j) => inner + value * v[j], 0), 0);
}

const alphaArbitrary = fc.double({ min: 0, max: 4, noNaN: true });
const stepArbitrary = fc.integer({ min: 0, max: 2 * RAMP_STEPS });

describe('SingLoRA update', () => {
  it('A is max(in, out) x r and ΔW is out x in', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, (shape, seed) => {
        const { adapter } = singloraLayer(shape, seed);
        assert.deepEqual(adapter.singlora_A.shape, [Math.max(shape.inFeatures, shape.outFeatures), shape.rank]);
        assert.deepEqual(adapter.deltaWeight().shape, [shape.outFeatures, shape.inFeatures]);
      }),
      { numRuns: 30, examples: SHAPE_EXAMPLES.map((shape) => [shape, 1]) },
    );
  });

  it('ΔW is the leading out x in block of s_t A A^T', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, alphaArbitrary, stepArbitrary, (shape, seed, alpha, step) => {
        const { adapter } = singloraLayer(shape, seed, { alpha, step });
        const scale = (alpha / shape.rank) * Math.min(step / RAMP_STEPS, 1);
        const expected = expectedDelta(toMatrix(adapter.singlora_A), shape, scale);
        const actual = toMatrix(adapter.deltaWeight());
        assert.ok(maxAbsDifference(actual, expected) <= 1e-12 * (1 + maxAbs(expected)), `ΔW differs from the reference by ${maxAbsDifference(actual, expected)}`);
      }),
      { numRuns: 40, examples: SHAPE_EXAMPLES.map((shape) => [shape, 2, 2, 3]) },
    );
  });

  it('adapted weight is W0 + ΔW in both non-square directions', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, (shape, seed) => {
        const { model, adapter } = singloraLayer(shape, seed, { alpha: 1, step: 3 });
        const scale = (1 / shape.rank) * (3 / RAMP_STEPS);
        const w0 = toMatrix(originalWeight(model.layer));
        const delta = expectedDelta(toMatrix(adapter.singlora_A), shape, scale);
        const expected = w0.map((row, i) => row.map((w, j) => w + delta[i][j]));
        assert.ok(maxAbsDifference(toMatrix(model.layer.weight), expected) <= 1e-12);
      }),
      { numRuns: 30, examples: SHAPE_EXAMPLES.map((shape) => [shape, 3]) },
    );
  });

  it('t = 0: output equals the frozen layer exactly', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, fc.boolean(), (shape, seed, bias) => {
        const frozen = new OneLayer(shape, { seed, bias });
        const { model } = singloraLayer(shape, seed, { step: 0, bias });
        const x = randomTensor([4, shape.inFeatures], seed + 1);
        const expected = linear(x, frozen.layer.weight, frozen.layer.bias);
        assert.deepEqual(model.layer.call(x).toArray(), expected.toArray());
        assert.deepEqual(linear(x, model.layer.weight, model.layer.bias).toArray(), expected.toArray());
      }),
      { numRuns: 30, examples: SHAPE_EXAMPLES.map((shape) => [shape, 4, true]) },
    );
  });

  it('t = 0: ∂L/∂A is exactly zero on both paths', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, (shape, seed) => {
        const { model, adapter } = singloraLayer(shape, seed, { step: 0 });
        const x = randomTensor([4, shape.inFeatures], seed + 1);
        const g = randomTensor([4, shape.outFeatures], seed + 2);
        for (const forward of [() => model.layer.call(x), () => linear(x, model.layer.weight, model.layer.bias)]) {
          adapter.singlora_A.grad = null;
          forward().mul(g).sum().backward();
          const grad = adapter.singlora_A.grad as Tensor | null;
          assert.ok(grad === null || Array.from(grad.toTypedArray()).every((v) => v === 0), 'a gradient element is not 0');
        }
      }),
      { numRuns: 20, examples: SHAPE_EXAMPLES.map((shape) => [shape, 5]) },
    );
  });

  it('A = 0 gives a zero gradient at any t', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(6), seedArbitrary, stepArbitrary, (shape, seed, step) => {
        const { model, adapter } = singloraLayer(shape, seed, { step });
        noGrad(() => adapter.singlora_A.zero_());
        model.layer.call(randomTensor([3, shape.inFeatures], seed + 1)).mul(randomTensor([3, shape.outFeatures], seed + 2)).sum().backward();
        assert.ok(Array.from(adapter.singlora_A.grad!.toTypedArray()).every((v) => v === 0));
      }),
      { numRuns: 15 },
    );
  });

  it('square ΔW is symmetric positive semi-definite', () => {
    fc.assert(
      fc.property(squareShapeArbitrary(8), seedArbitrary, alphaArbitrary, stepArbitrary, (shape, seed, alpha, step) => {
        const { adapter } = singloraLayer(shape, seed, { alpha, step });
        const delta = toMatrix(adapter.deltaWeight());
        const size = maxAbs(delta);
        assert.ok(maxAbsDifference(delta, transposePlain(delta)) <= 1e-14 * (1 + size), 'ΔW is not symmetric');
        for (let k = 0; k < 5; k++) {
          const v = toMatrix(randomTensor([1, shape.inFeatures], seed + 10 + k))[0];
          const norm2 = v.reduce((sum, vi) => sum + vi * vi, 0);
          assert.ok(quadraticForm(delta, v) >= -1e-12 * (1 + size) * norm2, `x^T ΔW x = ${quadraticForm(delta, v)} < 0`);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('non-square ΔW has a symmetric PSD leading min x min block', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, alphaArbitrary, (shape, seed, alpha) => {
        const { adapter } = singloraLayer(shape, seed, { alpha });
        const block = leadingBlock(toMatrix(adapter.deltaWeight()), Math.min(shape.inFeatures, shape.outFeatures));
        const size = maxAbs(block);
        assert.ok(maxAbsDifference(block, transposePlain(block)) <= 1e-14 * (1 + size));
        for (let k = 0; k < 5; k++) {
          const v = toMatrix(randomTensor([1, block.length], seed + 20 + k))[0];
          assert.ok(quadraticForm(block, v) >= -1e-12 * (1 + size) * v.reduce((sum, vi) => sum + vi * vi, 0));
        }
      }),
      { numRuns: 30, examples: SHAPE_EXAMPLES.map((shape) => [shape, 6, 1.5]) },
    );
  });

  it('ΔW has rank at most r', () => {
    // R1 ΔW R2 with random (r+1) x out and in x (r+1) projections is singular iff rank(ΔW) <= r
    // (almost surely); its determinant is compared with Hadamard's bound, the product of row norms.
    const shapes = layerShapeArbitrary(8).filter((s) => s.rank < Math.min(s.inFeatures, s.outFeatures));
    fc.assert(
      fc.property(shapes, seedArbitrary, (shape, seed) => {
        const { adapter } = singloraLayer(shape, seed, { alpha: shape.rank });
        const k = shape.rank + 1;
        const left = toMatrix(randomTensor([k, shape.outFeatures], seed + 1));
        const right = toMatrix(randomTensor([shape.inFeatures, k], seed + 2));
        const projected = matmulPlain(matmulPlain(left, toMatrix(adapter.deltaWeight())), right);
        const hadamard = projected.reduce((product, row) => product * Math.sqrt(row.reduce((sum, v) => sum + v * v, 0)), 1);
        assert.ok(Math.abs(determinant(projected)) <= 1e-9 * hadamard, `det = ${determinant(projected)}, Hadamard bound ${hadamard}`);
      }),
      { numRuns: 30, examples: [[{ inFeatures: 5, outFeatures: 5, rank: 2 }, 1], [{ inFeatures: 3, outFeatures: 6, rank: 1 }, 2], [{ inFeatures: 6, outFeatures: 4, rank: 3 }, 3]] },
    );
  });

  it('rank test detects a full-rank matrix', () => {
    // Control for the test above: a generic (r+1) x (r+1) projection of a full-rank matrix is not singular.
    const full = toMatrix(randomTensor([4, 4], 9));
    const projected = matmulPlain(matmulPlain(toMatrix(randomTensor([3, 4], 10)), full), toMatrix(randomTensor([4, 3], 11)));
    const hadamard = projected.reduce((product, row) => product * Math.sqrt(row.reduce((sum, v) => sum + v * v, 0)), 1);
    assert.ok(Math.abs(determinant(projected)) > 1e-6 * hadamard);
  });

  it('ΔW is linear in (α/r) · u', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, alphaArbitrary, stepArbitrary, (shape, seed, alpha, step) => {
        const { adapter: reference } = singloraLayer(shape, seed, { alpha: shape.rank, step: RAMP_STEPS });
        const { adapter } = singloraLayer(shape, seed, { alpha, step });
        noGrad(() => adapter.singlora_A.copy_(reference.singlora_A));
        const factor = (alpha / shape.rank) * Math.min(step / RAMP_STEPS, 1);
        const expected = toMatrix(reference.deltaWeight()).map((row) => row.map((v) => factor * v));
        assert.ok(maxAbsDifference(toMatrix(adapter.deltaWeight()), expected) <= 1e-12 * (1 + maxAbs(expected)));
      }),
      { numRuns: 30 },
    );
  });

  it('∂L/∂A matches the closed form s_t [pad(G A_in) + pad(G^T A_out)]', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(6), seedArbitrary, stepArbitrary, (shape, seed, step) => {
        const { model, adapter } = singloraLayer(shape, seed, { alpha: 1.5, step });
        const x = randomTensor([4, shape.inFeatures], seed + 1);
        const g = randomTensor([4, shape.outFeatures], seed + 2);
        model.layer.call(x).mul(g).sum().backward();

        const scale = (1.5 / shape.rank) * Math.min(step / RAMP_STEPS, 1);
        const a = toMatrix(adapter.singlora_A);
        const gradW = matmulPlain(transposePlain(toMatrix(g)), toMatrix(x));
        const fromRows = matmulPlain(gradW, a.slice(0, shape.inFeatures));
        const fromColumns = matmulPlain(transposePlain(gradW), a.slice(0, shape.outFeatures));
        const expected = a.map((row, i) =>
          row.map((_, k) => scale * ((i < shape.outFeatures ? fromRows[i][k] : 0) + (i < shape.inFeatures ? fromColumns[i][k] : 0))),
        );
        const actual = toMatrix(adapter.singlora_A.grad!);
        assert.ok(maxAbsDifference(actual, expected) <= 1e-12 * (1 + maxAbs(expected)), `gradient differs by ${maxAbsDifference(actual, expected)}`);
      }),
      { numRuns: 30, examples: SHAPE_EXAMPLES.map((shape) => [shape, 7, 5]) },
    );
  });
});

// ---- transformation invariance ---------------------------------------------------------------

const LEARNING_RATE = 0.05;

/** One SGD step on L = Σ g ⊙ layer(x) from the current adapter factors; returns ΔW afterwards. */
function deltaAfterOneStep(model: OneLayer, adapted: ReturnType<typeof injectAdapters>, x: Tensor, g: Tensor): Matrix {
  const optimizer = new SGD(adapted.trainableParameters(), { lr: LEARNING_RATE });
  adapted.attachOptimizer(optimizer);
  optimizer.zeroGrad();
  model.layer.call(x).mul(g).sum().backward();
  optimizer.step();
  return toMatrix(adapterOf(model.layer).deltaWeight());
}

describe('transformation invariance of one gradient step', () => {
  it('SingLoRA: A and A Q give the same ΔW after a step', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(6), seedArbitrary, (shape, seed) => {
        const first = singloraLayer(shape, seed, { alpha: 1, step: RAMP_STEPS });
        const second = singloraLayer(shape, seed, { alpha: 1, step: RAMP_STEPS });
        const a = toMatrix(first.adapter.singlora_A);
        const rotated = matmulPlain(a, randomOrthogonal(shape.rank, seed + 5));
        noGrad(() => second.adapter.singlora_A.copy_(tensor(rotated, { dtype: 'float64' })));
        const before = maxAbsDifference(toMatrix(first.adapter.deltaWeight()), toMatrix(second.adapter.deltaWeight()));
        assert.ok(before <= 1e-12, `ΔW differs by ${before} before the step`);

        const x = randomTensor([5, shape.inFeatures], seed + 1);
        const g = randomTensor([5, shape.outFeatures], seed + 2);
        const fromA = deltaAfterOneStep(first.model, first.adapted, x, g);
        const fromAQ = deltaAfterOneStep(second.model, second.adapted, x, g);
        assert.ok(maxAbsDifference(fromA, fromAQ) <= 1e-10 * (1 + maxAbs(fromA)), `ΔW differs by ${maxAbsDifference(fromA, fromAQ)} after the step`);
        assert.ok(maxAbsDifference(fromA, toMatrix(first.adapter.deltaWeight())) === 0);
      }),
      { numRuns: 25, examples: [[{ inFeatures: 4, outFeatures: 4, rank: 3 }, 1], [{ inFeatures: 3, outFeatures: 5, rank: 2 }, 2], [{ inFeatures: 5, outFeatures: 3, rank: 2 }, 3]] },
    );
  });

  it('LoRA control: (c B, A / c) changes the step', () => {
    const shape = { inFeatures: 4, outFeatures: 4, rank: 2 };
    const c = 3;
    const build = () => {
      const model = new OneLayer(shape, { seed: 1 });
      const adapted = injectAdapters(model, { method: 'lora', rank: 2, alpha: 2, targets: ['layer'] });
      return { model, adapted, adapter: adapterOf(model.layer) as LoRA };
    };
    const first = build();
    const second = build();
    fillRandom(first.adapter.lora_A, 2);
    fillRandom(first.adapter.lora_B, 3);
    noGrad(() => {
      second.adapter.lora_A.copy_(first.adapter.lora_A.div(c));
      second.adapter.lora_B.copy_(first.adapter.lora_B.mul(c));
    });
    assert.ok(maxAbsDifference(toMatrix(first.adapter.deltaWeight()), toMatrix(second.adapter.deltaWeight())) <= 1e-12);

    const x = randomTensor([5, 4], 4);
    const g = randomTensor([5, 4], 5);
    const fromBA = deltaAfterOneStep(first.model, first.adapted, x, g);
    const fromScaled = deltaAfterOneStep(second.model, second.adapted, x, g);
    assert.ok(maxAbsDifference(fromBA, fromScaled) > 1e-3 * maxAbs(fromBA), 'LoRA gave the same step after rescaling its factors');
  });
});

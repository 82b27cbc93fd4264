import assert from 'node:assert/strict';

import fc from 'fast-check';

import { ShapeError, ValueError, gradcheck, gradgradcheck, layerNorm, tensor } from '../index.js';
import { assertAllClose, randomTensor, valuesOf } from './functional-helpers.js';

const layerNormCase = fc.record({
  leading: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
  normalized: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  affine: fc.constantFrom('none', 'weight', 'both'),
});

type LayerNormCase = typeof layerNormCase extends fc.Arbitrary<infer T> ? T : never;

function layerNormInputs(c: LayerNormCase, requiresGrad: boolean) {
  const shape = [...c.leading, ...c.normalized];
  return {
    input: randomTensor(shape, c.seed, { scale: 2, shift: 0.5, requiresGrad }),
    weight: c.affine === 'none' ? null : randomTensor(c.normalized, c.seed + 1, { shift: 1, requiresGrad }),
    bias: c.affine === 'both' ? randomTensor(c.normalized, c.seed + 2, { requiresGrad }) : null,
  };
}

/** Layer norm with explicit loops: mean and biased variance over each group of trailing elements. */
function referenceLayerNorm(input: number[], groupSize: number, weight: number[] | null, bias: number[] | null, eps: number): number[] {
  const out: number[] = [];
  for (let start = 0; start < input.length; start += groupSize) {
    const group = input.slice(start, start + groupSize);
    const mean = group.reduce((a, b) => a + b, 0) / groupSize;
    const variance = group.reduce((a, b) => a + (b - mean) ** 2, 0) / groupSize;
    group.forEach((x, j) => out.push(((x - mean) / Math.sqrt(variance + eps)) * (weight?.[j] ?? 1) + (bias?.[j] ?? 0)));
  }
  return out;
}

describe('functional layerNorm', () => {
  it('matches mean and variance loops', () => {
    fc.assert(
      fc.property(layerNormCase, fc.constantFrom(1e-5, 0.1), (c, eps) => {
        const { input, weight, bias } = layerNormInputs(c, false);
        const groupSize = c.normalized.reduce((p, s) => p * s, 1);
        const expected = referenceLayerNorm(valuesOf(input), groupSize, weight && valuesOf(weight), bias && valuesOf(bias), eps);
        const out = layerNorm(input, c.normalized, weight, bias, eps);
        assert.deepEqual(out.shape, input.shape);
        assertAllClose(valuesOf(out), expected);
      }),
      { numRuns: 50 },
    );
  });

  it('passes gradcheck for input, weight and bias', () => {
    fc.assert(
      fc.property(layerNormCase, (c) => {
        const { input, weight, bias } = layerNormInputs(c, true);
        const inputs = [input, ...(weight === null ? [] : [weight]), ...(bias === null ? [] : [bias])];
        return gradcheck((x, w, b) => layerNorm(x, c.normalized, w ?? null, b ?? null), inputs);
      }),
      { numRuns: 25 },
    );
  });

  it('passes gradgradcheck', () => {
    fc.assert(
      fc.property(layerNormCase, (c) => {
        const { input, weight, bias } = layerNormInputs({ ...c, leading: c.leading.slice(0, 1) }, true);
        const inputs = [input, ...(weight === null ? [] : [weight]), ...(bias === null ? [] : [bias])];
        return gradgradcheck((x, w, b) => layerNorm(x, c.normalized, w ?? null, b ?? null), inputs);
      }),
      { numRuns: 8 },
    );
  });

  it('gives zero input gradient for a constant upstream', () => {
    // The output has zero mean over each group whatever the input, so sum(out) does not depend on it.
    const input = randomTensor([3, 4], 5, { requiresGrad: true });
    layerNorm(input, [4]).sum().backward();
    assertAllClose(valuesOf(input.grad!), new Array(12).fill(0), { atol: 1e-12 });
  });

  it('normalizes large offsets accurately', () => {
    // The two-pass variance keeps the spread of values near 1e6 that a one-pass E[x^2] - E[x]^2 would lose.
    const out = layerNorm(tensor([[1e6 + 1, 1e6 - 1]], { dtype: 'float64' }), 2, null, null, 0);
    assertAllClose(valuesOf(out), [1, -1], { atol: 1e-9 });
  });

  it('names mismatched shapes', () => {
    const input = randomTensor([2, 3, 5], 1);
    assert.throws(() => layerNorm(input, [4]), {
      name: 'ShapeError',
      message: /input of shape \[2, 3, 5\] does not end with normalizedShape \[4\]/,
    });
    assert.throws(() => layerNorm(input, [3, 5], randomTensor([5], 2)), { name: 'ShapeError', message: /weight of shape \[5\] must have normalizedShape \[3, 5\]/ });
    assert.throws(() => layerNorm(input, [2, 2, 3, 5]), ShapeError);
    assert.throws(() => layerNorm(input, []), ValueError);
  });
});

import assert from 'node:assert/strict';

import fc from 'fast-check';

import { Generator, dropout, gradcheck, manualSeed, ones, tensor } from '../index.js';
import { assertAllClose, randomTensor, valuesOf } from './functional-helpers.js';

describe('functional dropout', () => {
  it('repeats with the same seed', () => {
    const input = randomTensor([4, 5], 1);
    const first = dropout(input, 0.4, true, { generator: new Generator(123) });
    const second = dropout(input, 0.4, true, { generator: new Generator(123) });
    const other = dropout(input, 0.4, true, { generator: new Generator(124) });
    assert.deepEqual(valuesOf(first), valuesOf(second));
    assert.notDeepEqual(valuesOf(first), valuesOf(other));
  });

  it('repeats after manualSeed', () => {
    const input = ones([50]);
    manualSeed(7);
    const first = valuesOf(dropout(input, 0.5));
    manualSeed(7);
    assert.deepEqual(valuesOf(dropout(input, 0.5)), first);
  });

  it('keeps the mean and scales kept elements', () => {
    for (const p of [0.1, 0.5, 0.8]) {
      const count = 40_000;
      const values = valuesOf(dropout(ones([count], { dtype: 'float64' }), p, true, { generator: new Generator(99) }));
      const kept = values.filter((v) => v !== 0);
      for (const v of kept) assert.ok(Math.abs(v - 1 / (1 - p)) < 1e-12, `p=${p}: a kept element is ${v}, expected ${1 / (1 - p)}`);
      // Each element is 1/(1-p) with probability 1-p, so the mean has variance p / ((1-p) count);
      // six standard deviations make a false failure practically impossible.
      const mean = values.reduce((a, b) => a + b, 0) / count;
      const tolerance = 6 * Math.sqrt(p / ((1 - p) * count));
      assert.ok(Math.abs(mean - 1) < tolerance, `p=${p}: mean ${mean} is off by more than ${tolerance}`);
      const droppedFraction = 1 - kept.length / count;
      assert.ok(Math.abs(droppedFraction - p) < 6 * Math.sqrt((p * (1 - p)) / count), `p=${p}: dropped fraction ${droppedFraction}`);
    }
  });

  it('is the identity in eval mode or at p = 0', () => {
    const input = randomTensor([3, 3], 2, { requiresGrad: true });
    assert.equal(dropout(input, 0.5, false), input);
    assert.equal(dropout(input, 0), input);
  });

  it('gives zeros and zero gradient at p = 1', () => {
    const input = randomTensor([2, 3], 3, { requiresGrad: true });
    const out = dropout(input, 1);
    // Negative inputs give -0, which equals 0 as a number, so compare with === rather than deepEqual.
    assert.ok(valuesOf(out).every((v) => v === 0));
    out.sum().backward();
    assert.ok(valuesOf(input.grad!).every((v) => v === 0));
  });

  it('masks the gradient like the output', () => {
    const input = randomTensor([20], 4, { requiresGrad: true });
    const out = dropout(input, 0.3, true, { generator: new Generator(5) });
    out.sum().backward();
    // d out_i / d x_i is 0 for a dropped element and 1/(1-p) for a kept one, which is out_i / x_i.
    const expected = valuesOf(out).map((v, i) => v / valuesOf(input)[i]);
    assertAllClose(valuesOf(input.grad!), expected);
  });

  it('passes gradcheck with a fixed mask', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (shape, seed, p) => {
        const input = randomTensor(shape, seed, { requiresGrad: true });
        // A fresh generator per call draws the same mask for every finite-difference evaluation.
        return gradcheck((x) => dropout(x, p, true, { generator: new Generator(seed) }), [input]);
      }),
      { numRuns: 20 },
    );
  });

  it('rejects p outside [0, 1]', () => {
    const input = tensor([1, 2, 3]);
    assert.throws(() => dropout(input, 1.5), { name: 'ValueError', message: /p must lie in \[0, 1\], got 1\.5/ });
    assert.throws(() => dropout(input, -0.1), { name: 'ValueError', message: /-0\.1/ });
    assert.throws(() => dropout(input, Number.NaN), { name: 'ValueError', message: /NaN/ });
  });
});

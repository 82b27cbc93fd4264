/**
 * The benchmark workloads at tiny sizes: each runs, trains (the loss falls) and computes what the
 * reference scripts compute. Timing is not tested here; `npm run bench` measures it.
 */
import assert from 'node:assert/strict';

import { mulberry32, seededIntegers, seededNormal, transposed } from '../bench/common.js';
import { buildTransformerStep } from '../bench/w1-transformer.js';
import { buildMatmulCase } from '../bench/w2-matmul.js';
import { ADAPTER_VARIANTS, buildAdapterWorkload } from '../bench/w3-adapter.js';

describe('bench seeded data', () => {
  // Expected values from the NumPy implementation of the same generator in the reference scripts.
  it('mulberry32 matches the reference uniforms', () => {
    const uniform = mulberry32(1);
    const expected = [0.6270739405881613, 0.002735721180215478, 0.5274470399599522];
    for (const value of expected) assert.equal(uniform(), value);
  });

  it('seededNormal matches the reference normals', () => {
    const values = seededNormal(3, 7, 0.5);
    const expected = [0.07098522037267685, 0.02912035770714283, -0.432126522064209];
    expected.forEach((value, i) => assert.equal(values[i], Math.fround(value)));
  });

  it('seededIntegers matches the reference integers', () => {
    assert.deepEqual([...seededIntegers(5, 10, 3)], [7, 0, 4, 0, 7]);
  });

  it('transposed swaps rows and columns', () => {
    assert.deepEqual([...transposed(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)], [1, 4, 2, 5, 3, 6]);
  });
});

describe('bench W1 tiny transformer', () => {
  const config = { V: 11, d: 8, T: 4, B: 2, H: 2 };

  it('starts near ln(V) and the loss falls', () => {
    const workload = buildTransformerStep(config, { lr: 1e-2 });
    const losses = Array.from({ length: 8 }, () => workload.step());
    for (const loss of losses) assert.ok(Number.isFinite(loss), `loss ${loss} is not finite`);
    // Weights of std 0.02 give logits near 0, so the first loss is close to ln(V).
    assert.ok(Math.abs(losses[0] - Math.log(config.V)) < 0.05, `first loss ${losses[0]} is not near ln(11) = ${Math.log(config.V)}`);
    assert.ok(losses[7] < losses[0], `loss did not fall: ${losses[0]} -> ${losses[7]}`);
  });
});

describe('bench W2 matmul', () => {
  it('matches float64 dot products', () => {
    const product = buildMatmulCase(24);
    const c = product.run();
    assert.equal(c.length, 24 * 24);
    assert.ok(c.every(Number.isFinite));
    assert.ok(product.sampledRelativeError(c) < 1e-5);
  });

  it('reports a wrong product', () => {
    const product = buildMatmulCase(8);
    const c = product.run().map((v) => v + 1);
    assert.ok(product.sampledRelativeError(c) > 1e-3);
  });
});

describe('bench W3 adapter step', () => {
  const shape = { inFeatures: 16, outFeatures: 24, rank: 2, batch: 4 };

  it('agrees between the factored and materialised SingLoRA forms', () => {
    const { outputDiff, gradDiff } = buildAdapterWorkload(shape).checkSingLoRAForms();
    assert.ok(outputDiff < 1e-5, `outputs differ by ${outputDiff}`);
    assert.ok(gradDiff < 1e-4, `gradients differ by ${gradDiff} (relative)`);
  });

  it('starts LoRA at the base layer loss', () => {
    // B starts at zero, so the first loss is the mean squared error of x W0^T alone, computed here
    // with plain loops from the same seeded arrays (seeds 5000, 5001, 5002 as in the workload).
    const { inFeatures: n, outFeatures: m, batch } = shape;
    const x = seededNormal(batch * n, 5000);
    const weight = seededNormal(n * m, 5001, 1 / Math.sqrt(n)); // [in, out]
    const target = seededNormal(batch * m, 5002);
    let squares = 0;
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < m; o++) {
        let y = 0;
        for (let i = 0; i < n; i++) y += x[b * n + i] * weight[i * m + o];
        squares += (y - target[b * m + o]) ** 2;
      }
    }
    const loss = buildAdapterWorkload(shape).variant('lora').step();
    assert.ok(Math.abs(loss - squares / (batch * m)) < 1e-5, `first loss ${loss}, expected ${squares / (batch * m)}`);
  });

  for (const variant of ADAPTER_VARIANTS) {
    it(`${variant} loss falls`, () => {
      const step = buildAdapterWorkload(shape, { lr: 1e-2 }).variant(variant).step;
      const losses = Array.from({ length: 6 }, () => step());
      for (const loss of losses) assert.ok(Number.isFinite(loss), `loss ${loss} is not finite`);
      assert.ok(losses[5] < losses[0], `loss did not fall: ${losses[0]} -> ${losses[5]}`);
    });
  }
});

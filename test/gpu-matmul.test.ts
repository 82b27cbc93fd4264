import assert from 'node:assert/strict';
import fc from 'fast-check';

import { Tensor, linear, matmul, tensor } from '../index.js';
import { RUNS, checkForwardBackward, describeGpu, expectClose, sample } from './gpu-harness.js';

const size = fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 9 }));
const seed = fc.integer({ min: 1, max: 2 ** 30 });

/** Matrix products of k float32 terms: a few units of 2^-24 per term, relative to the magnitudes. */
const PRODUCT_TOLERANCE = { atol: 1e-4, rtol: 1e-4 };

/** Returns `x`, or a transposed view of a tensor stored transposed, with the same values. */
function maybeTransposed(x: Tensor, transposed: boolean): Tensor {
  return transposed ? x.transpose(-1, -2).contiguous().transpose(-1, -2) : x;
}

describeGpu('gpu matmul', () => {
  it('2-D products with transposed operands', () => {
    fc.assert(
      fc.property(size, size, size, fc.boolean(), fc.boolean(), seed, (m, k, n, transA, transB, s) => {
        const a = sample([m, k], s);
        const b = sample([k, n], s + 1);
        checkForwardBackward(
          `matmul [${m}, ${k}] x [${k}, ${n}]`,
          (x, y) => matmul(maybeTransposed(x, transA), maybeTransposed(y, transB)),
          [a, b],
          s,
          PRODUCT_TOLERANCE,
        );
      }),
      RUNS,
    );
  });

  it('batched products with broadcast batch dims', () => {
    fc.assert(
      fc.property(fc.array(size, { minLength: 1, maxLength: 2 }), fc.boolean(), size, size, size, seed, (batch, broadcastLeft, m, k, n, s) => {
        // One operand has every batch dim (or size 1 on the first); the other has none.
        const batchA = broadcastLeft ? [1, ...batch.slice(1)] : batch;
        const a = sample([...batchA, m, k], s);
        const b = sample(broadcastLeft ? [...batch, k, n] : [k, n], s + 1);
        checkForwardBackward(`matmul batch [${batch}]`, (x, y) => matmul(x, y), [a, b], s, PRODUCT_TOLERANCE);
      }),
      RUNS,
    );
  });

  it('vector operands', () => {
    const v = sample([5], 1);
    const w = sample([5, 3], 2);
    checkForwardBackward('vector x matrix', (x, y) => matmul(x, y), [v, w], 3, PRODUCT_TOLERANCE);
    checkForwardBackward('matrix x vector', (x, y) => matmul(y.transpose(0, 1), x), [v, w], 4, PRODUCT_TOLERANCE);
    checkForwardBackward('dot product', (x) => matmul(x, x), [v], 5, PRODUCT_TOLERANCE);
  });

  it('linear with bias', () => {
    fc.assert(
      fc.property(size, size, size, seed, (rows, inFeatures, outFeatures, s) => {
        const x = sample([2, rows, inFeatures], s);
        const weight = sample([outFeatures, inFeatures], s + 1);
        const bias = sample([outFeatures], s + 2);
        checkForwardBackward('linear', (a, w, c) => linear(a, w, c), [x, weight, bias], s, PRODUCT_TOLERANCE);
      }),
      RUNS,
    );
  });

  it('inner size not a multiple of the unroll', () => {
    // The kernel sums 4 terms per loop step and the remainder after it: k = 1..9 covers both paths.
    for (let k = 1; k <= 9; k++) {
      const a = sample([3, k], k);
      const b = sample([k, 2], k + 50);
      expectClose(matmul(a.gpu(), b.gpu()), matmul(a.double(), b.double()), PRODUCT_TOLERANCE, `k = ${k}`);
    }
  });

  it('known product', () => {
    const a = tensor([[1, 2], [3, 4]], { device: 'gpu' });
    const b = tensor([[5, 6], [7, 8]], { device: 'gpu' });
    assert.deepEqual(matmul(a, b).toArray(), [[19, 22], [43, 50]]);
    assert.deepEqual(matmul(a.T, b).toArray(), [[26, 30], [38, 44]]);
  });

  it('inner dim larger than a texture row', () => {
    const a = sample([2, 5000], 8);
    const b = sample([5000, 3], 9);
    checkForwardBackward('k = 5000', (x, y) => matmul(x, y), [a, b], 10, { atol: 1e-3, rtol: 1e-4 });
  });
});

import assert from 'node:assert/strict';

import fc from 'fast-check';

import { DTypeError, IndexError, embedding, gradcheck, tensor } from '../index.js';
import { assertAllClose, randomIntegers, randomTensor, valuesOf } from './functional-helpers.js';

const embeddingCase = fc.record({
  indexShape: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
  rows: fc.integer({ min: 1, max: 5 }),
  dim: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
});

type EmbeddingCase = typeof embeddingCase extends fc.Arbitrary<infer T> ? T : never;

function embeddingInputs(c: EmbeddingCase) {
  const count = c.indexShape.reduce((p, s) => p * s, 1);
  const flat = randomIntegers(count, 0, c.rows, c.seed + 1);
  return {
    flat,
    indices: tensor(Int32Array.from(flat), { shape: c.indexShape }),
    weight: randomTensor([c.rows, c.dim], c.seed, { requiresGrad: true }),
  };
}

describe('functional embedding', () => {
  it('looks up rows', () => {
    fc.assert(
      fc.property(embeddingCase, (c) => {
        const { flat, indices, weight } = embeddingInputs(c);
        const out = embedding(indices, weight);
        assert.deepEqual(out.shape, [...c.indexShape, c.dim]);
        const table = valuesOf(weight);
        assert.deepEqual(valuesOf(out), flat.flatMap((row) => table.slice(row * c.dim, (row + 1) * c.dim)));
      }),
      { numRuns: 40 },
    );
  });

  it('sums the gradient of repeated rows', () => {
    fc.assert(
      fc.property(embeddingCase, (c) => {
        const { flat, indices, weight } = embeddingInputs(c);
        const upstream = randomTensor([...c.indexShape, c.dim], c.seed + 2);
        embedding(indices, weight).mul(upstream).sum().backward();
        const expected = new Array<number>(c.rows * c.dim).fill(0);
        const g = valuesOf(upstream);
        flat.forEach((row, position) => {
          for (let j = 0; j < c.dim; j++) expected[row * c.dim + j] += g[position * c.dim + j];
        });
        assertAllClose(valuesOf(weight.grad!), expected);
      }),
      { numRuns: 40 },
    );
  });

  it('passes gradcheck for the weight', () => {
    fc.assert(
      fc.property(embeddingCase, (c) => {
        const { indices, weight } = embeddingInputs(c);
        return gradcheck((w) => embedding(indices, w), [weight]);
      }),
      { numRuns: 25 },
    );
  });

  it('gives paddingIdx a zero gradient', () => {
    const indices = tensor([[1, 3, 1], [0, 1, 2]], { dtype: 'int32' });
    const upstream = randomTensor([2, 3, 2], 4);
    const padded = randomTensor([4, 2], 3, { requiresGrad: true });
    const plain = randomTensor([4, 2], 3, { requiresGrad: true });
    const out = embedding(indices, padded, { paddingIdx: 1 });
    out.mul(upstream).sum().backward();
    embedding(indices, plain).mul(upstream).sum().backward();

    // The forward pass still returns the padding row's values, and only that row's gradient changes.
    assert.deepEqual(valuesOf(out), valuesOf(embedding(indices, plain)));
    const expected = valuesOf(plain.grad!);
    expected[2] = 0;
    expected[3] = 0;
    assert.deepEqual(valuesOf(padded.grad!), expected);
  });

  it('counts a negative paddingIdx from the end', () => {
    const weight = randomTensor([4, 2], 3, { requiresGrad: true });
    embedding(tensor([3, 0], { dtype: 'int32' }), weight, { paddingIdx: -1 }).sum().backward();
    assert.deepEqual(valuesOf(weight.grad!), [1, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('names an out-of-range index and the table size', () => {
    const weight = randomTensor([5, 3], 1);
    assert.throws(() => embedding(tensor([0, 7], { dtype: 'int32' }), weight), {
      name: 'IndexError',
      message: /index 7 is out of range for an embedding table of 5 rows \(weight shape \[5, 3\]\)/,
    });
    assert.throws(() => embedding(tensor([-1], { dtype: 'int32' }), weight), { name: 'IndexError', message: /index -1/ });
    assert.throws(() => embedding(tensor([0], { dtype: 'int32' }), weight, { paddingIdx: 5 }), IndexError);
  });

  it('rejects float indices and a non-2-D weight', () => {
    assert.throws(() => embedding(tensor([0, 1]), randomTensor([5, 3], 1)), DTypeError);
    assert.throws(() => embedding(tensor([0], { dtype: 'int32' }), randomTensor([5], 1)), { name: 'ShapeError', message: /got shape \[5\]/ });
  });
});

import assert from 'node:assert/strict';

import fc from 'fast-check';

import {
  batches,
  filterByLabels,
  labelCounts,
  splitDataset,
  subset,
  validateDataset,
  type ImageDataset,
} from '../data/dataset.js';
import { DatasetError } from '../data/errors.js';
import { formatImageAscii } from '../data/preview.js';

/**
 * Builds a dataset of 1 × 2 images whose pixels are [i / 1000, label / 1000], so every image
 * records its example index and the label it was stored with.
 */
function makeDataset(labels: number[]): ImageDataset {
  const images = new Float32Array(labels.length * 2);
  labels.forEach((label, i) => {
    images[2 * i] = i / 1000;
    images[2 * i + 1] = label / 1000;
  });
  return { images, labels: Int32Array.from(labels), count: labels.length, height: 1, width: 2, source: 'test' };
}

/** Returns the original example index stored in each image of `dataset`. */
function exampleIndices(dataset: { images: Float32Array }): number[] {
  const indices: number[] = [];
  for (let i = 0; i < dataset.images.length; i += 2) {
    indices.push(Math.round(dataset.images[i]! * 1000));
  }
  return indices;
}

describe('data/dataset', () => {
  describe('filterByLabels', () => {
    it('keeps matching examples in order', () => {
      const filtered = filterByLabels(makeDataset([5, 1, 7, 5, 9]), [5, 9]);

      assert.equal(filtered.count, 3);
      assert.deepEqual(exampleIndices(filtered), [0, 3, 4]);
      assert.deepEqual(Array.from(filtered.labels), [5, 5, 9]);
      assert.equal(filtered.height, 1);
      assert.equal(filtered.width, 2);
    });

    it('remaps labels to their list positions', () => {
      const filtered = filterByLabels(makeDataset([5, 1, 7, 5, 9, 6, 8]), [5, 6, 7, 8, 9], true);

      assert.deepEqual(exampleIndices(filtered), [0, 2, 3, 4, 5, 6]);
      assert.deepEqual(Array.from(filtered.labels), [0, 2, 0, 4, 1, 3]);
    });

    it('remaps in the order listed', () => {
      const filtered = filterByLabels(makeDataset([5, 9]), [9, 5], true);

      assert.deepEqual(Array.from(filtered.labels), [1, 0]);
    });

    it('leaves the input unchanged', () => {
      const dataset = makeDataset([5, 9]);
      filterByLabels(dataset, [9, 5], true);

      assert.deepEqual(Array.from(dataset.labels), [5, 9]);
    });

    it('names the present labels when none match', () => {
      assert.throws(
        () => filterByLabels(makeDataset([1, 3, 3]), [10, 11]),
        (error: unknown) =>
          error instanceof DatasetError &&
          error.message.includes('[10, 11]') &&
          error.message.includes('labels present are [1, 3]'),
      );
    });

    it('rejects a label listed twice', () => {
      assert.throws(() => filterByLabels(makeDataset([1]), [1, 1], true), /label 1 is listed twice/);
    });
  });

  describe('splitDataset', () => {
    it('splits a fraction into disjoint sets', () => {
      const { train, test } = splitDataset(makeDataset([0, 1, 2, 3, 4, 5, 6, 7]), 0.25, 1);

      assert.equal(train.count, 6);
      assert.equal(test.count, 2);
      const all = [...exampleIndices(train), ...exampleIndices(test)].sort((a, b) => a - b);
      assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7]);
    });

    it('takes an integer as the test size', () => {
      const { train, test } = splitDataset(makeDataset([0, 1, 2, 3, 4]), 1, 0);

      assert.equal(train.count, 4);
      assert.equal(test.count, 1);
    });

    it('keeps labels with their images', () => {
      const { train, test } = splitDataset(makeDataset([3, 1, 4, 1, 5, 9, 2, 6]), 3, 5);

      for (const part of [train, test]) {
        for (let i = 0; i < part.count; i++) {
          assert.equal(Math.round(part.images[2 * i + 1]! * 1000), part.labels[i]);
        }
      }
    });

    it('repeats for the same seed', () => {
      const dataset = makeDataset(Array.from({ length: 100 }, (_, i) => i % 10));

      const testIndices = (seed: number) => exampleIndices(splitDataset(dataset, 0.2, seed).test);

      assert.deepEqual(testIndices(9), testIndices(9));
      assert.notDeepEqual(testIndices(9), testIndices(10));
    });

    it('rejects sizes that empty a set', () => {
      const dataset = makeDataset([0, 1, 2, 3]);

      assert.throws(() => splitDataset(dataset, 0, 0), /both sets must be non-empty/);
      assert.throws(() => splitDataset(dataset, 4, 0), /both sets must be non-empty/);
      assert.throws(() => splitDataset(dataset, 0.01, 0), /gives 0 test examples/);
      assert.throws(() => splitDataset(dataset, 2.5, 0), /testSize 2.5/);
    });
  });

  describe('batches', () => {
    it('yields full batches then the remainder', () => {
      const sizes = [...batches(makeDataset([0, 1, 2, 3, 4, 5, 6, 7]), 3, 0)].map((batch) => batch.labels.length);

      assert.deepEqual(sizes, [3, 3, 2]);
    });

    it('drops the remainder with dropLast', () => {
      const sizes = [...batches(makeDataset([0, 1, 2, 3, 4, 5, 6, 7]), 3, 0, { dropLast: true })].map(
        (batch) => batch.labels.length,
      );

      assert.deepEqual(sizes, [3, 3]);
    });

    it('covers every example once with matching labels', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 40 }),
          fc.integer({ min: 1, max: 12 }),
          fc.integer(),
          (count, batchSize, seed) => {
            const dataset = makeDataset(Array.from({ length: count }, (_, i) => (i * 7) % 10));
            const seen: number[] = [];

            for (const batch of batches(dataset, batchSize, seed)) {
              assert.ok(batch.labels.length >= 1, 'empty batch');
              assert.ok(batch.labels.length <= batchSize, `batch of ${batch.labels.length}`);
              assert.equal(batch.images.length, batch.labels.length * 2);
              for (let i = 0; i < batch.labels.length; i++) {
                assert.equal(Math.round(batch.images[2 * i + 1]! * 1000), batch.labels[i]);
              }
              seen.push(...exampleIndices(batch));
            }

            assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i));
          },
        ),
      );
    });

    it('repeats the order for the same seed', () => {
      const dataset = makeDataset(Array.from({ length: 30 }, (_, i) => i % 10));
      const order = (seed: number) => [...batches(dataset, 4, seed)].flatMap(exampleIndices);

      assert.deepEqual(order(11), order(11));
      assert.notDeepEqual(order(11), order(12));
      assert.notDeepEqual(order(11), Array.from({ length: 30 }, (_, i) => i));
    });

    it('rejects a zero batch size before iterating', () => {
      assert.throws(() => batches(makeDataset([0]), 0, 0), /batchSize must be a positive integer, but got 0/);
    });
  });

  describe('helpers', () => {
    it('subset copies the listed examples', () => {
      const picked = subset(makeDataset([4, 5, 6]), [2, 0, 2]);

      assert.deepEqual(exampleIndices(picked), [2, 0, 2]);
      assert.deepEqual(Array.from(picked.labels), [6, 4, 6]);
    });

    it('subset rejects an index past the end', () => {
      assert.throws(() => subset(makeDataset([4, 5, 6]), [3]), /index 3 at position 0 is outside the dataset test/);
    });

    it('labelCounts counts each label', () => {
      assert.deepEqual(labelCounts(makeDataset([2, 0, 2, 2])), [1, 0, 3]);
    });

    it('validateDataset rejects mismatched lengths', () => {
      const dataset = { ...makeDataset([1, 2]), count: 3 };

      assert.throws(() => validateDataset(dataset), /labels has 2 entries but count is 3/);
    });

    it('formatImageAscii shades pixels by value', () => {
      const dataset: ImageDataset = {
        images: Float32Array.from([0, 1, 0.3, 0.6]),
        labels: Int32Array.from([8]),
        count: 1,
        height: 2,
        width: 2,
        source: 'test',
      };

      // 0 is blank, 0.3 falls in the second quarter (':'), 0.6 in the third ('+'), 1 is '#'.
      assert.equal(formatImageAscii(dataset, 0), ' #\n:+\nlabel 8');
    });
  });
});

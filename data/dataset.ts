/**
 * The in-memory image dataset every loader returns, and the helpers that select, split and batch it.
 */

import { DatasetError } from './errors.js';
import { randomPermutation } from './random.js';

/**
 * Grayscale images with one integer class label each.
 *
 * `images` is row-major with shape [count, height, width] and values in [0, 1], so image `i`
 * starts at offset `i * height * width`. `source` is a short description of where the examples came from,
 * for logs and error messages.
 */
export interface ImageDataset {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  source: string;
}

/** One mini-batch: `images` has shape [labels.length, height, width] like the dataset it came from. */
export interface Batch {
  images: Float32Array;
  labels: Int32Array;
}

/**
 * Largest label any loader accepts. IDX label files store labels as unsigned bytes, so 0-255 is
 * the range every format here can represent.
 */
export const MAX_LABEL = 255;

/** Throws a DatasetError unless the array lengths agree with count, height and width. */
export function validateDataset(dataset: ImageDataset): void {
  const { images, labels, count, height, width, source } = dataset;

  for (const [name, value] of [['count', count], ['height', height], ['width', width]] as const) {
    if (!Number.isInteger(value) || value < 0) {
      throw new DatasetError(`dataset ${source}: ${name} must be a non-negative integer, but is ${value}`);
    }
  }

  if (labels.length !== count) {
    throw new DatasetError(
      `dataset ${source}: labels has ${labels.length} entries but count is ${count}; ` +
        'there must be one label per image',
    );
  }

  const expectedPixels = count * height * width;
  if (images.length !== expectedPixels) {
    throw new DatasetError(
      `dataset ${source}: images has ${images.length} values but count × height × width is ` +
        `${count} × ${height} × ${width} = ${expectedPixels}`,
    );
  }
}

/** Returns a new dataset with the examples at `indices`, in that order (like torch.utils.data.Subset). */
export function subset(dataset: ImageDataset, indices: ArrayLike<number>, source = dataset.source): ImageDataset {
  const pixelsPerImage = dataset.height * dataset.width;
  const images = new Float32Array(indices.length * pixelsPerImage);
  const labels = new Int32Array(indices.length);

  for (let i = 0; i < indices.length; i++) {
    const index = indices[i]!;
    if (!Number.isInteger(index) || index < 0 || index >= dataset.count) {
      throw new RangeError(
        `subset: index ${index} at position ${i} is outside the dataset ${dataset.source}, ` +
          `which has ${dataset.count} examples`,
      );
    }
    const start = index * pixelsPerImage;
    images.set(dataset.images.subarray(start, start + pixelsPerImage), i * pixelsPerImage);
    labels[i] = dataset.labels[index]!;
  }

  return { images, labels, count: indices.length, height: dataset.height, width: dataset.width, source };
}

/** Returns the number of examples per label: entry `k` counts label `k`, up to the largest label present. */
export function labelCounts(dataset: ImageDataset): number[] {
  const counts: number[] = [];
  for (const label of dataset.labels) {
    while (counts.length <= label) {
      counts.push(0);
    }
    counts[label]! += 1;
  }
  return counts;
}

/**
 * Keeps the examples whose label is in `labels`, in their original order.
 *
 * With `remap`, the label `labels[k]` becomes `k`, so `filterByLabels(mnist, [5, 6, 7, 8, 9], true)`
 * returns the digits 5-9 labelled 0-4, ready for a 5-class head. Throws a DatasetError when
 * no example matches, because an empty training set is almost always a mistyped label list.
 */
export function filterByLabels(dataset: ImageDataset, labels: number[], remap = false): ImageDataset {
  const newLabelOf = new Map<number, number>();
  labels.forEach((label, k) => {
    if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
      throw new RangeError(`filterByLabels: label ${label} at position ${k} is not an integer in 0-${MAX_LABEL}`);
    }
    if (newLabelOf.has(label)) {
      throw new RangeError(
        `filterByLabels: label ${label} is listed twice (positions ${newLabelOf.get(label)} and ${k})`,
      );
    }
    newLabelOf.set(label, k);
  });

  const indices: number[] = [];
  for (let i = 0; i < dataset.count; i++) {
    if (newLabelOf.has(dataset.labels[i]!)) {
      indices.push(i);
    }
  }

  if (indices.length === 0) {
    const present = labelCounts(dataset)
      .map((count, label) => (count > 0 ? label : -1))
      .filter((label) => label >= 0);
    throw new DatasetError(
      `dataset ${dataset.source}: no example has a label in [${labels.join(', ')}]; ` +
        `the labels present are [${present.join(', ')}]`,
    );
  }

  const description = remap
    ? `labels ${labels.join(',')} remapped to 0-${labels.length - 1}`
    : `labels ${labels.join(',')}`;
  const filtered = subset(dataset, indices, `${dataset.source}, ${description}`);

  if (remap) {
    for (let i = 0; i < filtered.count; i++) {
      filtered.labels[i] = newLabelOf.get(filtered.labels[i]!)!;
    }
  }

  return filtered;
}

/**
 * Shuffles the dataset with `seed` and splits it into a training and a test set.
 *
 * `testSize` follows scikit-learn's train_test_split: a number in (0, 1) is the fraction of
 * examples that go to the test set (rounded to the nearest count), an integer >= 1 is the test
 * set's size. Both sets must end up non-empty. The same seed always gives the same split.
 */
export function splitDataset(
  dataset: ImageDataset,
  testSize: number,
  seed: number,
): { train: ImageDataset; test: ImageDataset } {
  const testCount = testSize > 0 && testSize < 1 ? Math.round(testSize * dataset.count) : testSize;

  if (!Number.isInteger(testCount) || testCount < 1 || testCount >= dataset.count) {
    throw new RangeError(
      `splitDataset: testSize ${testSize} gives ${testCount} test examples out of ${dataset.count}, ` +
        `but both sets must be non-empty; pass a fraction in (0, 1) or an integer in 1-${dataset.count - 1}`,
    );
  }

  const order = randomPermutation(dataset.count, seed);
  const trainCount = dataset.count - testCount;

  return {
    train: subset(dataset, order.subarray(0, trainCount), `${dataset.source}, train split (seed ${seed})`),
    test: subset(dataset, order.subarray(trainCount), `${dataset.source}, test split (seed ${seed})`),
  };
}

/**
 * Yields mini-batches of `batchSize` examples in an order shuffled by `seed`, covering every
 * example once (one epoch). The last batch is smaller when `batchSize` does not divide the
 * count, unless `dropLast` is set (as in PyTorch's DataLoader drop_last). Pass a different seed
 * per epoch, e.g. `baseSeed + epoch`, for a new order each epoch.
 */
export function batches(
  dataset: ImageDataset,
  batchSize: number,
  seed: number,
  options: { dropLast?: boolean } = {},
): Generator<Batch> {
  // Validate here rather than in the generator body, which would only run on the first next().
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batches: batchSize must be a positive integer, but got ${batchSize}`);
  }

  const order = randomPermutation(dataset.count, seed);
  const end = options.dropLast ? dataset.count - (dataset.count % batchSize) : dataset.count;
  return generateBatches(dataset, order, batchSize, end);
}

function* generateBatches(dataset: ImageDataset, order: Int32Array, batchSize: number, end: number): Generator<Batch> {
  for (let start = 0; start < end; start += batchSize) {
    const batch = subset(dataset, order.subarray(start, Math.min(start + batchSize, end)));
    yield { images: batch.images, labels: batch.labels };
  }
}

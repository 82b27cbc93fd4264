import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import fc from 'fast-check';

import { loadCsvDataset } from '../data/csv.js';
import { DatasetError } from '../data/errors.js';

/** Asserts that `run` throws a DatasetError whose message contains every one of `parts`. */
function assertDatasetError(run: () => unknown, parts: string[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DatasetError, `expected a DatasetError, got ${String(error)}`);
    for (const part of parts) {
      assert.ok(error.message.includes(part), `message "${error.message}" lacks "${part}"`);
    }
    return true;
  });
}

/** Asserts that two arrays of floats agree element by element within 1e-6. */
function assertClose(actual: ArrayLike<number>, expected: number[]): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-6, `element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('data/csv', () => {
  let directory: string;
  let fileNumber = 0;

  function writeText(text: string | Uint8Array, name = 'digits.csv'): string {
    fileNumber += 1;
    const path = join(directory, `${fileNumber}-${name}`);
    writeFileSync(path, text);
    return path;
  }

  before(() => {
    directory = mkdtempSync(join(tmpdir(), 'singlora-csv-'));
  });

  after(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  describe('loadCsvDataset', () => {
    it('reads labels and scales 0-255 pixels', () => {
      const dataset = loadCsvDataset(writeText('3,0,255,51,102\n7,255,0,0,0\n'));

      assert.equal(dataset.count, 2);
      assert.equal(dataset.height, 2);
      assert.equal(dataset.width, 2);
      assert.deepEqual(Array.from(dataset.labels), [3, 7]);
      // 51 / 255 = 0.2, 102 / 255 = 0.4.
      assertClose(dataset.images, [0, 1, 0.2, 0.4, 1, 0, 0, 0]);
    });

    it('detects and skips a header', () => {
      const dataset = loadCsvDataset(writeText('label,1x1,1x2,2x1,2x2\n3,0,255,51,102\n7,255,0,0,0\n'));

      assert.equal(dataset.count, 2);
      assert.deepEqual(Array.from(dataset.labels), [3, 7]);
    });

    it('skips a numeric first line when hasHeader is set', () => {
      const dataset = loadCsvDataset(writeText('0,1,2,3,4\n5,0,0,0,255\n'), { hasHeader: true });

      assert.equal(dataset.count, 1);
      assert.deepEqual(Array.from(dataset.labels), [5]);
    });

    it('keeps 0-1 pixels as they are', () => {
      const dataset = loadCsvDataset(writeText('1,0,0.5,1,0.25\n'));

      assertClose(dataset.images, [0, 0.5, 1, 0.25]);
    });

    it('scales 0/1 pixels when pixelMax is 255', () => {
      const dataset = loadCsvDataset(writeText('1,0,1,1,0\n'), { pixelMax: 255 });

      assertClose(dataset.images, [0, 1 / 255, 1 / 255, 0]);
    });

    it('accepts CRLF, a byte order mark and blank lines', () => {
      const dataset = loadCsvDataset(writeText('\uFEFF2,0,255,0,255\r\n\r\n4,255,255,0,0\r\n\r\n'));

      assert.deepEqual(Array.from(dataset.labels), [2, 4]);
      assertClose(dataset.images, [0, 1, 0, 1, 1, 1, 0, 0]);
    });

    it('infers the width from the height', () => {
      const dataset = loadCsvDataset(writeText('1,0,0,0,0,0,255\n'), { height: 2 });

      assert.equal(dataset.height, 2);
      assert.equal(dataset.width, 3);
    });

    it('infers the height from the width', () => {
      const dataset = loadCsvDataset(writeText('1,0,0,0,0,0,255\n'), { width: 6 });

      assert.equal(dataset.height, 1);
      assert.equal(dataset.width, 6);
    });

    it('gunzips a gzipped file', () => {
      const path = writeText(gzipSync(Buffer.from('label,a,b,c,d\n9,255,0,0,0\n')), 'digits.csv.gz');

      const dataset = loadCsvDataset(path);

      assert.deepEqual(Array.from(dataset.labels), [9]);
      assertClose(dataset.images, [1, 0, 0, 0]);
    });

    it('names the file in source', () => {
      const path = writeText('1,0,0,0,255\n');

      assert.equal(loadCsvDataset(path).source, `CSV file ${path}`);
    });
  });

  describe('round trips', () => {
    const datasetArbitrary = fc
      .record({
        count: fc.integer({ min: 1, max: 6 }),
        height: fc.integer({ min: 1, max: 4 }),
        width: fc.integer({ min: 1, max: 4 }),
        header: fc.boolean(),
        gzip: fc.boolean(),
        lineEnding: fc.constantFrom('\n', '\r\n'),
      })
      .chain((shape) =>
        fc.record({
          shape: fc.constant(shape),
          pixels: fc.array(fc.integer({ min: 0, max: 255 }), {
            minLength: shape.count * shape.height * shape.width,
            maxLength: shape.count * shape.height * shape.width,
          }),
          labels: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: shape.count, maxLength: shape.count }),
        }),
      );

    /** Formats a dataset as CSV text the way the "MNIST in CSV" files are written. */
    function formatCsv(
      shape: { count: number; height: number; width: number; header: boolean; lineEnding: string },
      pixels: number[],
      labels: number[],
    ): string {
      const pixelCount = shape.height * shape.width;
      const lines: string[] = [];
      if (shape.header) {
        lines.push(['label', ...Array.from({ length: pixelCount }, (_, i) => `pixel${i}`)].join(','));
      }
      for (let i = 0; i < shape.count; i++) {
        lines.push([labels[i], ...pixels.slice(i * pixelCount, (i + 1) * pixelCount)].join(','));
      }
      return lines.join(shape.lineEnding) + shape.lineEnding;
    }

    it('returns the labels and pixels / 255', () => {
      fc.assert(
        fc.property(datasetArbitrary, ({ shape, pixels, labels }) => {
          const text = formatCsv(shape, pixels, labels);
          const path = writeText(shape.gzip ? gzipSync(Buffer.from(text)) : text);

          const dataset = loadCsvDataset(path, { height: shape.height, width: shape.width, pixelMax: 255 });

          assert.equal(dataset.count, shape.count);
          assert.equal(dataset.height, shape.height);
          assert.equal(dataset.width, shape.width);
          assert.deepEqual(Array.from(dataset.labels), labels);
          assert.deepEqual(
            Array.from(dataset.images),
            pixels.map((value) => Math.fround(value / 255)),
          );
        }),
        { numRuns: 60 },
      );
    });

    it('detects 0-255 pixels when one exceeds 1', () => {
      fc.assert(
        fc.property(datasetArbitrary, ({ shape, pixels, labels }) => {
          const withBright = [255, ...pixels.slice(1)];
          const path = writeText(formatCsv(shape, withBright, labels));

          const dataset = loadCsvDataset(path, { height: shape.height, width: shape.width });

          assert.deepEqual(
            Array.from(dataset.images),
            withBright.map((value) => Math.fround(value / 255)),
          );
        }),
        { numRuns: 40 },
      );
    });
  });

  describe('errors', () => {
    it('names a line with too few fields', () => {
      const lines = Array.from({ length: 16 }, (_, i) => `${i % 10},0,0,0,255`);
      lines.push('3,0,0,255');
      const path = writeText(lines.join('\n'));

      assertDatasetError(() => loadCsvDataset(path), [
        `CSV file ${path}, line 17:`,
        'expected 5 fields (label + 4 pixels, as on line 1) but found 4',
        'every line must have the same number of fields',
      ]);
    });

    it('counts lines from the top of the file', () => {
      // Header on line 1, blank line 3: the short line is line 4 and the reference is line 2.
      const path = writeText('label,a,b,c,d\n1,0,0,0,0\n\n2,0,0\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 4:`, 'as on line 2', 'found 3']);
    });

    it('names a non-numeric pixel and its field', () => {
      const path = writeText('1,0,0,0,0\n2,0,abc,0,0\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 2, field 3:`, "pixel 'abc' is not a number"]);
    });

    it('names an empty pixel field', () => {
      const path = writeText('1,0,,0,0\n');

      assertDatasetError(() => loadCsvDataset(path, { hasHeader: false }), [
        `${path}, line 1, field 3:`,
        "pixel '' is not a number",
      ]);
    });

    it('names a label above 255', () => {
      const path = writeText('1,0,0,0,0\n256,0,0,0,0\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 2, field 1:`, "label '256'", '0-255']);
    });

    it('names a negative label', () => {
      const path = writeText('-1,0,0,0,0\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 1, field 1:`, "label '-1'"]);
    });

    it('names a fractional label', () => {
      const path = writeText('1,0,0,0,0\n2.5,0,0,0,0\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 2, field 1:`, "label '2.5'"]);
    });

    it('names a pixel above 255', () => {
      const path = writeText('1,0,0,300,0\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 1, field 4:`, 'pixel 300 is outside 0-255']);
    });

    it('names a negative pixel', () => {
      const path = writeText('1,0,0,0,0\n1,-1,0,0,0\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 2, field 2:`, 'pixel -1 is outside 0-255']);
    });

    it('names a pixel count that is not square', () => {
      const path = writeText('1,0,0,0,0,0,0\n');

      assertDatasetError(() => loadCsvDataset(path), [
        `${path}, line 1:`,
        '6 pixels',
        'not a square',
        'height and width',
      ]);
    });

    it('names sizes that do not fit the pixel count', () => {
      const path = writeText('1,0,0,0,0,0,0\n');

      assertDatasetError(() => loadCsvDataset(path, { height: 4 }), [`${path}, line 1:`, '6 pixels', 'height 4']);
      assertDatasetError(() => loadCsvDataset(path, { height: 2, width: 2 }), [`${path}, line 1:`, 'product is 6']);
    });

    it('names pixels above pixelMax 1', () => {
      const path = writeText('1,0,0,2,0\n');

      assertDatasetError(() => loadCsvDataset(path, { pixelMax: 1 }), [path, 'largest pixel is 2', 'pixelMax 255']);
    });

    it('names an empty file', () => {
      const path = writeText('\n\n');

      assertDatasetError(() => loadCsvDataset(path), [path, 'no data lines']);
    });

    it('names a file with only a header', () => {
      const path = writeText('label,a,b,c,d\n');

      assertDatasetError(() => loadCsvDataset(path), [path, 'no data lines']);
    });

    it('names a line with only a label', () => {
      const path = writeText('7\n');

      assertDatasetError(() => loadCsvDataset(path), [`${path}, line 1:`, 'at least one pixel']);
    });

    it('names a header read as data', () => {
      const path = writeText('label,a,b,c,d\n1,0,0,0,0\n');

      assertDatasetError(() => loadCsvDataset(path, { hasHeader: false }), [
        `${path}, line 1, field 1:`,
        "label 'label'",
      ]);
    });

    it('names a corrupt gzip stream', () => {
      const gzipped = gzipSync(Buffer.from('1,0,0,0,0\n'.repeat(50)));
      const path = writeText(gzipped.subarray(0, gzipped.length - 8), 'cut.csv.gz');

      assertDatasetError(() => loadCsvDataset(path), [`CSV file ${path}:`, 'gzip stream is corrupt']);
    });

    it('names a missing file', () => {
      const path = join(directory, 'missing.csv');

      assertDatasetError(() => loadCsvDataset(path), [`CSV file ${path}:`, 'cannot be read']);
    });

    it('sets file and record on the error', () => {
      const path = writeText('1,0,0,0,0\n1,0,x,0,0\n');

      try {
        loadCsvDataset(path);
        assert.fail('expected a DatasetError');
      } catch (error) {
        assert.ok(error instanceof DatasetError);
        assert.equal(error.file, path);
        assert.equal(error.record, 'line 2');
      }
    });
  });
});

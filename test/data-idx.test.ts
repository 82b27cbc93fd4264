import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

import fc from 'fast-check';

import { DatasetError } from '../data/errors.js';
import { decodeIdx, encodeIdx, type IdxDataType } from '../data/idx-format.js';
import { loadIdxDataset, readIdxFile, writeIdxFile } from '../data/idx.js';

// IDX header of a 2 × 3 u8 tensor followed by its six elements, written out by hand.
const U8_2X3 = [0x00, 0x00, 0x08, 0x02, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255];

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

describe('data/idx', () => {
  let directory: string;
  let fileNumber = 0;

  /** Returns a fresh path in the test's temporary directory. */
  function tempPath(name = 'file'): string {
    fileNumber += 1;
    return join(directory, `${fileNumber}-${name}`);
  }

  function writeBytes(bytes: ArrayLike<number>, name?: string): string {
    const path = tempPath(name);
    writeFileSync(path, Uint8Array.from(bytes));
    return path;
  }

  before(() => {
    directory = mkdtempSync(join(tmpdir(), 'singlora-idx-'));
  });

  after(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  describe('readIdxFile on hand-built bytes', () => {
    it('reads u8 dims and data', () => {
      const tensor = readIdxFile(writeBytes(U8_2X3));

      assert.equal(tensor.dataType, 'u8');
      assert.deepEqual(tensor.dims, [2, 3]);
      assert.ok(tensor.data instanceof Uint8Array);
      assert.deepEqual(Array.from(tensor.data), [1, 2, 3, 4, 5, 255]);
    });

    it('reads i8 as two’s complement', () => {
      const tensor = readIdxFile(writeBytes([0, 0, 0x09, 1, 0, 0, 0, 3, 0xff, 0x80, 0x7f]));

      assert.equal(tensor.dataType, 'i8');
      assert.ok(tensor.data instanceof Int8Array);
      assert.deepEqual(Array.from(tensor.data), [-1, -128, 127]);
    });

    it('reads i16 big-endian', () => {
      const tensor = readIdxFile(writeBytes([0, 0, 0x0b, 1, 0, 0, 0, 3, 0xff, 0xfe, 0x01, 0x00, 0x7f, 0xff]));

      assert.equal(tensor.dataType, 'i16');
      assert.deepEqual(Array.from(tensor.data), [-2, 256, 32767]);
    });

    it('reads i32 big-endian', () => {
      const tensor = readIdxFile(writeBytes([0, 0, 0x0c, 1, 0, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0x01, 0x02]));

      assert.equal(tensor.dataType, 'i32');
      assert.deepEqual(Array.from(tensor.data), [-2147483648, 258]);
    });

    it('reads f32 big-endian', () => {
      // 0x3FC00000 is 1.5, 0xC0490FDB is float32(-pi).
      const tensor = readIdxFile(writeBytes([0, 0, 0x0d, 1, 0, 0, 0, 2, 0x3f, 0xc0, 0, 0, 0xc0, 0x49, 0x0f, 0xdb]));

      assert.equal(tensor.dataType, 'f32');
      assert.deepEqual(Array.from(tensor.data), [1.5, Math.fround(-Math.PI)]);
    });

    it('reads f64 big-endian', () => {
      const tensor = readIdxFile(
        writeBytes([0, 0, 0x0e, 1, 0, 0, 0, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0]),
      );

      assert.equal(tensor.dataType, 'f64');
      assert.deepEqual(Array.from(tensor.data), [1, -2]);
    });

    it('reads a 3-D header like MNIST images', () => {
      // 2 images of 2 × 2: dims 2, 2, 2.
      const tensor = readIdxFile(writeBytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 2, 3, 4, 5, 6, 7]));

      assert.deepEqual(tensor.dims, [2, 2, 2]);
      assert.deepEqual(Array.from(tensor.data), [0, 1, 2, 3, 4, 5, 6, 7]);
    });

    it('gunzips a file that starts with 1f 8b', () => {
      const path = tempPath('plain.gz');
      writeFileSync(path, gzipSync(Uint8Array.from(U8_2X3)));

      const tensor = readIdxFile(path);

      assert.deepEqual(tensor.dims, [2, 3]);
      assert.deepEqual(Array.from(tensor.data), [1, 2, 3, 4, 5, 255]);
    });

    it('leaves 1f 8b inside the data alone', () => {
      // Only a file that starts with 1f 8b is gzipped; these bytes are two u8 elements.
      const tensor = readIdxFile(writeBytes([0, 0, 8, 1, 0, 0, 0, 2, 0x1f, 0x8b]));

      assert.deepEqual(Array.from(tensor.data), [0x1f, 0x8b]);
    });
  });

  describe('writeIdxFile', () => {
    it('writes the hand-built bytes', () => {
      const path = tempPath();
      writeIdxFile(path, [2, 3], 'u8', [1, 2, 3, 4, 5, 255]);

      assert.deepEqual(Array.from(readFileSync(path)), U8_2X3);
    });

    it('writes i16 big-endian', () => {
      const path = tempPath();
      writeIdxFile(path, [2], 'i16', [-2, 256]);

      assert.deepEqual(Array.from(readFileSync(path)), [0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00]);
    });

    it('gzips when asked', () => {
      const path = tempPath();
      writeIdxFile(path, [2, 3], 'u8', [1, 2, 3, 4, 5, 255], { gzip: true });
      const raw = readFileSync(path);

      assert.deepEqual([raw[0], raw[1]], [0x1f, 0x8b]);
      assert.deepEqual(Array.from(gunzipSync(raw)), U8_2X3);
    });

    it('rejects a value outside the type', () => {
      assertDatasetError(() => writeIdxFile(tempPath('bad.idx'), [3], 'u8', [0, 1, 256]), [
        'bad.idx',
        'index 2',
        '256',
        'u8',
      ]);
    });

    it('rejects a fraction for an integer type', () => {
      assertDatasetError(() => encodeIdx([2], 'i16', [1, 0.5], 'x.idx'), ['x.idx', 'index 1', '0.5']);
    });

    it('rejects data that does not fill the dims', () => {
      assertDatasetError(() => writeIdxFile(tempPath('short.idx'), [2, 3], 'f32', [1, 2, 3]), [
        'short.idx',
        '3 elements',
        'need 6',
      ]);
    });

    it('rejects a negative dimension size', () => {
      assertDatasetError(() => encodeIdx([2, -1], 'u8', [], 'dims.idx'), ['dims.idx', 'dimension 1', '-1']);
    });
  });

  describe('round trips', () => {
    const dataTypes: IdxDataType[] = ['u8', 'i8', 'i16', 'i32', 'f32', 'f64'];
    const ranges: Record<IdxDataType, fc.Arbitrary<number>> = {
      u8: fc.integer({ min: 0, max: 255 }),
      i8: fc.integer({ min: -128, max: 127 }),
      i16: fc.integer({ min: -32768, max: 32767 }),
      i32: fc.integer({ min: -2147483648, max: 2147483647 }),
      f32: fc.float({ noNaN: true }).map(Math.fround),
      f64: fc.double({ noNaN: true }),
    };

    const tensorArbitrary = fc
      .record({
        dataType: fc.constantFrom(...dataTypes),
        dims: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }),
      })
      .chain(({ dataType, dims }) => {
        const size = dims.reduce((product, value) => product * value, 1);
        return fc.record({
          dataType: fc.constant(dataType),
          dims: fc.constant(dims),
          data: fc.array(ranges[dataType], { minLength: size, maxLength: size }),
          gzip: fc.boolean(),
        });
      });

    it('encodeIdx then decodeIdx returns the input', () => {
      fc.assert(
        fc.property(tensorArbitrary, ({ dataType, dims, data }) => {
          const tensor = decodeIdx(encodeIdx(dims, dataType, data), 'memory');

          assert.equal(tensor.dataType, dataType);
          assert.deepEqual(tensor.dims, dims);
          assert.deepEqual(Array.from(tensor.data), data);
        }),
        { numRuns: 300 },
      );
    });

    it('writeIdxFile then readIdxFile returns the input', () => {
      fc.assert(
        fc.property(tensorArbitrary, ({ dataType, dims, data, gzip }) => {
          const path = tempPath('round-trip.idx');
          writeIdxFile(path, dims, dataType, data, { gzip });
          const tensor = readIdxFile(path);

          assert.equal(tensor.dataType, dataType);
          assert.deepEqual(tensor.dims, dims);
          assert.deepEqual(Array.from(tensor.data), data);
        }),
        { numRuns: 60 },
      );
    });

    it('loadIdxDataset scales pixels and keeps labels', () => {
      const datasetArbitrary = fc
        .record({
          count: fc.integer({ min: 1, max: 5 }),
          height: fc.integer({ min: 1, max: 4 }),
          width: fc.integer({ min: 1, max: 4 }),
          gzip: fc.boolean(),
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

      fc.assert(
        fc.property(datasetArbitrary, ({ shape, pixels, labels }) => {
          const imagesPath = tempPath('images.idx');
          const labelsPath = tempPath('labels.idx');
          writeIdxFile(imagesPath, [shape.count, shape.height, shape.width], 'u8', pixels, { gzip: shape.gzip });
          writeIdxFile(labelsPath, [shape.count], 'u8', labels, { gzip: shape.gzip });

          const dataset = loadIdxDataset(imagesPath, labelsPath);

          assert.equal(dataset.count, shape.count);
          assert.equal(dataset.height, shape.height);
          assert.equal(dataset.width, shape.width);
          assert.deepEqual(Array.from(dataset.labels), labels);
          assert.deepEqual(
            Array.from(dataset.images),
            pixels.map((value) => Math.fround(value / 255)),
          );
        }),
        { numRuns: 40 },
      );
    });

    it('loadIdxDataset accepts i32 labels', () => {
      const imagesPath = tempPath('images.idx');
      const labelsPath = tempPath('labels-i32.idx');
      writeIdxFile(imagesPath, [2, 1, 1], 'u8', [0, 255]);
      writeIdxFile(labelsPath, [2], 'i32', [9, 0]);

      const dataset = loadIdxDataset(imagesPath, labelsPath);

      assert.deepEqual(Array.from(dataset.labels), [9, 0]);
      assert.deepEqual(Array.from(dataset.images), [0, 1]);
    });
  });

  describe('errors', () => {
    it('names a truncated data section', () => {
      // dims 10 × 28 × 28 promise 7840 bytes, but only 7000 follow the 16-byte header.
      const header = [0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28];
      const path = writeBytes([...header, ...new Array<number>(7000).fill(0)], 'train-images-idx3-ubyte');

      assertDatasetError(() => readIdxFile(path), [
        path,
        '0x00 0x00 0x08 0x03',
        '[10, 28, 28]',
        '7840 data bytes after the 16-byte header',
        'has 7000',
        'truncated',
      ]);
    });

    it('names extra bytes after the data', () => {
      const path = writeBytes([...U8_2X3, 9, 9], 'long.idx');

      assertDatasetError(() => readIdxFile(path), [path, '6 data bytes', 'has 8', '2 extra bytes']);
    });

    it('names an unknown type byte', () => {
      const path = writeBytes([0, 0, 0x0a, 1, 0, 0, 0, 1, 0], 'type.idx');

      assertDatasetError(() => readIdxFile(path), [path, 'type byte 0x0A', '0x08 (u8)', '0x0E (f64)']);
    });

    it('names a missing zero prefix', () => {
      const path = writeBytes([0x50, 0x4b, 0x03, 0x04, 0, 0], 'zip.idx');

      assertDatasetError(() => readIdxFile(path), [path, '0x50 0x4B 0x03 0x04', 'two zero bytes']);
    });

    it('names a truncated header', () => {
      const path = writeBytes([0, 0, 8, 3, 0, 0, 0, 10, 0, 0], 'header.idx');

      assertDatasetError(() => readIdxFile(path), [path, '3 dimensions', '16 bytes', 'only 10 bytes', 'truncated']);
    });

    it('names a file shorter than the magic number', () => {
      const path = writeBytes([0, 0], 'tiny.idx');

      assertDatasetError(() => readIdxFile(path), [path, 'has 2 bytes', '4-byte magic number']);
    });

    it('names a missing file', () => {
      const path = join(directory, 'missing-images-idx3-ubyte');

      assertDatasetError(() => readIdxFile(path), [path, 'cannot be read', 'ENOENT']);
    });

    it('names a gzip stream with a damaged body', () => {
      const gzipped = gzipSync(Uint8Array.from({ length: 2000 }, (_, i) => (i * 7919) % 251));
      // Flip bytes in the deflate body, past the 10-byte gzip header.
      for (let i = 12; i < 40; i++) gzipped[i] = gzipped[i]! ^ 0xa5;
      const path = writeBytes(gzipped, 'damaged.gz');

      assertDatasetError(() => readIdxFile(path), [path, 'gzip stream is corrupt', 'zlib:']);
    });

    it('names a truncated gzip stream', () => {
      const gzipped = gzipSync(Uint8Array.from(U8_2X3));
      const path = writeBytes(gzipped.subarray(0, gzipped.length - 6), 'cut.gz');

      assertDatasetError(() => readIdxFile(path), [path, 'gzip stream is corrupt']);
    });

    it('names a label count that differs from the image count', () => {
      const imagesPath = tempPath('images.idx');
      const labelsPath = tempPath('labels.idx');
      writeIdxFile(imagesPath, [3, 2, 2], 'u8', new Array<number>(12).fill(0));
      writeIdxFile(labelsPath, [2], 'u8', [1, 2]);

      assertDatasetError(() => loadIdxDataset(imagesPath, labelsPath), [
        labelsPath,
        imagesPath,
        '2 labels',
        '3 images',
      ]);
    });

    it('names swapped image and label files', () => {
      const imagesPath = tempPath('images.idx');
      const labelsPath = tempPath('labels.idx');
      writeIdxFile(imagesPath, [2, 1, 1], 'u8', [0, 0]);
      writeIdxFile(labelsPath, [2], 'u8', [1, 2]);

      assertDatasetError(() => loadIdxDataset(labelsPath, imagesPath), [labelsPath, '1-D u8', '3-D u8', 'swapped']);
    });

    it('names float labels', () => {
      const imagesPath = tempPath('images.idx');
      const labelsPath = tempPath('labels-f32.idx');
      writeIdxFile(imagesPath, [2, 1, 1], 'u8', [0, 0]);
      writeIdxFile(labelsPath, [2], 'f32', [1, 2]);

      assertDatasetError(() => loadIdxDataset(imagesPath, labelsPath), [labelsPath, 'f32', '1-D integers']);
    });

    it('names a label outside 0-255 and its index', () => {
      const imagesPath = tempPath('images.idx');
      const labelsPath = tempPath('labels-i32.idx');
      writeIdxFile(imagesPath, [3, 1, 1], 'u8', [0, 0, 0]);
      writeIdxFile(labelsPath, [3], 'i32', [1, 300, 2]);

      assertDatasetError(() => loadIdxDataset(imagesPath, labelsPath), [labelsPath, 'index 1', 'label 300', '0-255']);
    });

    it('sets file and record on the error', () => {
      const imagesPath = tempPath('images.idx');
      const labelsPath = tempPath('labels-i16.idx');
      writeIdxFile(imagesPath, [2, 1, 1], 'u8', [0, 0]);
      writeIdxFile(labelsPath, [2], 'i16', [-1, 2]);

      try {
        loadIdxDataset(imagesPath, labelsPath);
        assert.fail('expected a DatasetError');
      } catch (error) {
        assert.ok(error instanceof DatasetError);
        assert.equal(error.file, labelsPath);
        assert.equal(error.record, 'index 0');
      }
    });
  });
});

/**
 * IDX files on disk: reading and writing single tensors, and loading an image dataset from a
 * pair of image and label files such as the original MNIST distribution.
 */

import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

import { MAX_LABEL, type ImageDataset } from './dataset.js';
import { DatasetError, describeCause } from './errors.js';
import { readFileBytes } from './file-bytes.js';
import { decodeIdx, encodeIdx, type IdxDataType, type IdxTensor } from './idx-format.js';

export type { IdxArrayTypes, IdxDataType, IdxTensor, IdxTypedArray } from './idx-format.js';

/** Reads an IDX file, gunzipping it first when it starts with the gzip magic bytes 1f 8b. */
export function readIdxFile(path: string): IdxTensor {
  return decodeIdx(readFileBytes(path, 'IDX'), path);
}

/**
 * Writes `data` (row-major, sizes `dims`) to an IDX file of `dataType`, gzipped when
 * `options.gzip` is set. Throws a DatasetError for the cases encodeIdx rejects, and when the
 * file cannot be written.
 */
export function writeIdxFile(
  path: string,
  dims: readonly number[],
  dataType: IdxDataType,
  data: ArrayLike<number>,
  options: { gzip?: boolean } = {},
): void {
  const encoded = encodeIdx(dims, dataType, data, path);
  const bytes = options.gzip ? gzipSync(encoded) : encoded;

  try {
    writeFileSync(path, bytes);
  } catch (cause) {
    throw new DatasetError(`IDX file ${path}: cannot be written (${describeCause(cause)})`, { file: path, cause });
  }
}

const LABEL_TYPES: readonly IdxDataType[] = ['u8', 'i8', 'i16', 'i32'];

/**
 * Loads images and labels from a pair of IDX files, e.g. `train-images-idx3-ubyte(.gz)` and
 * `train-labels-idx1-ubyte(.gz)` from the MNIST distribution.
 *
 * The images must be 3-D u8 [count, height, width]. They are scaled from 0-255 to [0, 1].
 * The labels must be 1-D with the same count. MNIST stores them as u8, but the signed integer
 * types are accepted too, so files converted with writeIdxFile load; every label must be in
 * 0-255. Throws a DatasetError naming the file, and the index for a bad label.
 */
export function loadIdxDataset(imagesPath: string, labelsPath: string): ImageDataset {
  const images = readIdxFile(imagesPath);
  const labels = readIdxFile(labelsPath);

  if (images.dataType !== 'u8' || images.dims.length !== 3) {
    throw new DatasetError(
      `IDX file ${imagesPath}: contains a ${images.dims.length}-D ${images.dataType} tensor ` +
        `[${images.dims.join(', ')}], ` +
        'but images must be 3-D u8 [count, height, width] (magic bytes 0x00 0x00 0x08 0x03); ' +
        'check that the images and labels paths are not swapped',
      { file: imagesPath },
    );
  }

  if (!LABEL_TYPES.includes(labels.dataType) || labels.dims.length !== 1) {
    throw new DatasetError(
      `IDX file ${labelsPath}: contains a ${labels.dims.length}-D ${labels.dataType} tensor ` +
        `[${labels.dims.join(', ')}], ` +
        'but labels must be 1-D integers [count], u8 in MNIST (magic bytes 0x00 0x00 0x08 0x01); ' +
        'check that the images and labels paths are not swapped',
      { file: labelsPath },
    );
  }

  const [count, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) {
    throw new DatasetError(
      `IDX file ${labelsPath}: has ${labels.dims[0]} labels, but the image file ${imagesPath} has ${count} images; ` +
        'use the label file that belongs to the image file (train with train, t10k with t10k)',
      { file: labelsPath },
    );
  }

  const labelArray = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    if (label < 0 || label > MAX_LABEL) {
      throw new DatasetError(
        `IDX file ${labelsPath}, index ${i}: label ${label} is outside 0-${MAX_LABEL}; ` +
          'labels must be class indices',
        { file: labelsPath, record: `index ${i}` },
      );
    }
    labelArray[i] = label;
  }

  const imageArray = new Float32Array(images.data.length);
  for (let i = 0; i < imageArray.length; i++) {
    imageArray[i] = images.data[i]! / 255;
  }

  return {
    images: imageArray,
    labels: labelArray,
    count,
    height,
    width,
    source: `IDX files ${imagesPath} and ${labelsPath}`,
  };
}

/**
 * Loading an image dataset from CSV, the layout of the popular "MNIST in CSV" files: one image
 * per line, `label,pixel0,pixel1,...`, pixels in row-major order.
 */

import { MAX_LABEL, type ImageDataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { readFileBytes } from './file-bytes.js';

export interface CsvDatasetOptions {
  /** Image height in pixels. Inferred from `width`, or from a square pixel count, when missing. */
  height?: number;
  /** Image width in pixels. Inferred from `height`, or from a square pixel count, when missing. */
  width?: number;
  /**
   * Whether the first non-blank line is a header to skip. When missing, it is a header if any
   * of its fields is not a number (e.g. `label,1x1,1x2,...`).
   */
  hasHeader?: boolean;
  /**
   * The value of a white pixel: 255 for bytes, 1 for values already in [0, 1]. When missing, it is
   * detected from the largest pixel in the file: 1 if no pixel exceeds 1, else 255.
   */
  pixelMax?: 1 | 255;
}

// A decimal number with optional sign, fraction and exponent. Stricter than Number(), which
// also accepts '', whitespace, hexadecimal and 'Infinity'.
const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A non-blank line of the file and its 1-based line number. */
interface Line {
  number: number;
  text: string;
}

/**
 * Loads a CSV file of `label,pixel0,...,pixelN` lines (gunzipped first when it starts with the
 * gzip magic bytes). Labels must be integers in 0-255 and pixels numbers in 0-255. Pixels are
 * divided by `pixelMax`, detected as described in CsvDatasetOptions when not given. Blank
 * lines are skipped. Throws a DatasetError naming the file, the 1-based line and the field.
 */
export function loadCsvDataset(path: string, options: CsvDatasetOptions = {}): ImageDataset {
  const text = new TextDecoder('utf-8').decode(readFileBytes(path, 'CSV'));
  const lines = splitLines(text);

  const hasHeader = options.hasHeader ?? (lines.length > 0 && isHeader(lines[0]!.text));
  const dataLines = hasHeader ? lines.slice(1) : lines;
  if (dataLines.length === 0) {
    throw new DatasetError(`CSV file ${path}: contains no data lines; expected one 'label,pixel0,...' line per image`, {
      file: path,
    });
  }

  const first = dataLines[0]!;
  const fieldCount = first.text.split(',').length;
  if (fieldCount < 2) {
    throw csvError(path, first.number, 'found 1 field, but each line needs a label and at least one pixel');
  }

  const pixelCount = fieldCount - 1;
  const { height, width } = resolveImageSize(pixelCount, options, path, first.number);

  const images = new Float32Array(dataLines.length * pixelCount);
  const labels = new Int32Array(dataLines.length);
  let largestPixel = 0;

  dataLines.forEach((line, index) => {
    const fields = line.text.split(',');
    if (fields.length !== fieldCount) {
      throw csvError(
        path,
        line.number,
        `expected ${fieldCount} fields (label + ${pixelCount} pixels, as on line ${first.number}) ` +
          `but found ${fields.length}; every line must have the same number of fields`,
      );
    }

    labels[index] = parseLabel(fields[0]!, path, line.number);

    const offset = index * pixelCount;
    for (let column = 2; column <= fieldCount; column++) {
      const value = parsePixel(fields[column - 1]!, path, line.number, column);
      images[offset + column - 2] = value;
      largestPixel = Math.max(largestPixel, value);
    }
  });

  // NOTE: with detection, a 0-255 file whose pixels are all 0 or 1 reads as already scaled;
  // pass pixelMax 255 for such files.
  const pixelMax = options.pixelMax ?? (largestPixel <= 1 ? 1 : 255);
  if (largestPixel > pixelMax) {
    throw new DatasetError(
      `CSV file ${path}: the largest pixel is ${largestPixel}, but pixelMax is ${pixelMax}; ` +
        'pass pixelMax 255 for 0-255 data',
      { file: path },
    );
  }
  if (pixelMax !== 1) {
    for (let i = 0; i < images.length; i++) {
      images[i] = images[i]! / pixelMax;
    }
  }

  return { images, labels, count: dataLines.length, height, width, source: `CSV file ${path}` };
}

function csvError(path: string, lineNumber: number, message: string, column?: number): DatasetError {
  const field = column === undefined ? '' : `, field ${column}`;
  return new DatasetError(`CSV file ${path}, line ${lineNumber}${field}: ${message}`, {
    file: path,
    record: `line ${lineNumber}`,
  });
}

function splitLines(text: string): Line[] {
  // A UTF-8 byte order mark would otherwise make the first field non-numeric.
  const withoutBom = text.startsWith('\uFEFF') ? text.slice(1) : text;

  const lines: Line[] = [];
  withoutBom.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() !== '') {
      lines.push({ number: index + 1, text: line });
    }
  });
  return lines;
}

function isHeader(line: string): boolean {
  return line.split(',').some((field) => !NUMBER_PATTERN.test(field.trim()));
}

function resolveImageSize(
  pixelCount: number,
  options: CsvDatasetOptions,
  path: string,
  lineNumber: number,
): { height: number; width: number } {
  for (const name of ['height', 'width'] as const) {
    const size = options[name];
    if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
      throw new RangeError(`loadCsvDataset: option ${name} must be a positive integer, but is ${size}`);
    }
  }

  const { height, width } = options;
  if (height === undefined && width === undefined) {
    const side = Math.round(Math.sqrt(pixelCount));
    if (side * side !== pixelCount) {
      throw csvError(
        path,
        lineNumber,
        `found ${pixelCount} pixels per image, which is not a square number, so the image size cannot be ` +
          'inferred; pass height and width',
      );
    }
    return { height: side, width: side };
  }

  const resolvedHeight = height ?? pixelCount / width!;
  const resolvedWidth = width ?? pixelCount / resolvedHeight;
  const fits =
    Number.isInteger(resolvedHeight) && Number.isInteger(resolvedWidth) && resolvedHeight * resolvedWidth === pixelCount;
  if (!fits) {
    throw csvError(
      path,
      lineNumber,
      `found ${pixelCount} pixels per image, which does not fit height ${height ?? '(not given)'} and ` +
        `width ${width ?? '(not given)'}; pass sizes whose product is ${pixelCount}`,
    );
  }
  return { height: resolvedHeight, width: resolvedWidth };
}

function parseLabel(field: string, path: string, lineNumber: number): number {
  const trimmed = field.trim();
  const value = Number(trimmed);

  if (!NUMBER_PATTERN.test(trimmed) || !Number.isInteger(value) || value < 0 || value > MAX_LABEL) {
    throw csvError(
      path,
      lineNumber,
      `label '${field}' is not an integer in 0-${MAX_LABEL}; the first field of every line must be the class label`,
      1,
    );
  }
  return value;
}

function parsePixel(field: string, path: string, lineNumber: number, column: number): number {
  const trimmed = field.trim();

  if (!NUMBER_PATTERN.test(trimmed)) {
    throw csvError(
      path,
      lineNumber,
      `pixel '${field}' is not a number; every field after the label must be a pixel value in 0-255 or 0-1`,
      column,
    );
  }

  const value = Number(trimmed);
  if (value < 0 || value > 255) {
    throw csvError(path, lineNumber, `pixel ${trimmed} is outside 0-255`, column);
  }
  return value;
}

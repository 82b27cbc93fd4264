/**
 * Encoding and decoding of the IDX format, in which the original MNIST files are distributed.
 *
 * An IDX file is a 4-byte magic number, one big-endian u32 size per dimension, then the
 * elements in row-major order, big-endian. The magic number is two zero bytes, a type byte
 * (see IDX_TYPE_CODES) and the number of dimensions. Reference: Yann LeCun's MNIST page,
 * http://yann.lecun.com/exdb/mnist/ ("the IDX file format").
 */

import { DatasetError } from './errors.js';

/** The typed array that contains the elements of each IDX data type. */
export interface IdxArrayTypes {
  u8: Uint8Array;
  i8: Int8Array;
  i16: Int16Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
}

export type IdxDataType = keyof IdxArrayTypes;
export type IdxTypedArray = IdxArrayTypes[IdxDataType];

/** A decoded IDX file: its dimension sizes, element type and row-major elements. */
export interface IdxTensor {
  dims: number[];
  dataType: IdxDataType;
  data: IdxTypedArray;
}

/** Type byte (third magic byte) of each IDX data type. */
export const IDX_TYPE_CODES: Record<IdxDataType, number> = {
  u8: 0x08,
  i8: 0x09,
  i16: 0x0b,
  i32: 0x0c,
  f32: 0x0d,
  f64: 0x0e,
};

const BYTES_PER_ELEMENT: Record<IdxDataType, number> = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 };

/** Value range of each integer type. encodeIdx rejects values outside it instead of wrapping them. */
const INTEGER_RANGES: Partial<Record<IdxDataType, [number, number]>> = {
  u8: [0, 255],
  i8: [-128, 127],
  i16: [-32768, 32767],
  i32: [-2147483648, 2147483647],
};

const MAX_DIMENSION_SIZE = 0xffff_ffff;
const MAX_RANK = 255;

const DATA_TYPE_OF_CODE = new Map<number, IdxDataType>(
  (Object.entries(IDX_TYPE_CODES) as [IdxDataType, number][]).map(([dataType, code]) => [code, dataType]),
);

/** Formats bytes as `0x00 0x00 0x08 0x03`, the way error messages show magic numbers. */
export function formatBytes(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (byte) => `0x${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(' ');
}

function listTypeCodes(): string {
  return (Object.entries(IDX_TYPE_CODES) as [IdxDataType, number][])
    .map(([dataType, code]) => `${formatBytes([code])} (${dataType})`)
    .join(', ');
}

/**
 * Decodes the bytes of an IDX file (already gunzipped). `file` names the file in error messages.
 * Throws a DatasetError for a wrong magic number, an unknown type byte, a truncated header, or a
 * data section shorter or longer than the dimensions promise.
 */
export function decodeIdx(bytes: Uint8Array, file: string): IdxTensor {
  const where = `IDX file ${file}`;

  if (bytes.length < 4) {
    throw new DatasetError(
      `${where}: has ${bytes.length} bytes, but an IDX file starts with a 4-byte magic number; ` +
        'the file is truncated or not an IDX file',
      { file },
    );
  }

  const magic = formatBytes(bytes.subarray(0, 4));
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DatasetError(
      `${where}: magic bytes ${magic} should start with two zero bytes; ` +
        'this is not an IDX file (a gzipped IDX file would start with 0x1F 0x8B)',
      { file },
    );
  }

  const dataType = DATA_TYPE_OF_CODE.get(bytes[2]!);
  if (dataType === undefined) {
    throw new DatasetError(
      `${where}: magic bytes ${magic} have the type byte ${formatBytes([bytes[2]!])}, which is not an IDX ` +
        `data type; expected one of ${listTypeCodes()}`,
      { file },
    );
  }

  const rank = bytes[3]!;
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) {
    throw new DatasetError(
      `${where}: magic bytes ${magic} declare ${rank} dimensions, so the header is ${headerLength} bytes, ` +
        `but the file has only ${bytes.length} bytes; the file is truncated`,
      { file },
    );
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    dims.push(view.getUint32(4 + 4 * axis, false));
  }

  // With up to 255 dimensions of up to 2^32 - 1 each, the product can exceed 2^53 and lose
  // precision, but then it is far larger than any file and the comparison below still fails.
  const elementCount = dims.reduce((product, size) => product * size, 1);
  const expectedDataLength = elementCount * BYTES_PER_ELEMENT[dataType];
  const dataLength = bytes.length - headerLength;

  if (dataLength !== expectedDataLength) {
    const verdict =
      dataLength < expectedDataLength
        ? 'the file is truncated'
        : `the file has ${dataLength - expectedDataLength} extra bytes at the end, so its header or data is wrong`;
    throw new DatasetError(
      `${where}: magic bytes ${magic} and dimensions [${dims.join(', ')}] (${dataType}) promise ` +
        `${expectedDataLength} data bytes after the ${headerLength}-byte header, but the file has ${dataLength}; ` +
        verdict,
      { file },
    );
  }

  return { dims, dataType, data: decodeElements(view, headerLength, elementCount, dataType) };
}

function decodeElements(view: DataView, offset: number, count: number, dataType: IdxDataType): IdxTypedArray {
  // Single-byte types have no byte order, so one copy suffices.
  if (dataType === 'u8' || dataType === 'i8') {
    const copy = new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    return dataType === 'u8' ? copy : new Int8Array(copy.buffer);
  }

  const step = BYTES_PER_ELEMENT[dataType];
  switch (dataType) {
    case 'i16': {
      const data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt16(offset + i * step, false);
      return data;
    }
    case 'i32': {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(offset + i * step, false);
      return data;
    }
    case 'f32': {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(offset + i * step, false);
      return data;
    }
    case 'f64': {
      const data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(offset + i * step, false);
      return data;
    }
  }
}

/**
 * Encodes `data` (row-major, `dims` sizes) as IDX bytes of `dataType`. `file` names the target
 * in error messages. Throws a DatasetError when the dims are invalid, the element count does
 * not match them, or an integer type gets a value that is not an integer within its range.
 * f32 rounds each value to the nearest float32.
 */
export function encodeIdx(
  dims: readonly number[],
  dataType: IdxDataType,
  data: ArrayLike<number>,
  file = '(in memory)',
): Uint8Array {
  const where = `IDX file ${file}`;

  if (!(dataType in IDX_TYPE_CODES)) {
    throw new DatasetError(`${where}: data type '${dataType}' is not one of ${listTypeCodes()}`, { file });
  }
  if (dims.length > MAX_RANK) {
    throw new DatasetError(`${where}: ${dims.length} dimensions, but IDX stores at most ${MAX_RANK}`, { file });
  }
  dims.forEach((size, axis) => {
    if (!Number.isInteger(size) || size < 0 || size > MAX_DIMENSION_SIZE) {
      throw new DatasetError(
        `${where}: dimension ${axis} has size ${size}, but IDX sizes are integers in 0-${MAX_DIMENSION_SIZE}`,
        { file },
      );
    }
  });

  const elementCount = dims.reduce((product, size) => product * size, 1);
  if (data.length !== elementCount) {
    throw new DatasetError(
      `${where}: data has ${data.length} elements, but dimensions [${dims.join(', ')}] need ${elementCount}`,
      { file },
    );
  }

  const range = INTEGER_RANGES[dataType];
  if (range !== undefined) {
    for (let i = 0; i < data.length; i++) {
      const value = data[i]!;
      if (!Number.isInteger(value) || value < range[0] || value > range[1]) {
        throw new DatasetError(
          `${where}, index ${i}: value ${value} is not an integer in ${range[0]}-${range[1]}, so it cannot be ` +
            `stored as ${dataType}; round or clamp it, or choose a wider type`,
          { file, record: `index ${i}` },
        );
      }
    }
  }

  const headerLength = 4 + 4 * dims.length;
  const bytes = new Uint8Array(headerLength + elementCount * BYTES_PER_ELEMENT[dataType]);
  const view = new DataView(bytes.buffer);

  bytes[2] = IDX_TYPE_CODES[dataType];
  bytes[3] = dims.length;
  dims.forEach((size, axis) => view.setUint32(4 + 4 * axis, size, false));

  encodeElements(view, headerLength, data, dataType);
  return bytes;
}

function encodeElements(view: DataView, offset: number, data: ArrayLike<number>, dataType: IdxDataType): void {
  const step = BYTES_PER_ELEMENT[dataType];
  for (let i = 0; i < data.length; i++) {
    const position = offset + i * step;
    const value = data[i]!;
    switch (dataType) {
      case 'u8':
        view.setUint8(position, value);
        break;
      case 'i8':
        view.setInt8(position, value);
        break;
      case 'i16':
        view.setInt16(position, value, false);
        break;
      case 'i32':
        view.setInt32(position, value, false);
        break;
      case 'f32':
        view.setFloat32(position, value, false);
        break;
      case 'f64':
        view.setFloat64(position, value, false);
        break;
    }
  }
}

/**
 * The safetensors checkpoint format (Hugging Face), encoded and decoded in memory.
 *
 * A file is an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the header), then the data
 * section. The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`,
 * with offsets counted from the start of the data section, and may hold a `__metadata__` object of
 * string values. Tensor bytes are little-endian and row-major.
 *
 * The decoder treats its input as hostile. It checks every length, offset and size against the
 * bytes it was given before it allocates any tensor, so a corrupt file costs at most a copy of
 * itself and ends in a `SafetensorsError`.
 *
 * Half precision: JavaScript has no float16 typed array in Node 20, so F16 and BF16 tensors are
 * held as `Float32Array`. Decoding widens them exactly (every F16 and BF16 value, NaN payloads
 * included, is a float32). Encoding rounds each float32 to nearest, ties to even, which loses
 * precision for values that were not read from an F16 or BF16 tensor.
 *
 * This file uses no Node APIs, so it runs in a browser bundle; `io/safetensors-file.ts` reads and
 * writes files.
 */
import { SingloraError, formatShape } from './errors.js';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/**
 * One tensor as stored in a safetensors file. `data` is row-major with `product(shape)` elements.
 * Its type follows from `dtype`: Float64Array for F64, Float32Array for F32, F16 and BF16,
 * BigInt64Array for I64, Int32Array for I32, Int16Array for I16, Int8Array for I8, and Uint8Array
 * for U8 and BOOL. BOOL elements must be 0 or 1.
 */
export interface TensorRecord {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array;
}

export interface SafetensorsDecodeOptions {
  /** Largest header accepted, in bytes. A bound keeps a corrupt length from driving a huge read. */
  maxHeaderBytes?: number;
}

export interface DecodedSafetensors {
  tensors: Record<string, TensorRecord>;
  metadata: Record<string, string>;
}

/** The header bound of the reference implementation (huggingface/safetensors, `MAX_HEADER_SIZE`). */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

/** Kind of problem a `SafetensorsError` reports, so callers can branch without parsing messages. */
export type SafetensorsErrorCode =
  | 'invalid-input'
  | 'file-too-small'
  | 'header-too-large'
  | 'header-length-out-of-range'
  | 'invalid-utf8'
  | 'invalid-header-start'
  | 'invalid-json'
  | 'duplicate-key'
  | 'invalid-metadata'
  | 'invalid-tensor-entry'
  | 'unsupported-dtype'
  | 'offsets-out-of-range'
  | 'size-mismatch'
  | 'overlapping-tensors'
  | 'uncovered-bytes'
  | 'invalid-bool';

export interface SafetensorsErrorLocation {
  /** The tensor the problem belongs to, if any. */
  tensor?: string;
  /** File offset of the first byte the problem is about (0 is the length prefix, 8 the header). */
  byteOffset?: number;
  /** The file the bytes came from, when `io/safetensors-file.ts` read them. */
  path?: string;
}

/** A safetensors file or a tensor set that cannot be decoded or encoded. */
export class SafetensorsError extends SingloraError {
  readonly code: SafetensorsErrorCode;
  /** The message without the `safetensors:` prefix and the path. */
  readonly detail: string;
  readonly tensor: string | undefined;
  readonly byteOffset: number | undefined;
  readonly path: string | undefined;

  constructor(code: SafetensorsErrorCode, detail: string, location: SafetensorsErrorLocation = {}) {
    const where = location.path === undefined ? '' : `${location.path}: `;
    super(`safetensors: ${where}${detail}`);
    this.code = code;
    this.detail = detail;
    this.tensor = location.tensor;
    this.byteOffset = location.byteOffset;
    this.path = location.path;
  }
}

type TensorData = TensorRecord['data'];

interface DtypeInfo {
  /** Bytes per element in the file. */
  readonly size: number;
  /** Typed array type of the decoded elements. */
  readonly arrayType: { new (buffer: ArrayBuffer): TensorData; new (length: number): TensorData; readonly name: string };
}

const DTYPES: Readonly<Record<SafetensorsDtype, DtypeInfo>> = {
  F64: { size: 8, arrayType: Float64Array },
  F32: { size: 4, arrayType: Float32Array },
  F16: { size: 2, arrayType: Float32Array },
  BF16: { size: 2, arrayType: Float32Array },
  I64: { size: 8, arrayType: BigInt64Array },
  I32: { size: 4, arrayType: Int32Array },
  I16: { size: 2, arrayType: Int16Array },
  I8: { size: 1, arrayType: Int8Array },
  U8: { size: 1, arrayType: Uint8Array },
  BOOL: { size: 1, arrayType: Uint8Array },
};

const SUPPORTED_DTYPES = Object.keys(DTYPES).join(', ');

/** Dtypes of the format that this module does not read, listed so errors call them unsupported, not unknown. */
const UNSUPPORTED_DTYPES = new Set(['U16', 'U32', 'U64', 'C64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4']);

const METADATA_KEY = '__metadata__';

const LENGTH_PREFIX_BYTES = 8;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const SPACE = 0x20;

function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** True for objects made by `{}` literals or `JSON.parse`; false for arrays, maps and class instances. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Sets a key with define semantics, so a name like `__proto__` becomes an own property. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Formats a header value for an error message, cut short so a huge value cannot flood the log. */
function describeValue(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // BigInt and cyclic values from callers cannot be serialized; String() still names them.
  }
  text ??= value === undefined ? 'nothing' : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes tensors and optional string metadata as a safetensors file.
 *
 * Layout: tensors are stored by descending element size, then by name (JavaScript string order),
 * and the header is padded with spaces to a multiple of 8 bytes. The data section therefore starts
 * 8-byte aligned and every tensor starts at a multiple of its element size, the same guarantee the
 * reference writer gives (it orders by dtype, then name). The output is deterministic: the header
 * lists `__metadata__` first (omitted when it has no entries) with sorted keys, then the tensors in
 * data order. Throws `SafetensorsError` with code `invalid-input` when a record is inconsistent.
 */
export function encodeSafetensors(tensors: Record<string, TensorRecord>, metadata?: Record<string, string>): Uint8Array {
  if (!isPlainObject(tensors)) {
    throw new SafetensorsError('invalid-input', `encodeSafetensors expects an object mapping tensor names to records, got ${describeInput(tensors)}`);
  }
  const names = Object.keys(tensors);
  for (const name of names) checkTensorRecord(name, tensors[name]);
  const metadataKeys = checkMetadataInput(metadata);

  const order = names.slice().sort((a, b) => {
    const bySize = DTYPES[tensors[b].dtype].size - DTYPES[tensors[a].dtype].size;
    return bySize !== 0 ? bySize : compareStrings(a, b);
  });

  // Lay out the data section and write the header text by hand, because a JS object would list
  // integer-like names such as "0" first and break the order chosen above.
  const fields: string[] = [];
  if (metadata !== undefined && metadataKeys.length > 0) {
    const pairs = metadataKeys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(metadata[key])}`);
    fields.push(`"${METADATA_KEY}":{${pairs.join(',')}}`);
  }
  const begins: number[] = [];
  let dataLength = 0;
  for (const name of order) {
    const { dtype, shape, data } = tensors[name];
    const end = dataLength + data.length * DTYPES[dtype].size;
    fields.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${dataLength},${end}]}`);
    begins.push(dataLength);
    dataLength = end;
  }
  const header = new TextEncoder().encode(`{${fields.join(',')}}`);
  const paddedHeaderLength = Math.ceil(header.length / 8) * 8;

  const dataStart = LENGTH_PREFIX_BYTES + paddedHeaderLength;
  const file = new Uint8Array(dataStart + dataLength);
  new DataView(file.buffer).setBigUint64(0, BigInt(paddedHeaderLength), true);
  file.set(header, LENGTH_PREFIX_BYTES);
  file.fill(SPACE, LENGTH_PREFIX_BYTES + header.length, dataStart);
  order.forEach((name, index) => writeTensorBytes(file, dataStart + begins[index], tensors[name]));
  return file;
}

/** Compares by UTF-16 code units, the order of `Array.prototype.sort` without a comparator. */
function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/** Names the type of a caller's argument for an error message: `null`, `an array`, `a Map`. */
function describeInput(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return typeof value;
  if (isPlainObject(value)) return 'a plain object';
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object with a non-default prototype';
}

function checkTensorRecord(name: string, record: unknown): asserts record is TensorRecord {
  const fail = (detail: string): never => {
    throw new SafetensorsError('invalid-input', `tensor "${name}": ${detail}`, { tensor: name });
  };
  if (name === METADATA_KEY) fail(`the name "${METADATA_KEY}" is reserved for the metadata map; rename the tensor`);
  if (typeof record !== 'object' || record === null) fail(`expected a record { dtype, shape, data }, got ${describeInput(record)}`);
  const { dtype, shape, data } = record as Record<string, unknown>;

  if (!isSafetensorsDtype(dtype)) fail(`unknown dtype ${describeValue(dtype)}; use one of ${SUPPORTED_DTYPES}`);
  const info = DTYPES[dtype as SafetensorsDtype];

  if (!Array.isArray(shape) || !shape.every((extent) => Number.isSafeInteger(extent) && extent >= 0)) {
    fail(`shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  }
  const count = elementCount(shape as number[]);
  if (count === undefined) fail(`shape ${formatShape(shape as number[])} has more than 2^53 - 1 elements`);

  if (!(data instanceof info.arrayType)) {
    fail(`dtype ${String(dtype)} stores its data in a ${info.arrayType.name}, got ${describeInput(data)}`);
  }
  const array = data as TensorData;
  if (array.length !== count) {
    fail(`shape ${formatShape(shape as number[])} has ${count} elements but data has ${array.length}; reshape or fix the data`);
  }
  if (dtype === 'BOOL') {
    const index = (array as Uint8Array).findIndex((value) => value > 1);
    if (index !== -1) fail(`BOOL data must be 0 or 1, got ${array[index]} at element ${index}`);
  }
}

/** Checks the metadata map and returns its keys sorted, the order the header lists them in. */
function checkMetadataInput(metadata: unknown): string[] {
  if (metadata === undefined) return [];
  if (!isPlainObject(metadata)) {
    throw new SafetensorsError('invalid-input', `metadata must be an object of string values, got ${describeInput(metadata)}`);
  }
  const keys = Object.keys(metadata);
  for (const key of keys) {
    if (typeof metadata[key] !== 'string') {
      throw new SafetensorsError('invalid-input', `metadata value of "${key}" must be a string, got ${describeInput(metadata[key])}; convert it with String() or JSON.stringify()`);
    }
  }
  return keys.sort(compareStrings);
}

/** Returns the product of the extents, or undefined when it exceeds the safe integer range. */
function elementCount(shape: readonly number[]): number | undefined {
  if (shape.includes(0)) return 0;
  let count = 1;
  for (const extent of shape) {
    count *= extent;
    if (count > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return count;
}

function writeTensorBytes(file: Uint8Array, start: number, record: TensorRecord): void {
  const { dtype, data } = record;
  let source: ArrayBufferView = data;
  if (dtype === 'F16' || dtype === 'BF16') {
    const toHalf = dtype === 'F16' ? float32BitsToFloat16Bits : float32BitsToBfloat16Bits;
    const float32Bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    const halfBits = new Uint16Array(data.length);
    for (let i = 0; i < halfBits.length; i++) halfBits[i] = toHalf(float32Bits[i]);
    source = halfBits;
  }
  const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  file.set(bytes, start);
  if (!HOST_IS_LITTLE_ENDIAN) swapByteOrder(file.subarray(start, start + bytes.length), DTYPES[dtype].size);
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Offsets into the data section, as the header states them. */
  begin: number;
  end: number;
}

/**
 * Decodes a safetensors file. Every tensor gets its own freshly allocated, aligned buffer, so
 * `bytes` may sit at any offset and be reused afterwards.
 *
 * Throws `SafetensorsError` for any file that breaks the format:
 * - a truncated or extended file, or a header length out of range;
 * - a header that is not UTF-8 JSON starting with "{", or that repeats a key;
 * - an entry with an unknown dtype, a bad shape or bad offsets;
 * - a byte range whose length does not match dtype and shape;
 * - tensors that overlap or leave bytes of the data section uncovered;
 * - BOOL bytes other than 0 and 1.
 *
 * Header entry fields other than dtype, shape and data_offsets are ignored, as the reference
 * implementation ignores them.
 */
export function decodeSafetensors(bytes: Uint8Array, options: SafetensorsDecodeOptions = {}): DecodedSafetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`decodeSafetensors expects a Uint8Array, got ${describeInput(bytes)}; wrap an ArrayBuffer with new Uint8Array(buffer)`);
  }
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 0) {
    throw new RangeError(`decodeSafetensors: maxHeaderBytes must be a non-negative integer, got ${maxHeaderBytes}`);
  }

  const headerLength = readHeaderLength(bytes, maxHeaderBytes);
  const dataStart = LENGTH_PREFIX_BYTES + headerLength;
  const dataLength = bytes.length - dataStart;
  const header = parseHeader(bytes.subarray(LENGTH_PREFIX_BYTES, dataStart));

  const metadata = readMetadata(header[METADATA_KEY]);
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name !== METADATA_KEY) entries.push(readTensorEntry(name, value, dataStart, dataLength));
  }
  checkCoverage(entries, dataStart, dataLength);
  for (const entry of entries) {
    if (entry.dtype === 'BOOL') checkBoolBytes(bytes, entry, dataStart);
  }

  // Only now, with every size checked against the bytes at hand, allocate.
  const tensors: Record<string, TensorRecord> = {};
  for (const entry of entries) {
    const tensorBytes = bytes.subarray(dataStart + entry.begin, dataStart + entry.end);
    setOwn(tensors, entry.name, { dtype: entry.dtype, shape: entry.shape, data: copyTensorData(tensorBytes, entry.dtype) });
  }
  return { tensors, metadata };
}

function readHeaderLength(bytes: Uint8Array, maxHeaderBytes: number): number {
  if (bytes.length < LENGTH_PREFIX_BYTES) {
    throw new SafetensorsError(
      'file-too-small',
      `the file is ${bytes.length} bytes, shorter than the 8-byte header length prefix; it is truncated or not a safetensors file`,
      { byteOffset: 0 },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError(
      'header-too-large',
      `the header length prefix is ${headerLength} bytes, above the limit of ${maxHeaderBytes}; the file is corrupt, or pass a larger maxHeaderBytes if you trust it`,
      { byteOffset: 0 },
    );
  }
  const available = bytes.length - LENGTH_PREFIX_BYTES;
  if (headerLength > BigInt(available)) {
    throw new SafetensorsError(
      'header-length-out-of-range',
      `the header length prefix is ${headerLength} bytes but only ${available} bytes follow it; the file is truncated or not a safetensors file`,
      { byteOffset: 0 },
    );
  }
  return Number(headerLength);
}

// `fatal` rejects malformed UTF-8 instead of replacing it. `ignoreBOM` keeps a byte order mark in
// the text, so the "{" check below rejects it, because JSON does not allow one.
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes and parses the header JSON; the result is always an object. */
function parseHeader(headerBytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = UTF8_DECODER.decode(headerBytes);
  } catch {
    throw new SafetensorsError('invalid-utf8', 'the header is not valid UTF-8; the file is corrupt', {
      byteOffset: LENGTH_PREFIX_BYTES + findInvalidUtf8(headerBytes),
    });
  }

  // The format README requires the header to begin with "{", and a text that starts with "{" and
  // parses as JSON can only be an object.
  // NOTE: some versions of the reference Rust parser accept leading JSON whitespace, so a file they
  // read can fail here with invalid-header-start.
  if (text.length === 0 || text[0] !== '{') {
    const found = text.length === 0 ? 'is empty' : `begins with ${JSON.stringify(text[0])}`;
    throw new SafetensorsError('invalid-header-start', `the header must begin with "{" but ${found}; the file is corrupt or not a safetensors file`, {
      byteOffset: LENGTH_PREFIX_BYTES,
    });
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SafetensorsError('invalid-json', `the header is not valid JSON (${reason}); the file is corrupt`, { byteOffset: LENGTH_PREFIX_BYTES });
  }

  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) {
    throw new SafetensorsError(
      'duplicate-key',
      `the header has the key ${JSON.stringify(duplicate.key)} twice in one object, so its meaning is ambiguous; the file is corrupt or was written by a buggy writer`,
      { byteOffset: LENGTH_PREFIX_BYTES + new TextEncoder().encode(text.slice(0, duplicate.index)).length },
    );
  }
  return header;
}

/**
 * Finds the first key repeated within one object of a valid JSON text, which `JSON.parse` would
 * silently resolve to the last value. `index` is the key's position in `text`, in UTF-16 units.
 */
function findDuplicateKey(text: string): { key: string; index: number } | undefined {
  // One entry per open bracket: the keys seen so far for an object, null for an array.
  const open: Array<Set<string> | null> = [];
  let index = 0;
  while (index < text.length) {
    const char = text.charCodeAt(index);
    if (char === QUOTE) {
      const end = endOfString(text, index);
      let next = end;
      while (isJsonWhitespace(text.charCodeAt(next))) next++;
      const keys = open[open.length - 1];
      if (text.charCodeAt(next) === COLON && keys) {
        const raw = text.slice(index + 1, end - 1);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(index, end)) as string) : raw;
        if (keys.has(key)) return { key, index };
        keys.add(key);
      }
      index = end;
      continue;
    }
    if (char === OPEN_BRACE) open.push(new Set());
    else if (char === OPEN_BRACKET) open.push(null);
    else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) open.pop();
    index++;
  }
  return undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Returns the index just past the closing quote of the string literal that opens at `start`. */
function endOfString(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length && text.charCodeAt(index) !== QUOTE) {
    index += text.charCodeAt(index) === BACKSLASH ? 2 : 1;
  }
  return index + 1;
}

function isJsonWhitespace(char: number): boolean {
  return char === 0x20 || char === 0x09 || char === 0x0a || char === 0x0d;
}

/**
 * Returns the index of the first byte that does not start a well-formed UTF-8 sequence: one with
 * no overlong form, no surrogate and no code point above U+10FFFF. Used for error messages.
 */
function findInvalidUtf8(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index];
    if (lead < 0x80) {
      index++;
      continue;
    }
    // After some lead bytes the second byte has a narrower range. That excludes the overlong
    // forms (E0, F0), the surrogates (ED) and code points above U+10FFFF (F4).
    let length: number;
    let secondMin = 0x80;
    let secondMax = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) secondMin = 0xa0;
      if (lead === 0xed) secondMax = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) secondMin = 0x90;
      if (lead === 0xf4) secondMax = 0x8f;
    } else {
      return index;
    }
    if (index + length > bytes.length) return index;
    if (bytes[index + 1] < secondMin || bytes[index + 1] > secondMax) return index;
    for (let k = 2; k < length; k++) {
      if ((bytes[index + k] & 0xc0) !== 0x80) return index;
    }
    index += length;
  }
  return index;
}

function readMetadata(value: unknown): Record<string, string> {
  const metadata: Record<string, string> = {};
  // The reference parser reads `"__metadata__": null` as no metadata.
  if (value === undefined || value === null) return metadata;
  if (!isPlainObject(value)) {
    throw new SafetensorsError('invalid-metadata', `"${METADATA_KEY}" must be an object of string values, got ${describeValue(value)}; the file is corrupt`, {
      byteOffset: LENGTH_PREFIX_BYTES,
    });
  }
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') {
      throw new SafetensorsError('invalid-metadata', `"${METADATA_KEY}" value of ${JSON.stringify(key)} must be a string, got ${describeValue(entry)}; the file is corrupt`, {
        byteOffset: LENGTH_PREFIX_BYTES,
      });
    }
    setOwn(metadata, key, entry);
  }
  return metadata;
}

function readTensorEntry(name: string, value: unknown, dataStart: number, dataLength: number): TensorEntry {
  const invalid = (code: SafetensorsErrorCode, detail: string, byteOffset = LENGTH_PREFIX_BYTES): never => {
    throw new SafetensorsError(code, `tensor "${name}" ${detail}`, { tensor: name, byteOffset });
  };
  if (!isPlainObject(value)) {
    invalid('invalid-tensor-entry', `must map to an object with dtype, shape and data_offsets, got ${describeValue(value)}; the file is corrupt`);
  }
  const entry = value as Record<string, unknown>;
  const field = (key: string): unknown => (Object.hasOwn(entry, key) ? entry[key] : undefined);

  const dtype = field('dtype');
  if (!isSafetensorsDtype(dtype)) {
    if (typeof dtype === 'string' && UNSUPPORTED_DTYPES.has(dtype)) {
      invalid('unsupported-dtype', `has dtype ${dtype}, which this reader does not support; supported dtypes are ${SUPPORTED_DTYPES}`);
    }
    invalid('invalid-tensor-entry', `has dtype ${describeValue(dtype)}, which is not a safetensors dtype; the file is corrupt`);
  }
  const info = DTYPES[dtype as SafetensorsDtype];

  const shape = readIntegerList(field('shape'));
  if (shape === undefined) {
    invalid('invalid-tensor-entry', `has shape ${describeValue(field('shape'))}; a shape must be an array of non-negative integers below 2^53`);
  }
  const offsets = readIntegerList(field('data_offsets'));
  if (offsets === undefined || offsets.length !== 2 || offsets[0] > offsets[1]) {
    invalid('invalid-tensor-entry', `has data_offsets ${describeValue(field('data_offsets'))}; they must be two non-negative integers [begin, end] with begin <= end`);
  }
  const [begin, end] = offsets as number[];
  const range = `data_offsets [${begin}, ${end}]`;

  if (end > dataLength) {
    invalid(
      'offsets-out-of-range',
      `has ${range} but the data section has only ${dataLength} bytes; the file is truncated or corrupt`,
      dataStart + Math.min(begin, dataLength),
    );
  }
  const count = elementCount(shape as number[]);
  const needed = count === undefined ? undefined : count * info.size;
  if (needed === undefined || needed > Number.MAX_SAFE_INTEGER || needed !== end - begin) {
    const neededText = needed === undefined || needed > Number.MAX_SAFE_INTEGER ? 'more than 2^53 - 1' : String(needed);
    invalid(
      'size-mismatch',
      `has ${range} (${end - begin} bytes) but dtype ${String(dtype)} and shape ${formatShape(shape as number[])} need ${neededText} bytes; the file is corrupt or was written by a buggy writer`,
      dataStart + begin,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** Returns the list as numbers if it is an array of non-negative safe integers, else undefined. */
function readIntegerList(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return undefined;
  if (!value.every((item) => Number.isSafeInteger(item) && item >= 0)) return undefined;
  // JSON "-0" parses to -0; store it as 0 so decoded shapes compare equal to written ones.
  return value.map((item: number) => item + 0);
}

/**
 * Checks that the tensors, sorted by offset, tile the data section exactly: the format forbids
 * both overlapping ranges and bytes that belong to no tensor.
 */
function checkCoverage(entries: TensorEntry[], dataStart: number, dataLength: number): void {
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | undefined;
  for (const entry of sorted) {
    if (entry.begin < covered) {
      throw new SafetensorsError(
        'overlapping-tensors',
        `tensor "${entry.name}" has data_offsets [${entry.begin}, ${entry.end}], which overlap tensor "${previous?.name}" at [${previous?.begin}, ${previous?.end}]; the file is corrupt or was written by a buggy writer`,
        { tensor: entry.name, byteOffset: dataStart + entry.begin },
      );
    }
    if (entry.begin > covered) {
      const after = previous === undefined ? 'the start of the data section' : `tensor "${previous.name}"`;
      throw new SafetensorsError(
        'uncovered-bytes',
        `data bytes [${covered}, ${entry.begin}) between ${after} and tensor "${entry.name}" belong to no tensor; the file is corrupt or was written by a buggy writer`,
        { tensor: entry.name, byteOffset: dataStart + covered },
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    throw new SafetensorsError(
      'uncovered-bytes',
      `the data section has ${dataLength} bytes but the tensors cover only the first ${covered}; the file has trailing bytes or a header that lost entries`,
      { byteOffset: dataStart + covered },
    );
  }
}

function checkBoolBytes(bytes: Uint8Array, entry: TensorEntry, dataStart: number): void {
  for (let offset = dataStart + entry.begin; offset < dataStart + entry.end; offset++) {
    if (bytes[offset] > 1) {
      throw new SafetensorsError(
        'invalid-bool',
        `tensor "${entry.name}" has dtype BOOL but element ${offset - dataStart - entry.begin} is byte ${bytes[offset]}; BOOL bytes must be 0 or 1`,
        { tensor: entry.name, byteOffset: offset },
      );
    }
  }
}

/** Copies little-endian tensor bytes into a new, aligned typed array of the dtype's array type. */
function copyTensorData(tensorBytes: Uint8Array, dtype: SafetensorsDtype): TensorData {
  const { size, arrayType } = DTYPES[dtype];
  const buffer = new ArrayBuffer(tensorBytes.length);
  const copy = new Uint8Array(buffer);
  copy.set(tensorBytes);
  if (!HOST_IS_LITTLE_ENDIAN) swapByteOrder(copy, size);

  if (dtype === 'F16' || dtype === 'BF16') {
    const toFloat32 = dtype === 'F16' ? float16BitsToFloat32Bits : bfloat16BitsToFloat32Bits;
    const halfBits = new Uint16Array(buffer);
    const float32Bits = new Uint32Array(halfBits.length);
    for (let i = 0; i < halfBits.length; i++) float32Bits[i] = toFloat32(halfBits[i]);
    return new Float32Array(float32Bits.buffer);
  }
  return new arrayType(buffer);
}

/**
 * Reverses the bytes of each element in place. Called only on big-endian hosts.
 * NOTE: the test suite runs on little-endian hosts, so no test exercises this function.
 */
function swapByteOrder(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let start = 0; start < bytes.length; start += elementSize) {
    bytes.subarray(start, start + elementSize).reverse();
  }
}

// ---------------------------------------------------------------------------------------------
// Half precision. Conversions work on bit patterns, never on JS numbers, because a float32 NaN
// that passes through a double may come back with a different payload.

/** Rounds float32 bits to IEEE 754 binary16 bits, to nearest with ties to even. */
function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  if (exponent === 0xff) {
    // NaN keeps its top 10 payload bits, and a payload that would vanish sets the quiet bit instead.
    if (mantissa === 0) return sign | 0x7c00;
    const payload = mantissa >>> 13;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }

  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent >= 1) {
    // A carry out of the mantissa moves into the exponent, which also rounds 65520 up to Infinity.
    const half = (halfExponent << 10) | (mantissa >>> 13);
    return sign | roundHalfToEven(half, mantissa & 0x1fff, 13);
  }
  // Below 2^-25 everything rounds to zero, including float32 subnormals.
  if (halfExponent < -10) return sign;

  // Subnormal result: units of 2^-24, from the 24-bit significand with its implicit leading 1.
  const significand = mantissa | 0x800000;
  const shift = 14 - halfExponent;
  return sign | roundHalfToEven(significand >>> shift, significand & ((1 << shift) - 1), shift);
}

/** Rounds `kept` up when the dropped low `droppedBits` bits `dropped` are above half, or at half with `kept` odd. */
function roundHalfToEven(kept: number, dropped: number, droppedBits: number): number {
  const half = 1 << (droppedBits - 1);
  return dropped > half || (dropped === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/** Widens binary16 bits to float32 bits exactly. */
function float16BitsToFloat32Bits(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >>> 10) & 0x1f;
  let mantissa = half & 0x3ff;

  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;

  // Subnormal: shift the leading 1 up to the implicit bit, lowering the exponent per step.
  let float32Exponent = 127 - 14;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    float32Exponent--;
  }
  return (sign | (float32Exponent << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

/** Rounds float32 bits to bfloat16 bits (the top 16), to nearest with ties to even. */
function float32BitsToBfloat16Bits(bits: number): number {
  const top = bits >>> 16;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
    // NaN keeps its top 7 payload bits, and a payload that would vanish sets the quiet bit instead.
    return (top & 0x7f) === 0 ? top | 0x40 : top;
  }
  // Overflow of the low half carries into the exponent, rounding the largest floats to Infinity.
  return roundHalfToEven(top, bits & 0xffff, 16);
}

function bfloat16BitsToFloat32Bits(half: number): number {
  return (half << 16) >>> 0;
}

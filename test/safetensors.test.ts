import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import fc from 'fast-check';

import {
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  type DecodedSafetensors,
  type SafetensorsDtype,
  type TensorRecord,
} from '../core/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadSafetensorsFile, saveSafetensorsFile } from '../io/safetensors-file.js';

// ---------------------------------------------------------------------------------------------
// Reference values computed here, independently of the code under test.

const DTYPES: SafetensorsDtype[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

/** Bytes per element and the typed array each dtype decodes to, as the format and the API define them. */
const EXPECTED: Record<SafetensorsDtype, { size: number; arrayName: string }> = {
  F64: { size: 8, arrayName: 'Float64Array' },
  F32: { size: 4, arrayName: 'Float32Array' },
  F16: { size: 2, arrayName: 'Float32Array' },
  BF16: { size: 2, arrayName: 'Float32Array' },
  I64: { size: 8, arrayName: 'BigInt64Array' },
  I32: { size: 4, arrayName: 'Int32Array' },
  I16: { size: 2, arrayName: 'Int16Array' },
  I8: { size: 1, arrayName: 'Int8Array' },
  U8: { size: 1, arrayName: 'Uint8Array' },
  BOOL: { size: 1, arrayName: 'Uint8Array' },
};

/** Value of IEEE 754 binary16 bits from the definition; NaN for every NaN pattern. */
function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Value of bfloat16 bits (sign, 8 exponent bits, 7 fraction bits) from the definition. */
function bfloat16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 7) & 0xff;
  const fraction = bits & 0x7f;
  if (exponent === 0xff) return fraction === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * fraction * 2 ** -133;
  return sign * (1 + fraction / 128) * 2 ** (exponent - 127);
}

function float32Bits(value: number): number {
  return new Uint32Array(new Float32Array([value]).buffer)[0];
}

/**
 * Returns the float32 bit pattern that a half-precision pattern widens to. Numbers go through
 * their value. NaNs keep sign and payload, with the payload moved to the top of the fraction.
 */
function widenedBits(halfBits: number, dtype: 'F16' | 'BF16'): number {
  const value = dtype === 'F16' ? float16Value(halfBits) : bfloat16Value(halfBits);
  if (!Number.isNaN(value)) return float32Bits(value);
  if (dtype === 'BF16') return (halfBits << 16) >>> 0;
  return (((halfBits & 0x8000) << 16) | 0x7f800000 | ((halfBits & 0x3ff) << 13)) >>> 0;
}

/**
 * Rounds a non-NaN number to the nearest half-precision pattern by searching the ordered
 * magnitudes, ties to the even pattern. Infinity counts as the next power of two beyond the
 * largest finite value, as IEEE 754 overflow rounding does.
 */
function nearestHalfBits(x: number, dtype: 'F16' | 'BF16'): number {
  const infinityBits = dtype === 'F16' ? 0x7c00 : 0x7f80;
  const overflowValue = dtype === 'F16' ? 2 ** 16 : 2 ** 128;
  const valueOf = (bits: number): number => {
    if (bits === infinityBits) return overflowValue;
    return dtype === 'F16' ? float16Value(bits) : bfloat16Value(bits);
  };
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const target = Math.abs(x);
  if (target >= overflowValue) return sign | infinityBits;

  let low = 0;
  let high = infinityBits;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (valueOf(middle) <= target) low = middle;
    else high = middle - 1;
  }
  const below = target - valueOf(low);
  const above = valueOf(low + 1) - target;
  if (below === 0 || below < above) return sign | low;
  if (above < below) return sign | (low + 1);
  return sign | (low % 2 === 0 ? low : low + 1);
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Builds a file from a header (text or raw bytes) and a data section, with no padding. */
function assembleFile(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const headerBytes = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const file = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  file.set(headerBytes, 8);
  file.set(data, 8 + headerBytes.length);
  return file;
}

interface FileParts {
  header: Record<string, unknown>;
  headerText: string;
  data: Uint8Array;
  dataStart: number;
}

/** Splits a file the test trusts to be well formed, without the decoder under test. */
function splitFile(file: Uint8Array): FileParts {
  const headerLength = Number(new DataView(file.buffer, file.byteOffset, file.byteLength).getBigUint64(0, true));
  const headerText = new TextDecoder().decode(file.subarray(8, 8 + headerLength));
  const header = JSON.parse(headerText) as Record<string, unknown>;
  return { header, headerText, data: file.subarray(8 + headerLength), dataStart: 8 + headerLength };
}

interface HeaderEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * Checks a decoded result against the file it came from, read by the plain reader above: the
 * same tensor names, dtypes and shapes, each tensor's data equal to the bytes its offsets name,
 * and the same metadata. Also checks that decoding allocated no more than twice the file size
 * (F16 and BF16 widen to 4 bytes per element).
 */
function assertDecodedMatchesFile(decoded: DecodedSafetensors, file: Uint8Array): void {
  const { header, data } = splitFile(file);
  const names = Object.keys(header).filter((name) => name !== '__metadata__');
  assert.deepEqual(Object.keys(decoded.tensors).sort(), names.sort());

  let allocated = 0;
  for (const name of names) {
    const entry = header[name] as HeaderEntry;
    const tensor = decoded.tensors[name];
    assert.equal(tensor.dtype, entry.dtype, `dtype of "${name}"`);
    assert.deepEqual(tensor.shape, entry.shape.map((extent) => extent + 0), `shape of "${name}"`);
    assert.equal(tensor.data.constructor.name, EXPECTED[entry.dtype].arrayName, `array type of "${name}"`);

    const raw = data.subarray(entry.data_offsets[0], entry.data_offsets[1]);
    if (entry.dtype === 'F16' || entry.dtype === 'BF16') {
      const expected = new Uint32Array(raw.length / 2);
      for (let i = 0; i < expected.length; i++) expected[i] = widenedBits(raw[2 * i] | (raw[2 * i + 1] << 8), entry.dtype);
      assert.deepEqual(new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length), expected, `data of "${name}"`);
    } else {
      assert.deepEqual(bytesOf(tensor.data), raw, `data of "${name}"`);
    }
    allocated += tensor.data.byteLength;
  }
  assert.deepEqual({ ...decoded.metadata }, header.__metadata__ ?? {});
  assert.ok(allocated <= 2 * file.length, `decoding a ${file.length}-byte file allocated ${allocated} bytes`);
}

function assertSameTensors(actual: Record<string, TensorRecord>, expected: Record<string, TensorRecord>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const name of Object.keys(expected)) {
    assert.equal(actual[name].dtype, expected[name].dtype, `dtype of "${name}"`);
    assert.deepEqual(actual[name].shape, expected[name].shape, `shape of "${name}"`);
    assert.equal(actual[name].data.constructor, expected[name].data.constructor, `array type of "${name}"`);
    assert.deepEqual(bytesOf(actual[name].data), bytesOf(expected[name].data), `bits of "${name}"`);
  }
}

/** Runs `run` and returns the SafetensorsError it throws; any other outcome fails the test. */
function catchSafetensorsError(run: () => unknown): SafetensorsError {
  try {
    run();
  } catch (error) {
    if (error instanceof SafetensorsError) return error;
    throw error;
  }
  assert.fail('expected a SafetensorsError, but nothing was thrown');
}

function tensorsObject(entries: Array<[string, TensorRecord]>): Record<string, TensorRecord> {
  const tensors: Record<string, TensorRecord> = {};
  for (const [name, record] of entries) Object.defineProperty(tensors, name, { value: record, enumerable: true, writable: true, configurable: true });
  return tensors;
}

// ---------------------------------------------------------------------------------------------
// Generators

const FLOAT32_SPECIALS = [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x00000001, 0x7f7fffff];
const FLOAT64_SPECIALS = [0n, 0x8000000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0x7ff0000000000001n, 0xfff7ffffffffffffn, 1n];
const HALF_SPECIALS = [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfdff, 0x0001, 0x7bff, 0x7f80, 0xff81, 0x7fc1];

function bitsArbitrary(max: number, specials: number[]): fc.Arbitrary<number> {
  return fc.oneof({ arbitrary: fc.integer({ min: 0, max }), weight: 3 }, { arbitrary: fc.constantFrom(...specials), weight: 1 });
}

function dataArbitrary(dtype: SafetensorsDtype, count: number): fc.Arbitrary<TensorRecord['data']> {
  const length = { minLength: count, maxLength: count };
  switch (dtype) {
    case 'F64': {
      const bits = fc.oneof({ arbitrary: fc.bigInt(0n, 2n ** 64n - 1n), weight: 3 }, { arbitrary: fc.constantFrom(...FLOAT64_SPECIALS), weight: 1 });
      return fc.array(bits, length).map((values) => new Float64Array(BigUint64Array.from(values).buffer));
    }
    case 'F32':
      return fc.array(bitsArbitrary(0xffffffff, FLOAT32_SPECIALS), length).map((values) => new Float32Array(Uint32Array.from(values).buffer));
    case 'F16':
    case 'BF16':
      return fc
        .array(bitsArbitrary(0xffff, HALF_SPECIALS), length)
        .map((values) => new Float32Array(Uint32Array.from(values, (bits) => widenedBits(bits, dtype)).buffer));
    case 'I64':
      return fc.array(fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n), length).map((values) => BigInt64Array.from(values));
    case 'I32':
      return fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), length).map((values) => Int32Array.from(values));
    case 'I16':
      return fc.array(fc.integer({ min: -(2 ** 15), max: 2 ** 15 - 1 }), length).map((values) => Int16Array.from(values));
    case 'I8':
      return fc.array(fc.integer({ min: -128, max: 127 }), length).map((values) => Int8Array.from(values));
    case 'U8':
      return fc.array(fc.integer({ min: 0, max: 255 }), length).map((values) => Uint8Array.from(values));
    case 'BOOL':
      return fc.array(fc.integer({ min: 0, max: 1 }), length).map((values) => Uint8Array.from(values));
  }
}

function tensorArbitrary(dtypes: SafetensorsDtype[] = DTYPES, minExtent = 0): fc.Arbitrary<TensorRecord> {
  return fc
    .record({ dtype: fc.constantFrom(...dtypes), shape: fc.array(fc.integer({ min: minExtent, max: 4 }), { maxLength: 3 }) })
    .chain(({ dtype, shape }) =>
      dataArbitrary(dtype, shape.reduce((a, b) => a * b, 1)).map((data): TensorRecord => ({ dtype, shape, data })),
    );
}

/** Names that stress the header writer and reader: object built-ins, integer-like keys, escapes. */
const nameArbitrary = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 6 }),
    fc.constantFrom('__proto__', 'constructor', 'toString', '0', '10', '', 'layer.0.weight', 'a"b\\c', '\ud800', 'é'),
  )
  .filter((name) => name !== '__metadata__');

function tensorsArbitrary(options: { minTensors?: number; maxTensors?: number; minExtent?: number } = {}): fc.Arbitrary<Record<string, TensorRecord>> {
  const { minTensors = 0, maxTensors = 4, minExtent = 0 } = options;
  return fc
    .uniqueArray(nameArbitrary, { minLength: minTensors, maxLength: maxTensors })
    .chain((names) => fc.tuple(...names.map(() => tensorArbitrary(DTYPES, minExtent))).map((records) => tensorsObject(names.map((name, i) => [name, records[i]]))));
}

const metadataArbitrary: fc.Arbitrary<Record<string, string> | undefined> = fc.option(
  fc.uniqueArray(fc.tuple(nameArbitrary, fc.string({ unit: 'binary', maxLength: 8 })), { maxLength: 3, selector: ([key]) => key }).map((pairs) => {
    const metadata: Record<string, string> = {};
    for (const [key, value] of pairs) Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
    return metadata;
  }),
  { nil: undefined },
);

const fileArbitrary = fc.tuple(tensorsArbitrary(), metadataArbitrary).map(([tensors, metadata]) => encodeSafetensors(tensors, metadata));

/** Files with two to four tensors, none of them empty, so every corruption below applies. */
const populatedFileArbitrary = fc
  .tuple(tensorsArbitrary({ minTensors: 2, minExtent: 1 }), metadataArbitrary)
  .map(([tensors, metadata]) => encodeSafetensors(tensors, metadata));

// ---------------------------------------------------------------------------------------------

describe('core/safetensors', () => {
  describe('encodeSafetensors', () => {
    it('matches hand-written bytes', () => {
      const file = encodeSafetensors(
        {
          c: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
          b: { dtype: 'I32', shape: [2], data: new Int32Array([1, -2]) },
          a: { dtype: 'F64', shape: [1], data: new Float64Array([1.5]) },
        },
        { format: 'pt' },
      );

      // F64 before I32 before U8 (descending element size), metadata first, then 7 spaces of
      // padding to bring the 193-byte header to 200 bytes.
      const header =
        '{"__metadata__":{"format":"pt"},' +
        '"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
        '"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},' +
        '"c":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}';
      assert.equal(header.length, 193);
      const expected = [
        ...[200, 0, 0, 0, 0, 0, 0, 0],
        ...Array.from(header, (char) => char.charCodeAt(0)),
        ...[0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20],
        ...[0, 0, 0, 0, 0, 0, 0xf8, 0x3f], // 1.5 = 0x3FF8000000000000
        ...[1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff], // 1 and -2
        ...[1, 2, 3],
      ];
      assert.deepEqual(Array.from(file), expected);
    });

    it('writes an empty tensor set', () => {
      assert.deepEqual(Array.from(encodeSafetensors({})), [8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20]);
    });

    it('aligns each tensor to its element size', () => {
      fc.assert(
        fc.property(fileArbitrary, (file) => {
          const { header, dataStart } = splitFile(file);
          assert.equal(dataStart % 8, 0);
          for (const [name, entry] of Object.entries(header)) {
            if (name === '__metadata__') continue;
            const { dtype, data_offsets } = entry as HeaderEntry;
            assert.equal((dataStart + data_offsets[0]) % EXPECTED[dtype].size, 0, `offset of "${name}"`);
          }
        }),
        { numRuns: 200 },
      );
    });

    it('ignores key insertion order', () => {
      fc.assert(
        fc.property(tensorsArbitrary(), (tensors) => {
          const reversed = tensorsObject(Object.entries(tensors).reverse());
          assert.deepEqual(encodeSafetensors(reversed), encodeSafetensors(tensors));
        }),
        { numRuns: 100 },
      );
    });

    it('rounds F16 ties to even', () => {
      const cases: Array<[number, number]> = [
        [1, 0x3c00],
        [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: keep the even 0x3c00
        [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: the even one
        [65504, 0x7bff], // largest finite
        [65519, 0x7bff],
        [65520, 0x7c00], // halfway to 2^16 rounds to Infinity
        [1e10, 0x7c00],
        [-Infinity, 0xfc00],
        [-0, 0x8000],
        [2 ** -14, 0x0400], // smallest normal
        [2 ** -24, 0x0001], // smallest subnormal
        [2 ** -25, 0x0000], // halfway to the smallest subnormal: the even 0
        [1.5 * 2 ** -25, 0x0001],
        [3 * 2 ** -25, 0x0002], // halfway between 0x0001 and 0x0002
        [2 ** -126, 0x0000],
        [-(2 ** -149), 0x8000], // float32 subnormal
      ];
      const encoded = encodeSafetensors({ x: { dtype: 'F16', shape: [cases.length], data: Float32Array.from(cases, ([value]) => value) } });
      const bits = new Uint16Array(encoded.slice(encoded.length - 2 * cases.length).buffer);
      assert.deepEqual(Array.from(bits), cases.map(([, expected]) => expected));
    });

    it('rounds BF16 ties to even', () => {
      const cases: Array<[number, number]> = [
        [1, 0x3f80],
        [1 + 2 ** -8, 0x3f80], // halfway between 1 and 1 + 2^-7
        [1 + 3 * 2 ** -8, 0x3f82],
        [-3.140625, 0xc049],
        [3.4028234663852886e38, 0x7f80], // float32 max rounds past the largest bfloat16 to Infinity
        [-0, 0x8000],
        [2 ** -133, 0x0001], // smallest bfloat16 subnormal
      ];
      const encoded = encodeSafetensors({ x: { dtype: 'BF16', shape: [cases.length], data: Float32Array.from(cases, ([value]) => value) } });
      const bits = new Uint16Array(encoded.slice(encoded.length - 2 * cases.length).buffer);
      assert.deepEqual(Array.from(bits), cases.map(([, expected]) => expected));
    });

    it('keeps NaN when narrowing', () => {
      // [float32 bits, F16 bits, BF16 bits]: the top payload bits survive, and a payload that
      // would vanish becomes the quiet bit instead of turning the NaN into Infinity.
      const cases: Array<[number, number, number]> = [
        [0x7fc00000, 0x7e00, 0x7fc0],
        [0x7f800001, 0x7e00, 0x7fc0],
        [0xff802000, 0xfc01, 0xffc0],
        [0x7f810000, 0x7c08, 0x7f81],
        [0xffffffff, 0xffff, 0xffff],
      ];
      const values = new Float32Array(Uint32Array.from(cases, ([bits]) => bits).buffer);
      for (const [dtype, column] of [['F16', 1], ['BF16', 2]] as const) {
        const encoded = encodeSafetensors({ x: { dtype, shape: [values.length], data: values } });
        const bits = new Uint16Array(encoded.slice(encoded.length - 2 * values.length).buffer);
        assert.deepEqual(Array.from(bits), cases.map((row) => row[column]), dtype);
      }
    });

    for (const dtype of ['F16', 'BF16'] as const) {
      it(`rounds float32 to nearest ${dtype}`, () => {
        const finite = fc.integer({ min: 0, max: 0xffffffff }).filter((bits) => (bits & 0x7f800000) !== 0x7f800000);
        fc.assert(
          fc.property(fc.array(finite, { minLength: 1, maxLength: 64 }), (patterns) => {
            const values = new Float32Array(Uint32Array.from(patterns).buffer);
            const encoded = encodeSafetensors({ x: { dtype, shape: [values.length], data: values } });
            const bits = new Uint16Array(encoded.slice(encoded.length - 2 * values.length).buffer);
            values.forEach((value, i) => assert.equal(bits[i], nearestHalfBits(value, dtype), `rounding ${value}`));
          }),
          { numRuns: 200 },
        );
      });

      it(`keeps every ${dtype} bit pattern`, () => {
        const patterns = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
        const widened = new Float32Array(Uint32Array.from(patterns, (bits) => widenedBits(bits, dtype)).buffer);
        const encoded = encodeSafetensors({ x: { dtype, shape: [patterns.length], data: widened } });
        assert.deepEqual(encoded.subarray(encoded.length - 2 * patterns.length), bytesOf(patterns));

        const decoded = decodeSafetensors(encoded).tensors.x.data as Float32Array;
        assert.deepEqual(bytesOf(decoded), bytesOf(widened));
      });
    }

    it('rejects a data length that does not match the shape', () => {
      const error = catchSafetensorsError(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } }));
      assert.equal(error.code, 'invalid-input');
      assert.equal(error.tensor, 'w');
      assert.match(error.message, /tensor "w": shape \[2, 3\] has 6 elements but data has 5/);
    });

    it('rejects a typed array of the wrong type', () => {
      const error = catchSafetensorsError(() => encodeSafetensors({ w: { dtype: 'F64', shape: [2], data: new Float32Array(2) } }));
      assert.match(error.message, /dtype F64 stores its data in a Float64Array, got a Float32Array/);
      const i64 = catchSafetensorsError(() => encodeSafetensors({ w: { dtype: 'I64', shape: [1], data: new Int32Array(1) } }));
      assert.match(i64.message, /BigInt64Array/);
    });

    it('rejects invalid records and metadata', () => {
      const bad: Array<[string, () => unknown, RegExp]> = [
        ['unknown dtype', () => encodeSafetensors({ w: { dtype: 'F8' as SafetensorsDtype, shape: [1], data: new Uint8Array(1) } }), /unknown dtype "F8"/],
        ['negative extent', () => encodeSafetensors({ w: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }), /non-negative integers, got \[-1\]/],
        ['fractional extent', () => encodeSafetensors({ w: { dtype: 'U8', shape: [1.5], data: new Uint8Array(1) } }), /non-negative integers/],
        ['BOOL value 2', () => encodeSafetensors({ m: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 2]) } }), /BOOL data must be 0 or 1, got 2 at element 1/],
        ['reserved name', () => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), /reserved for the metadata map/],
        ['record null', () => encodeSafetensors({ w: null as unknown as TensorRecord }), /expected a record \{ dtype, shape, data \}, got null/],
        ['tensors a Map', () => encodeSafetensors(new Map() as unknown as Record<string, TensorRecord>), /got a Map/],
        ['metadata number', () => encodeSafetensors({}, { step: 3 as unknown as string }), /metadata value of "step" must be a string, got number/],
      ];
      for (const [label, run, message] of bad) {
        const error = catchSafetensorsError(run);
        assert.equal(error.code, 'invalid-input', label);
        assert.match(error.message, message, label);
      }
    });
  });

  describe('decodeSafetensors', () => {
    it('round-trips every dtype bit-exactly', () => {
      for (const dtype of DTYPES) {
        fc.assert(
          fc.property(fc.array(tensorArbitrary([dtype]), { minLength: 1, maxLength: 3 }), metadataArbitrary, (records, metadata) => {
            const tensors = tensorsObject(records.map((record, i) => [`t${i}`, record]));
            const decoded = decodeSafetensors(encodeSafetensors(tensors, metadata));
            assertSameTensors(decoded.tensors, tensors);
            assert.deepEqual({ ...decoded.metadata }, { ...metadata });
          }),
          { numRuns: 60 },
        );
      }
    });

    it('round-trips mixed tensors and awkward names', () => {
      fc.assert(
        fc.property(tensorsArbitrary(), metadataArbitrary, (tensors, metadata) => {
          const decoded = decodeSafetensors(encodeSafetensors(tensors, metadata));
          assertSameTensors(decoded.tensors, tensors);
          assert.deepEqual({ ...decoded.metadata }, { ...metadata });
          assert.equal(Object.getPrototypeOf(decoded.tensors), Object.prototype);
        }),
        { numRuns: 300 },
      );
    });

    it('reads an unpadded header and unaligned data', () => {
      // Hand-built: a 5-byte-misaligned data section holding F32, I16, F16, BF16, BOOL and an
      // empty tensor, in an order the encoder would not choose, plus an unknown entry field.
      const header =
        '{"f":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
        '"i":{"dtype":"I16","shape":[1],"data_offsets":[8,10]},' +
        '"h":{"dtype":"F16","shape":[4],"data_offsets":[10,18],"note":"ignored"},' +
        '"b":{"dtype":"BF16","shape":[2],"data_offsets":[18,22]},' +
        '"m":{"dtype":"BOOL","shape":[1,2],"data_offsets":[22,24]},' +
        '"e":{"dtype":"I64","shape":[0,3],"data_offsets":[24,24]},' +
        '"__metadata__":null}';
      const data = [
        ...[0xcd, 0xcc, 0xcc, 0x3d, 0, 0, 0x80, 0xbf], // 0.1f, -1
        ...[0xd4, 0xfe], // -300
        ...[0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c, 0x01, 0x00], // 1, -2, Infinity, 2^-24
        ...[0x80, 0x3f, 0x49, 0xc0], // 1, -3.140625
        ...[1, 0],
      ];
      // Place the file at an odd offset inside a larger buffer, as a slice of a read buffer would be.
      const file = assembleFile(header, Uint8Array.from(data));
      const backing = new Uint8Array(file.length + 3);
      backing.set(file, 3);
      const decoded = decodeSafetensors(backing.subarray(3));

      assert.deepEqual(Array.from(decoded.tensors.f.data as Float32Array), [Math.fround(0.1), -1]);
      assert.deepEqual(Array.from(decoded.tensors.i.data as Int16Array), [-300]);
      assert.deepEqual(Array.from(decoded.tensors.h.data as Float32Array), [1, -2, Infinity, 2 ** -24]);
      assert.deepEqual(Array.from(decoded.tensors.b.data as Float32Array), [1, -3.140625]);
      assert.deepEqual(decoded.tensors.m, { dtype: 'BOOL', shape: [1, 2], data: new Uint8Array([1, 0]) });
      assert.deepEqual(decoded.tensors.e, { dtype: 'I64', shape: [0, 3], data: new BigInt64Array(0) });
      assert.deepEqual(decoded.metadata, {});
    });

    it('reads -0 in shapes and offsets as 0', () => {
      const decoded = decodeSafetensors(assembleFile('{"z":{"dtype":"F32","shape":[-0,2],"data_offsets":[-0,0]}}'));
      assert.ok(Object.is(decoded.tensors.z.shape[0], 0));
    });

    it('reports a size mismatch with names and sizes', () => {
      const header = '{"layer.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}';
      const error = catchSafetensorsError(() => decodeSafetensors(assembleFile(header, new Uint8Array(12))));
      assert.equal(
        error.message,
        'safetensors: tensor "layer.weight" has data_offsets [0, 12] (12 bytes) but dtype F32 and shape [2, 2] need 16 bytes; the file is corrupt or was written by a buggy writer',
      );
      assert.equal(error.code, 'size-mismatch');
      assert.equal(error.tensor, 'layer.weight');
      assert.equal(error.byteOffset, 8 + header.length);
    });

    it('reports each kind of corruption', () => {
      const entry = (dtype: string, shape: string, offsets: string): string => `{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}`;
      const duplicateHeader = `{"a":${entry('U8', '[0]', '[0,0]')}, "a":${entry('U8', '[0]', '[0,0]')}}`;
      const overlapHeader = `{"a":${entry('U8', '[2]', '[0,2]')},"b":${entry('U8', '[2]', '[1,3]')}}`;
      const cases: Array<[string, Uint8Array, string, RegExp, number?]> = [
        ['short file', new Uint8Array(7), 'file-too-small', /the file is 7 bytes, shorter than the 8-byte header length prefix/, 0],
        ['huge length', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'header-too-large', /18446744073709551615 bytes, above the limit of 100000000/, 0],
        ['length past end', Uint8Array.from([9, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]), 'header-length-out-of-range', /9 bytes but only 2 bytes follow/, 0],
        ['invalid UTF-8', assembleFile(Uint8Array.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])), 'invalid-utf8', /not valid UTF-8/, 10],
        ['byte order mark', assembleFile('\ufeff{}'), 'invalid-header-start', /must begin with "\{" but begins with "\ufeff"/, 8],
        ['empty header', assembleFile(''), 'invalid-header-start', /is empty/, 8],
        ['array header', assembleFile('[]'), 'invalid-header-start', /begins with "\["/, 8],
        ['bad JSON', assembleFile('{"a":}'), 'invalid-json', /not valid JSON/, 8],
        ['duplicate tensor', assembleFile(duplicateHeader), 'duplicate-key', /key "a" twice/, 8 + duplicateHeader.lastIndexOf('"a"')],
        ['duplicate field', assembleFile('{"a":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}'), 'duplicate-key', /key "dtype" twice/, 8 + 19],
        ['escaped duplicate', assembleFile(`{"a":${entry('U8', '[0]', '[0,0]')},"\\u0061":${entry('U8', '[0]', '[0,0]')}}`), 'duplicate-key', /key "a" twice/],
        ['metadata array', assembleFile('{"__metadata__":["a"]}'), 'invalid-metadata', /must be an object of string values, got \["a"\]/],
        ['metadata number', assembleFile('{"__metadata__":{"step":3}}'), 'invalid-metadata', /value of "step" must be a string, got 3/],
        ['entry not object', assembleFile('{"a":[1]}'), 'invalid-tensor-entry', /tensor "a" must map to an object/],
        ['unsupported dtype', assembleFile(`{"a":${entry('U16', '[1]', '[0,2]')}}`, new Uint8Array(2)), 'unsupported-dtype', /dtype U16, which this reader does not support/],
        ['unknown dtype', assembleFile(`{"a":${entry('float32', '[1]', '[0,4]')}}`, new Uint8Array(4)), 'invalid-tensor-entry', /dtype "float32", which is not a safetensors dtype/],
        ['negative extent', assembleFile(`{"a":${entry('U8', '[-1]', '[0,0]')}}`), 'invalid-tensor-entry', /shape \[-1\]/],
        ['fractional extent', assembleFile(`{"a":${entry('U8', '[1.5]', '[0,1]')}}`, new Uint8Array(1)), 'invalid-tensor-entry', /shape \[1.5\]/],
        ['unsafe extent', assembleFile(`{"a":${entry('U8', '[9007199254740993]', '[0,1]')}}`, new Uint8Array(1)), 'invalid-tensor-entry', /below 2\^53/],
        ['three offsets', assembleFile(`{"a":${entry('U8', '[1]', '[0,1,2]')}}`, new Uint8Array(1)), 'invalid-tensor-entry', /data_offsets \[0,1,2\]/],
        ['begin after end', assembleFile(`{"a":${entry('U8', '[1]', '[2,1]')}}`, new Uint8Array(2)), 'invalid-tensor-entry', /begin <= end/],
        ['end past data', assembleFile(`{"a":${entry('U8', '[4]', '[0,4]')}}`, new Uint8Array(3)), 'offsets-out-of-range', /has data_offsets \[0, 4\] but the data section has only 3 bytes/],
        ['element overflow', assembleFile(`{"a":${entry('F64', '[1048576,1048576,1048576]', '[0,1]')}}`, new Uint8Array(1)), 'size-mismatch', /need more than 2\^53 - 1 bytes/],
        [
          'overlap',
          assembleFile(overlapHeader, new Uint8Array(3)),
          'overlapping-tensors',
          /tensor "b" has data_offsets \[1, 3\], which overlap tensor "a" at \[0, 2\]/,
          8 + overlapHeader.length + 1,
        ],
        ['gap', assembleFile(`{"a":${entry('U8', '[2]', '[0,2]')},"b":${entry('U8', '[2]', '[3,5]')}}`, new Uint8Array(5)), 'uncovered-bytes', /data bytes \[2, 3\) between tensor "a" and tensor "b"/],
        ['gap at start', assembleFile(`{"a":${entry('U8', '[2]', '[1,3]')}}`, new Uint8Array(3)), 'uncovered-bytes', /between the start of the data section and tensor "a"/],
        ['trailing bytes', assembleFile(`{"a":${entry('U8', '[2]', '[0,2]')}}`, new Uint8Array(3)), 'uncovered-bytes', /has 3 bytes but the tensors cover only the first 2/],
        ['BOOL byte 2', assembleFile(`{"m":${entry('BOOL', '[2]', '[0,2]')}}`, Uint8Array.from([0, 2])), 'invalid-bool', /element 1 is byte 2/],
      ];
      for (const [label, file, code, message, byteOffset] of cases) {
        const error = catchSafetensorsError(() => decodeSafetensors(file));
        assert.equal(error.code, code, label);
        assert.match(error.message, message, label);
        assert.ok(error.message.startsWith('safetensors: '), label);
        if (byteOffset !== undefined) assert.equal(error.byteOffset, byteOffset, label);
      }
    });

    it('bounds the header by maxHeaderBytes', () => {
      const file = encodeSafetensors({ w: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } });
      const headerLength = file.length - 9;
      assert.equal(catchSafetensorsError(() => decodeSafetensors(file, { maxHeaderBytes: headerLength - 1 })).code, 'header-too-large');
      assert.deepEqual(decodeSafetensors(file, { maxHeaderBytes: headerLength }).tensors.w.data, new Uint8Array(1));
      assert.throws(() => decodeSafetensors(file, { maxHeaderBytes: -1 }), RangeError);
    });

    it('rejects an ArrayBuffer with a hint', () => {
      const file = encodeSafetensors({});
      assert.throws(() => decodeSafetensors(file.buffer as unknown as Uint8Array), /wrap an ArrayBuffer with new Uint8Array\(buffer\)/);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Fuzzing: corrupt valid files and require a SafetensorsError or a result that matches the
  // corrupted bytes. assert.throws rethrows any other exception type, failing the property.

  describe('fuzzing decodeSafetensors', function () {
    this.timeout(20_000);

    it('rejects every truncation', () => {
      fc.assert(
        fc.property(fileArbitrary, fc.nat(), (file, cut) => {
          assert.throws(() => decodeSafetensors(file.subarray(0, cut % file.length)), SafetensorsError);
        }),
        { numRuns: 1000 },
      );
    });

    it('rejects appended bytes', () => {
      fc.assert(
        fc.property(fileArbitrary, fc.uint8Array({ minLength: 1, maxLength: 16 }), (file, extra) => {
          const extended = new Uint8Array(file.length + extra.length);
          extended.set(file);
          extended.set(extra, file.length);
          assert.throws(() => decodeSafetensors(extended), SafetensorsError);
        }),
        { numRuns: 300 },
      );
    });

    it('survives flipped bytes', () => {
      const flipsArbitrary = fc.array(fc.record({ position: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 });
      fc.assert(
        fc.property(fileArbitrary, flipsArbitrary, (file, flips) => {
          const { header, dataStart } = splitFile(file);
          const corrupted = file.slice();
          for (const { position, mask } of flips) corrupted[position % file.length] ^= mask;

          let decoded: DecodedSafetensors;
          try {
            decoded = decodeSafetensors(corrupted);
          } catch (error) {
            assert.ok(error instanceof SafetensorsError, `threw ${String(error)}`);
            // Flips confined to the data section leave a valid file unless they break a BOOL.
            const dataOnly = flips.every(({ position }) => position % file.length >= dataStart);
            const boolBroken = Object.values(header).some((entry) => {
              const { dtype, data_offsets: offsets } = entry as HeaderEntry;
              return dtype === 'BOOL' && corrupted.subarray(dataStart + offsets[0], dataStart + offsets[1]).some((byte) => byte > 1);
            });
            assert.ok(!dataOnly || boolBroken, `a data-only flip was rejected: ${error.message}`);
            return;
          }
          assertDecodedMatchesFile(decoded, corrupted);
        }),
        { numRuns: 1000 },
      );
    });

    it('rejects a wrong header length', () => {
      const lengthArbitrary = fc.oneof(
        fc.record({ kind: fc.constant('absolute' as const), value: fc.bigInt(0n, 2n ** 64n - 1n) }),
        fc.record({ kind: fc.constant('absolute' as const), value: fc.constantFrom(0n, 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 100_000_000n, 100_000_001n) }),
        fc.record({ kind: fc.constant('relative' as const), value: fc.bigInt(-16n, 16n) }),
      );
      fc.assert(
        fc.property(fileArbitrary, lengthArbitrary, (file, change) => {
          const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
          const original = view.getBigUint64(0, true);
          const replaced = change.kind === 'absolute' ? change.value : original + change.value;
          fc.pre(replaced >= 0n);

          const corrupted = file.slice();
          new DataView(corrupted.buffer).setBigUint64(0, replaced, true);
          if (replaced === original) assertDecodedMatchesFile(decodeSafetensors(corrupted), file);
          else assert.throws(() => decodeSafetensors(corrupted), SafetensorsError);
        }),
        { numRuns: 1000 },
      );
    });

    it('rejects invalid header JSON', () => {
      fc.assert(
        fc.property(populatedFileArbitrary, corruptionArbitrary, (file, corruption) => {
          const corrupted = applyCorruption(splitFile(file), corruption);
          assert.throws(() => decodeSafetensors(corrupted), SafetensorsError);
        }),
        { numRuns: 2000 },
      );
    });

    it('survives arbitrary JSON headers', () => {
      const headerArbitrary = fc.oneof(
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc.dictionary(nameArbitrary, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }).map((value) => JSON.stringify(value)),
      );
      fc.assert(
        fc.property(headerArbitrary, fc.uint8Array({ maxLength: 16 }), (header, data) => {
          const file = assembleFile(header, data);
          let decoded: DecodedSafetensors;
          try {
            decoded = decodeSafetensors(file);
          } catch (error) {
            assert.ok(error instanceof SafetensorsError, `threw ${String(error)}`);
            return;
          }
          assertDecodedMatchesFile(decoded, file);
        }),
        { numRuns: 500 },
      );
    });

    it('survives random bytes', () => {
      const bytesArbitrary = fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.tuple(fc.uint8Array({ maxLength: 48 }), fc.uint8Array({ maxLength: 16 })).map(([header, data]) => assembleFile(header, data)),
      );
      fc.assert(
        fc.property(bytesArbitrary, (file) => {
          try {
            assertDecodedMatchesFile(decodeSafetensors(file), file);
          } catch (error) {
            assert.ok(error instanceof SafetensorsError, `threw ${String(error)}`);
          }
        }),
        { numRuns: 500 },
      );
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('safetensors files', () => {
    let directory: string;

    before(async () => {
      directory = await mkdtemp(join(tmpdir(), 'singlora-safetensors-'));
    });

    after(async () => {
      await rm(directory, { recursive: true, force: true });
    });

    /** Creates an empty subdirectory, so each test can list exactly the files it made. */
    let testNumber = 0;
    async function freshDirectory(): Promise<string> {
      testNumber += 1;
      const path = join(directory, `test-${testNumber}`);
      await mkdir(path);
      return path;
    }

    const tensors = { w: { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, -2]) } };

    it('saves and loads a checkpoint', async () => {
      const folder = await freshDirectory();
      const path = join(folder, 'model.safetensors');
      await saveSafetensorsFile(path, tensors, { step: '10' });

      const loaded = await loadSafetensorsFile(path);
      assertSameTensors(loaded.tensors, tensors);
      assert.deepEqual(loaded.metadata, { step: '10' });
      assert.deepEqual(await readFile(path), Buffer.from(encodeSafetensors(tensors, { step: '10' })));
      assert.deepEqual(await readdir(folder), ['model.safetensors']);
    });

    it('replaces a file and keeps its mode', async () => {
      const folder = await freshDirectory();
      const path = join(folder, 'notes.txt');
      await writeFile(path, 'old contents');
      await chmod(path, 0o640);

      await writeFileAtomic(path, 'new ✓');
      assert.equal(await readFile(path, 'utf8'), 'new ✓');
      assert.equal((await stat(path)).mode & 0o777, 0o640);
      assert.deepEqual(await readdir(folder), ['notes.txt']);
    });

    it('writes through a symbolic link', async () => {
      const folder = await freshDirectory();
      await writeFile(join(folder, 'real'), 'old');
      await symlink('real', join(folder, 'link'));

      await writeFileAtomic(join(folder, 'link'), Uint8Array.from([1, 2]));
      assert.ok((await lstat(join(folder, 'link'))).isSymbolicLink());
      assert.deepEqual(await readFile(join(folder, 'real')), Buffer.from([1, 2]));
      assert.deepEqual((await readdir(folder)).sort(), ['link', 'real']);
    });

    it('cleans up when the rename fails', async () => {
      // Renaming a file over a directory fails after the temporary file is fully written.
      const folder = await freshDirectory();
      const target = join(folder, 'checkpoint.safetensors');
      await mkdir(target);
      await writeFile(join(target, 'inside'), 'kept');

      await assert.rejects(saveSafetensorsFile(target, tensors), (error: Error) => {
        assert.ok(error.message.includes(`failed to write "${target}" atomically`), error.message);
        assert.ok(error.cause instanceof Error);
        return true;
      });
      assert.deepEqual(await readdir(folder), ['checkpoint.safetensors']);
      assert.equal(await readFile(join(target, 'inside'), 'utf8'), 'kept');
    });

    it('leaves the old file when encoding fails', async () => {
      const folder = await freshDirectory();
      const path = join(folder, 'model.safetensors');
      await saveSafetensorsFile(path, tensors);
      const before = await readFile(path);

      const invalid = { w: { dtype: 'F32' as const, shape: [3], data: new Float32Array(2) } };
      await assert.rejects(saveSafetensorsFile(path, invalid), SafetensorsError);
      assert.deepEqual(await readFile(path), before);
      assert.deepEqual(await readdir(folder), ['model.safetensors']);
    });

    it('names the path of a missing directory', async () => {
      const path = join(directory, 'no-such-directory', 'model.safetensors');
      await assert.rejects(saveSafetensorsFile(path, tensors), (error: Error & { code?: string }) => {
        assert.ok(error.message.includes(path), error.message);
        assert.equal(error.code, 'ENOENT');
        return true;
      });
    });

    it('names the path of a missing file', async () => {
      const path = join(directory, 'missing.safetensors');
      await assert.rejects(loadSafetensorsFile(path), (error: Error & { code?: string }) => {
        assert.ok(error.message.startsWith(`safetensors: failed to read "${path}"`), error.message);
        assert.equal(error.code, 'ENOENT');
        return true;
      });
    });

    it('names the path of a corrupt file', async () => {
      const folder = await freshDirectory();
      const path = join(folder, 'short.safetensors');
      await writeFile(path, Uint8Array.from([1, 2, 3]));
      await assert.rejects(loadSafetensorsFile(path), (error: unknown) => {
        assert.ok(error instanceof SafetensorsError);
        assert.equal(error.path, path);
        assert.equal(error.code, 'file-too-small');
        assert.ok(error.message.startsWith(`safetensors: ${path}: the file is 3 bytes`), error.message);
        return true;
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Header corruptions that must always be rejected. Each is a plain record so that fast-check
// prints a readable counterexample; `pick` and `other` index the tensors modulo their count.

type Corruption =
  | { kind: 'dtype'; pick: number; value: unknown }
  | { kind: 'shape'; pick: number; value: unknown }
  | { kind: 'wrong-count'; pick: number }
  | { kind: 'offsets'; pick: number; value: unknown }
  | { kind: 'begin-after-end'; pick: number; excess: number }
  | { kind: 'past-end'; pick: number; excess: number }
  | { kind: 'same-range'; pick: number; other: number }
  | { kind: 'shift'; pick: number; amount: number }
  | { kind: 'gap'; pick: number; amount: number }
  | { kind: 'not-object'; text: string }
  | { kind: 'leading-space'; space: string }
  | { kind: 'trailing'; text: string }
  | { kind: 'utf8'; position: number; sequence: readonly number[] }
  | { kind: 'metadata'; value: unknown }
  | { kind: 'duplicate-tensor'; pick: number }
  | { kind: 'duplicate-field'; pick: number; field: 'dtype' | 'shape' | 'data_offsets' };

/** JSON values that are not non-negative integers below 2^53 (JSON turns NaN and Infinity into null). */
const badExtentArbitrary = fc.oneof(
  fc.integer({ max: -1 }),
  fc.double({ noNaN: true }).filter((value) => !Number.isInteger(value)),
  fc.constantFrom(2 ** 53, 1e300, '2', null, true, [], {}),
);

const notArrayArbitrary = fc.oneof(fc.integer(), fc.string(), fc.constantFrom(null, true, {}));

const corruptionArbitrary: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({
    kind: fc.constant('dtype' as const),
    pick: fc.nat(),
    value: fc.oneof(
      fc.string().filter((value) => !DTYPES.includes(value as SafetensorsDtype)),
      fc.constantFrom('U16', 'F8_E4M3', 'f32', 'float32', 'F32 ', 'bool', undefined, null, 4, ['F32']),
    ),
  }),
  fc.record({
    kind: fc.constant('shape' as const),
    pick: fc.nat(),
    value: fc.oneof(
      fc.tuple(fc.array(fc.nat(4), { maxLength: 2 }), badExtentArbitrary, fc.array(fc.nat(4), { maxLength: 2 })).map(([before, bad, after]) => [...before, bad, ...after]),
      notArrayArbitrary,
      fc.constantFrom(undefined, [2 ** 26, 2 ** 26], [2 ** 40], [2 ** 52, 3]),
    ),
  }),
  fc.record({ kind: fc.constant('wrong-count' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('offsets' as const),
    pick: fc.nat(),
    value: fc.oneof(
      fc.array(fc.nat(64), { maxLength: 1 }),
      fc.array(fc.nat(64), { minLength: 3, maxLength: 4 }),
      fc.tuple(fc.nat(64), badExtentArbitrary).map(([begin, bad]) => [begin, bad]),
      fc.tuple(badExtentArbitrary, fc.nat(64)).map(([bad, end]) => [bad, end]),
      notArrayArbitrary,
      fc.constant(undefined),
    ),
  }),
  fc.record({ kind: fc.constant('begin-after-end' as const), pick: fc.nat(), excess: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('past-end' as const), pick: fc.nat(), excess: fc.integer({ min: 1, max: 2 ** 40 }) }),
  fc.record({ kind: fc.constant('same-range' as const), pick: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constant('shift' as const), pick: fc.nat(), amount: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('gap' as const), pick: fc.nat(), amount: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('not-object' as const),
    text: fc
      .jsonValue()
      .filter((value) => typeof value !== 'object' || value === null || Array.isArray(value))
      .map((value) => JSON.stringify(value)),
  }),
  fc.record({ kind: fc.constant('leading-space' as const), space: fc.constantFrom(' ', '\n', '\t', '\r\n', '\ufeff') }),
  fc.record({ kind: fc.constant('trailing' as const), text: fc.constantFrom('x', '}', ',', '{}', '0', '"a"', ']', '\u0000') }),
  fc.record({
    kind: fc.constant('utf8' as const),
    position: fc.nat(),
    sequence: fc.constantFrom([0xff], [0xfe], [0x80], [0xbf, 0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98]),
  }),
  fc.record({
    kind: fc.constant('metadata' as const),
    value: fc.oneof(
      fc.integer(),
      fc.string(),
      fc.array(fc.string(), { maxLength: 2 }),
      fc.constant(true),
      fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string(), { maxLength: 1 }), fc.constant({})).map((value) => ({ key: value })),
    ),
  }),
  fc.record({ kind: fc.constant('duplicate-tensor' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-field' as const), pick: fc.nat(), field: fc.constantFrom('dtype' as const, 'shape' as const, 'data_offsets' as const) }),
);

/** Applies one corruption to a file with at least two tensors, none empty, and returns the new file. */
function applyCorruption(parts: FileParts, corruption: Corruption): Uint8Array {
  const header = parts.header;
  const names = Object.keys(header).filter((name) => name !== '__metadata__');
  const entries = names.map((name) => header[name] as Record<string, unknown> & HeaderEntry);
  const pickIndex = 'pick' in corruption ? corruption.pick % names.length : 0;
  const picked = entries[pickIndex];
  const setField = (entry: Record<string, unknown>, field: string, value: unknown): void => {
    if (value === undefined) delete entry[field];
    else entry[field] = value;
  };
  let data = parts.data;

  switch (corruption.kind) {
    case 'dtype':
      setField(picked, 'dtype', corruption.value);
      break;
    case 'shape':
      setField(picked, 'shape', corruption.value);
      break;
    case 'wrong-count':
      picked.shape = [picked.shape.reduce((a, b) => a * b, 1) + 1];
      break;
    case 'offsets':
      setField(picked, 'data_offsets', corruption.value);
      break;
    case 'begin-after-end':
      picked.data_offsets = [picked.data_offsets[1] + corruption.excess, picked.data_offsets[1]];
      break;
    case 'past-end':
      picked.data_offsets = [picked.data_offsets[0], data.length + corruption.excess];
      break;
    case 'same-range': {
      // Two distinct non-empty tensors on one byte range overlap, and leave the other range uncovered.
      const otherIndex = (pickIndex + 1 + (corruption.other % (names.length - 1))) % names.length;
      picked.data_offsets = [...entries[otherIndex].data_offsets];
      break;
    }
    case 'shift':
      picked.data_offsets = [picked.data_offsets[0] + corruption.amount, picked.data_offsets[1] + corruption.amount];
      break;
    case 'gap': {
      // Insert bytes before the picked tensor and move it and everything after it: the inserted
      // bytes belong to no tensor.
      const at = picked.data_offsets[0];
      for (const entry of entries) {
        if (entry.data_offsets[0] >= at) entry.data_offsets = [entry.data_offsets[0] + corruption.amount, entry.data_offsets[1] + corruption.amount];
      }
      data = new Uint8Array(parts.data.length + corruption.amount);
      data.set(parts.data.subarray(0, at));
      data.set(parts.data.subarray(at), at + corruption.amount);
      break;
    }
    case 'not-object':
      return assembleFile(corruption.text, data);
    case 'leading-space':
      return assembleFile(corruption.space + parts.headerText, data);
    case 'trailing':
      return assembleFile(parts.headerText.trimEnd() + corruption.text, data);
    case 'utf8': {
      // Insert before an ASCII byte, so the sequence cannot complete a character that follows it.
      const headerBytes = new TextEncoder().encode(parts.headerText);
      const asciiPositions = headerBytes.reduce<number[]>((positions, byte, index) => (byte < 0x80 ? [...positions, index] : positions), []);
      const at = asciiPositions[corruption.position % asciiPositions.length];
      const corrupted = Uint8Array.from([...headerBytes.subarray(0, at), ...corruption.sequence, ...headerBytes.subarray(at)]);
      return assembleFile(corrupted, data);
    }
    case 'metadata':
      Object.defineProperty(header, '__metadata__', { value: corruption.value, enumerable: true, writable: true, configurable: true });
      break;
    case 'duplicate-tensor': {
      const members = Object.keys(header).map((name) => `${JSON.stringify(name)}:${JSON.stringify(header[name])}`);
      const copy = `${JSON.stringify(names[pickIndex])}:${JSON.stringify(picked)}`;
      return assembleFile(`{${[...members, copy].join(',')}}`, data);
    }
    case 'duplicate-field': {
      const entryText = JSON.stringify(picked).replace(/}$/, `,${JSON.stringify(corruption.field)}:${JSON.stringify(picked[corruption.field])}}`);
      const members = Object.keys(header).map((name) => `${JSON.stringify(name)}:${name === names[pickIndex] ? entryText : JSON.stringify(header[name])}`);
      return assembleFile(`{${members.join(',')}}`, data);
    }
  }
  return assembleFile(JSON.stringify(header), data);
}

/**
 * Element types. Floating tensors are float32 (the default) or float64; int32 stores indices and
 * class labels, bool stores masks and comparison results (stored as one byte per element).
 */
import { DTypeError } from './errors.js';

export type DType = 'float32' | 'float64' | 'int32' | 'bool';

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export function isFloatingDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** Allocates a zero-filled typed array of the storage type of `dtype`. */
export function allocate(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'bool':
      return new Uint8Array(length);
  }
}

/** Returns the dtype whose storage type is the given typed array's. */
export function dtypeOfArray(array: TypedArray): DType {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Float64Array) return 'float64';
  if (array instanceof Int32Array) return 'int32';
  if (array instanceof Uint8Array) return 'bool';
  throw new DTypeError(`unsupported typed array ${Object.prototype.toString.call(array)}; use Float32Array, Float64Array, Int32Array or Uint8Array`);
}

const PROMOTION_ORDER: DType[] = ['bool', 'int32', 'float32', 'float64'];

/**
 * Returns the dtype of a binary op's result, as PyTorch promotes: the wider of the two, so that
 * float32 with float64 computes in float64 and an int32 index tensor plus a float tensor is float.
 */
export function promoteTypes(a: DType, b: DType): DType {
  return PROMOTION_ORDER.indexOf(a) >= PROMOTION_ORDER.indexOf(b) ? a : b;
}

export function assertDType(dtype: string): DType {
  if (dtype === 'float32' || dtype === 'float64' || dtype === 'int32' || dtype === 'bool') return dtype;
  throw new DTypeError(`unknown dtype '${dtype}'; expected one of 'float32', 'float64', 'int32', 'bool'`);
}

/**
 * The 'gpu' device: a Backend whose tensors keep their values in gpu.js buffers (textures in the
 * GL modes), so chains of ops pass buffers from kernel to kernel and read nothing back until
 * `toTypedArray()`. Importing this file registers it.
 *
 * Every value is computed in float32. float64 is rejected rather than silently narrowed; int32
 * and bool tensors are stored as float32 integers, exact up to 2^24 in magnitude.
 */
import ndarray from 'ndarray';

import { type Backend, registerBackend } from '../core/backend.js';
import { type DType, type TypedArray, allocate } from '../core/dtype.js';
import { DTypeError } from '../core/errors.js';
import { Tensor, copyToContiguous } from '../core/tensor.js';
import { uploadValues } from './kernel-cache.js';
import { cat, copyInto } from './kernels/copy.js';
import * as elementwise from './kernels/elementwise.js';
import { checkIndices, gather, indexAdd, indexSelect, scatterAdd } from './kernels/indexing.js';
import { matmul } from './kernels/matmul.js';
import { keep } from './memory.js';
import { argReduce, reduce } from './kernels/reduce.js';
import { softmax } from './kernels/softmax.js';
import { GpuStorage, storageOf, wrapStorage } from './storage.js';

function checkDType(op: string, dtype: DType): void {
  if (dtype === 'float64') {
    throw new DTypeError(
      `${op}: float64 tensors are not supported on 'gpu', where gpu.js computes in float32; convert with .float() before moving to 'gpu', or keep float64 work on 'cpu'`,
    );
  }
}

/** Returns the elements of any view on the host, reading the device only when no host copy exists. */
function readBack(x: Tensor): TypedArray {
  const out = allocate(x.dtype, x.numel());
  if (out.length === 0) return out;
  const storage = storageOf(x, 'toTypedArray');

  const host = storage.hostValues();
  if (host !== null) {
    out.set(copyToContiguous(new Tensor(ndarray(host, x.shape, x.strides, x.offset), x.dtype, 'cpu')));
    return out;
  }
  const whole = x.offset === 0 && x.isContiguous() && storage.length === out.length;
  if (whole) {
    out.set(storage.read('toTypedArray'));
    return out;
  }
  const copy = elementwise.contiguous(x);
  out.set(storageOf(copy, 'toTypedArray').read('toTypedArray'));
  storageOf(copy, 'toTypedArray').dispose();
  return out;
}

export const gpuBackend: Backend = {
  device: 'gpu',

  keep(x) {
    keep(x);
  },

  fromTypedArray(data, shape, dtype) {
    checkDType('fromTypedArray', dtype);
    const length = elementwise.checkSize('fromTypedArray', shape);
    if (length === 0) return wrapStorage(new GpuStorage(null, 0, dtype), shape, dtype);
    const values = Float32Array.from(data);
    // Index and mask data stay mirrored on the host: index checks then need no read-back.
    const host = dtype === 'int32' || dtype === 'bool' ? values : null;
    return wrapStorage(new GpuStorage(uploadValues(values), length, dtype, host), shape, dtype);
  },

  toTypedArray(x) {
    return readBack(x);
  },

  full(shape, value, dtype) {
    checkDType('full', dtype);
    return elementwise.full(shape, value, dtype);
  },

  contiguous(x) {
    return elementwise.contiguous(x);
  },

  cast(x, dtype) {
    checkDType('cast', dtype);
    return elementwise.cast(x, dtype);
  },

  unary(op, x) {
    return elementwise.unary(op, x);
  },

  binary(op, a, b) {
    return elementwise.binary(op, a, b);
  },

  where(cond, a, b) {
    return elementwise.where(cond, a, b);
  },

  clamp(x, min, max) {
    return elementwise.clamp(x, min, max);
  },

  reduce(op, x, dims, keepdim) {
    return reduce(op, x, dims, keepdim);
  },

  argReduce(op, x, dim, keepdim) {
    return argReduce(op, x, dim, keepdim);
  },

  matmul(a, b) {
    return matmul(a, b);
  },

  gather(x, dim, index) {
    checkIndices(readBack(index), x.shape[dim], 'gather');
    return gather(x, dim, index);
  },

  scatterAdd(x, dim, index, src) {
    checkIndices(readBack(index), x.shape[dim], 'scatterAdd');
    return scatterAdd(x, dim, index, src);
  },

  indexSelect(x, dim, index) {
    checkIndices(readBack(index), x.shape[dim], 'indexSelect');
    return indexSelect(x, dim, index);
  },

  indexAdd(shape, dim, index, src) {
    checkIndices(readBack(index), shape[dim], 'indexAdd');
    return indexAdd(shape, dim, index, src);
  },

  cat(xs, dim) {
    return cat(xs, dim);
  },

  copyInto(dst, src) {
    copyInto(dst, src);
  },

  softmax(x, dim, log) {
    return softmax(x, dim, log);
  },
};

registerBackend(gpuBackend);

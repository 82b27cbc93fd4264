/**
 * Elementwise kernels: one output element per thread, inputs read in place through their views
 * (broadcast dims have stride 0). Dims that are contiguous in the output and every input are
 * merged first, so same-shape contiguous operands take the rank-1 kernel.
 */
import { BOOLEAN_BINARY_OPS, BOOLEAN_UNARY_OPS, type BinaryOp, type UnaryOp } from '../../core/backend.js';
import { coalesce } from '../../core/cpu/strided.js';
import type { DType } from '../../core/dtype.js';
import { DeviceError, formatShape } from '../../core/errors.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, numel } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import { KernelBuilder } from '../codegen.js';
import { MAX_ELEMENTS, type RunOptions, runKernel } from '../kernel-cache.js';
import { GpuStorage, storageOf, wrapStorage } from '../storage.js';
import { BINARY_CODE, UNARY_CODE } from './math.js';

/** Throws when a result has more elements than float32 index math addresses exactly. */
export function checkSize(op: string, shape: readonly number[]): number {
  const size = numel(shape);
  if (size > MAX_ELEMENTS) {
    throw new DeviceError(
      `${op}: the result of shape ${formatShape(shape)} has ${size} elements, more than the ${MAX_ELEMENTS} (2^24) that gpu.js kernels index exactly in float32; split the work or run it on 'cpu'`,
    );
  }
  return size;
}

/**
 * Runs a kernel with one thread per element of a contiguous output of `shape`: `body` emits the
 * code for the element at flat index `this.thread.x` and returns its expression.
 */
export function gridKernel(op: string, shape: readonly number[], dtype: DType, body: (b: KernelBuilder) => string, options: RunOptions = {}): Tensor {
  const size = checkSize(op, shape);
  if (size === 0) return wrapStorage(new GpuStorage(null, 0, dtype), shape, dtype);
  const b = new KernelBuilder(op);
  const result = body(b);
  const raw = runKernel(op, b.source(result), size, b.arguments(), options);
  return wrapStorage(new GpuStorage(raw, size, dtype), shape, dtype);
}

/**
 * Runs an elementwise kernel over `shape`: `body` receives the values of `inputs` (broadcast to
 * `shape`) at one output position and returns the output expression.
 */
export function mapKernel(
  op: string,
  shape: readonly number[],
  inputs: readonly Tensor[],
  dtype: DType,
  body: (b: KernelBuilder, values: string[]) => string,
): Tensor {
  const layout = coalesce(shape, [contiguousStrides(shape), ...inputs.map((t) => broadcastStrides(t.shape, t.strides, shape))]);
  return gridKernel(op, shape, dtype, (b) => {
    const indices = b.unravel('this.thread.x', layout.shape);
    const values = inputs.map((t, k) => b.read({ storage: storageOf(t, op), strides: layout.strides[k + 1], offset: t.offset }, indices));
    return body(b, values);
  });
}

export function unary(op: UnaryOp, x: Tensor): Tensor {
  const dtype: DType = BOOLEAN_UNARY_OPS.has(op) ? 'bool' : x.dtype;
  return mapKernel(op, x.shape, [x], dtype, (b, [v]) => UNARY_CODE[op](b, v));
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  const dtype: DType = BOOLEAN_BINARY_OPS.has(op) ? 'bool' : a.dtype;
  return mapKernel(op, shape, [a, b], dtype, (builder, [x, y]) => BINARY_CODE[op](builder, x, y));
}

export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  return mapKernel('where', shape, [cond, a, b], a.dtype, (_b, [c, x, y]) => `(${c} != 0 ? ${x} : ${y})`);
}

export function clamp(x: Tensor, min: number, max: number): Tensor {
  return mapKernel('clamp', x.shape, [x], x.dtype, (b, [v]) => {
    const low = b.scalar(min);
    const high = b.scalar(max);
    return `(${v} < ${low} ? ${low} : (${v} > ${high} ? ${high} : ${v}))`;
  });
}

/** Copies any view into a new contiguous buffer. */
export function contiguous(x: Tensor, dtype: DType = x.dtype): Tensor {
  return mapKernel('contiguous', x.shape, [x], dtype, (_b, [v]) => v);
}

/** Converts values: truncation toward zero for int32 (NaN and infinities give 0, as Int32Array stores them), truthiness for bool. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (dtype === 'int32' && x.dtype !== 'bool') {
    return mapKernel('cast', x.shape, [x], dtype, (b, [v]) => {
      const infinity = b.infinity();
      return `((${v} != ${v} || ${v} == ${infinity} || ${v} == -${infinity}) ? 0 : Math.trunc(${v}))`;
    });
  }
  if (dtype === 'bool') return mapKernel('cast', x.shape, [x], dtype, (_b, [v]) => `((${v} != 0 && ${v} == ${v}) ? 1 : 0)`);
  // int32 and bool values are already exact floats, so widening them is a copy.
  return contiguous(x, dtype);
}

export function full(shape: readonly number[], value: number, dtype: DType): Tensor {
  return gridKernel('full', shape, dtype, (b) => b.scalar(value));
}

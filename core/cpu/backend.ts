/**
 * The CPU backend: kernels over typed arrays, reading inputs through their ndarray views
 * (shape, stride, offset) and writing fresh contiguous outputs.
 */
import ndarray from 'ndarray';

import { BOOLEAN_BINARY_OPS, BOOLEAN_UNARY_OPS, registerBackend } from '../backend.js';
import type { ArgReduceOp, Backend, BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import { type DType, type TypedArray, allocate } from '../dtype.js';
import { IndexError, ShapeError, formatShape } from '../errors.js';
import { gemm } from '../kernels/gemm.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, numel } from '../shape.js';
import { Tensor, copyToContiguous } from '../tensor.js';
import { BINARY_ROWS, IN_PLACE_ROWS, UNARY_ROWS } from './elementwise.js';
import { argReduceRows, reduceRows } from './reduce.js';
import { softmaxRows } from './softmax.js';
import { coalesce, forEachRow } from './strided.js';

function wrap(data: TypedArray, shape: readonly number[], dtype: DType): Tensor {
  return new Tensor(ndarray(data, [...shape], contiguousStrides(shape), 0), dtype, 'cpu');
}

function dataOf(t: Tensor): TypedArray {
  return t.nd.data as TypedArray;
}

/** Returns a contiguous tensor, `x` itself when it already is one with offset 0. */
function dense(x: Tensor): Tensor {
  return x.isContiguous() && x.offset === 0 && dataOf(x).length === x.numel() ? x : cpuBackend.contiguous(x);
}

/**
 * Returns the stride that walks `x` as a flat operand of an output with `size` elements: 1 when
 * x is one contiguous run of that many elements, 0 when it is a single element (broadcast), and
 * -1 when it needs the general strided walk.
 */
function flatStride(x: Tensor, size: number): number {
  const count = x.numel();
  if (count === 1) return 0;
  return count === size && x.isContiguous() ? 1 : -1;
}

/** Reads the elements of an int32 index tensor, checking each against the size of `dim` in `shape`. */
function readIndices(index: Tensor, shape: readonly number[], dim: number, op: string): Int32Array {
  const values = copyToContiguous(index) as Int32Array;
  const size = shape[dim];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -size || v >= size) {
      throw new IndexError(
        `${op}: index ${v} is out of range for dim ${dim} of size ${size} (input shape ${formatShape(shape)}); valid indices are ${-size}..${size - 1}`,
      );
    }
    if (v < 0) values[i] = v + size;
  }
  return values;
}

export const cpuBackend: Backend = {
  device: 'cpu',

  fromTypedArray(data, shape, dtype) {
    return wrap(data, shape, dtype);
  },

  toTypedArray(x) {
    return copyToContiguous(x);
  },

  full(shape, value, dtype) {
    const data = allocate(dtype, numel(shape));
    if (value !== 0) data.fill(value);
    return wrap(data, shape, dtype);
  },

  contiguous(x) {
    return wrap(copyToContiguous(x), x.shape, x.dtype);
  },

  cast(x, dtype) {
    const out = allocate(dtype, x.numel());
    const values = copyToContiguous(x);
    if (dtype === 'bool') {
      for (let i = 0; i < values.length; i++) out[i] = values[i] ? 1 : 0;
    } else if (dtype === 'int32') {
      // Truncation toward zero, as a C cast and PyTorch's .int() do.
      for (let i = 0; i < values.length; i++) out[i] = Math.trunc(values[i]);
    } else {
      out.set(values);
    }
    return wrap(out, x.shape, dtype);
  },

  unary(op: UnaryOp, x: Tensor) {
    const dtype: DType = BOOLEAN_UNARY_OPS.has(op) ? 'bool' : x.dtype;
    const shape = x.shape;
    const size = numel(shape);
    const out = allocate(dtype, size);
    const row = UNARY_ROWS[op];
    const source = dataOf(x);
    if (x.isContiguous()) {
      row(out, 0, source, x.offset, 1, size);
      return wrap(out, shape, dtype);
    }
    const layout = coalesce(shape, [contiguousStrides(shape), x.strides]);
    forEachRow(layout, [0, x.offset], (offsets, n) => {
      row(out, offsets[0], source, offsets[1], layout.strides[1][layout.shape.length - 1], n);
    });
    return wrap(out, shape, dtype);
  },

  binary(op: BinaryOp, a: Tensor, b: Tensor) {
    const shape = broadcastShapes(a.shape, b.shape, op);
    const dtype: DType = BOOLEAN_BINARY_OPS.has(op) ? 'bool' : a.dtype;
    const size = numel(shape);
    const out = allocate(dtype, size);
    const row = BINARY_ROWS[op];

    // Operands that are a contiguous run of the output's size, or a single element, need no
    // layout walk: one call of the row loop covers the whole output.
    const flatA = flatStride(a, size);
    const flatB = flatStride(b, size);
    if (flatA >= 0 && flatB >= 0) {
      row(out, 0, dataOf(a), a.offset, flatA, dataOf(b), b.offset, flatB, size);
      return wrap(out, shape, dtype);
    }

    const layout = coalesce(shape, [
      contiguousStrides(shape),
      broadcastStrides(a.shape, a.strides, shape),
      broadcastStrides(b.shape, b.strides, shape),
    ]);
    const last = layout.shape.length - 1;
    const strideA = layout.strides[1][last];
    const strideB = layout.strides[2][last];
    const dataA = dataOf(a);
    const dataB = dataOf(b);
    forEachRow(layout, [0, a.offset, b.offset], (offsets, n) => {
      row(out, offsets[0], dataA, offsets[1], strideA, dataB, offsets[2], strideB, n);
    });
    return wrap(out, shape, dtype);
  },

  where(cond, a, b) {
    const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
    const out = allocate(a.dtype, numel(shape));
    const layout = coalesce(shape, [
      contiguousStrides(shape),
      broadcastStrides(cond.shape, cond.strides, shape),
      broadcastStrides(a.shape, a.strides, shape),
      broadcastStrides(b.shape, b.strides, shape),
    ]);
    const last = layout.shape.length - 1;
    const [sc, sa, sb] = [layout.strides[1][last], layout.strides[2][last], layout.strides[3][last]];
    const [dc, da, db] = [dataOf(cond), dataOf(a), dataOf(b)];
    forEachRow(layout, [0, cond.offset, a.offset, b.offset], (offsets, n) => {
      let ic = offsets[1];
      let ia = offsets[2];
      let ib = offsets[3];
      const o = offsets[0];
      for (let j = 0; j < n; j++, ic += sc, ia += sa, ib += sb) out[o + j] = dc[ic] ? da[ia] : db[ib];
    });
    return wrap(out, shape, a.dtype);
  },

  clamp(x, min, max) {
    const values = copyToContiguous(x);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      values[i] = v < min ? min : v > max ? max : v;
    }
    return wrap(values, x.shape, x.dtype);
  },

  reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean) {
    const { moved, outer, inner, outShape } = moveReducedDimsLast(x, dims, keepdim);
    const dtype: DType = x.dtype === 'bool' && op === 'sum' ? 'int32' : x.dtype;
    const out = allocate(dtype, outer);
    reduceRows(op, moved, out, outer, inner);
    return wrap(out, outShape, dtype);
  },

  argReduce(op: ArgReduceOp, x: Tensor, dim: number, keepdim: boolean) {
    const { moved, outer, inner, outShape } = moveReducedDimsLast(x, [dim], keepdim);
    if (inner === 0) throw new IndexError(`${op}: cannot take ${op} over an empty dim ${dim} of shape ${formatShape(x.shape)}`);
    const out = new Int32Array(outer);
    argReduceRows(op, moved, out, outer, inner);
    return wrap(out, outShape, 'int32');
  },

  matmul(a, b) {
    return batchedMatmul(a, b);
  },

  gather(x, dim, index) {
    const shape = index.shape;
    const out = allocate(x.dtype, numel(shape));
    const indices = readIndices(index, x.shape, dim, 'gather');
    const source = dataOf(x);
    const xStrides = x.strides;
    const rank = shape.length;
    const position = new Array<number>(rank).fill(0);
    for (let i = 0; i < indices.length; i++) {
      let offset = x.offset;
      for (let d = 0; d < rank; d++) offset += (d === dim ? indices[i] : position[d]) * xStrides[d];
      out[i] = source[offset];
      incrementIndex(position, shape);
    }
    return wrap(out, shape, x.dtype);
  },

  scatterAdd(x, dim, index, src) {
    const result = copyToContiguous(x);
    const strides = contiguousStrides(x.shape);
    const indices = readIndices(index, x.shape, dim, 'scatterAdd');
    const values = copyToContiguous(src.shape.every((s, d) => s === index.shape[d]) ? src : narrowTo(src, index.shape));
    const shape = index.shape;
    const position = new Array<number>(shape.length).fill(0);
    for (let i = 0; i < indices.length; i++) {
      let offset = 0;
      for (let d = 0; d < shape.length; d++) offset += (d === dim ? indices[i] : position[d]) * strides[d];
      result[offset] += values[i];
      incrementIndex(position, shape);
    }
    return wrap(result, x.shape, x.dtype);
  },

  indexSelect(x, dim, index) {
    const indices = readIndices(index, x.shape, dim, 'indexSelect');
    const source = dense(x);
    const shape = x.shape;
    const outer = numel(shape.slice(0, dim));
    const inner = numel(shape.slice(dim + 1));
    const size = shape[dim];
    const out = allocate(x.dtype, outer * indices.length * inner);
    const data = dataOf(source);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < indices.length; i++) {
        const from = (o * size + indices[i]) * inner;
        out.set(data.subarray(from, from + inner), (o * indices.length + i) * inner);
      }
    }
    const outShape = shape.slice();
    outShape[dim] = indices.length;
    return wrap(out, outShape, x.dtype);
  },

  indexAdd(shape, dim, index, src) {
    const size = shape[dim];
    const indices = readIndices(index, shape, dim, 'indexAdd');
    const values = dataOf(dense(src));
    const outer = numel(shape.slice(0, dim));
    const inner = numel(shape.slice(dim + 1));
    const out = allocate(src.dtype, numel(shape));
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < indices.length; i++) {
        const to = (o * size + indices[i]) * inner;
        const from = (o * indices.length + i) * inner;
        for (let j = 0; j < inner; j++) out[to + j] += values[from + j];
      }
    }
    return wrap(out, shape, src.dtype);
  },

  cat(xs, dim) {
    const shape = xs[0].shape;
    shape[dim] = xs.reduce((total, t) => total + t.shape[dim], 0);
    const out = allocate(xs[0].dtype, numel(shape));
    const outer = numel(shape.slice(0, dim));
    const inner = numel(shape.slice(dim + 1));
    let start = 0;
    for (const t of xs) {
      const block = t.shape[dim] * inner;
      const data = dataOf(dense(t));
      for (let o = 0; o < outer; o++) {
        out.set(data.subarray(o * block, (o + 1) * block), o * shape[dim] * inner + start * inner);
      }
      start += t.shape[dim];
    }
    return wrap(out, shape, xs[0].dtype);
  },

  copyInto(dst, src) {
    const shape = dst.shape;
    broadcastShapes(src.shape, shape, 'copy');
    const size = numel(shape);
    const flatSrc = flatStride(src, size);
    if (dst.isContiguous() && flatSrc >= 0) {
      const target = dataOf(dst);
      const source = dataOf(src);
      // set() copies as if through a temporary when both views share a buffer, so overlap is safe.
      if (flatSrc === 0) target.fill(source[src.offset], dst.offset, dst.offset + size);
      else target.set(source.subarray(src.offset, src.offset + size), dst.offset);
      return;
    }
    const layout = coalesce(shape, [dst.strides, broadcastStrides(src.shape, src.strides, shape)]);
    const last = layout.shape.length - 1;
    const strideDst = layout.strides[0][last];
    const strideSrc = layout.strides[1][last];
    const target = dataOf(dst);
    const source = dataOf(src);
    forEachRow(layout, [dst.offset, src.offset], (offsets, n) => {
      for (let j = 0, o = offsets[0], i = offsets[1]; j < n; j++, o += strideDst, i += strideSrc) target[o] = source[i];
    });
  },

  binaryInPlace(op, x, y, alpha) {
    const shape = x.shape;
    broadcastShapes(y.shape, shape, op);
    const row = IN_PLACE_ROWS[op];
    const target = dataOf(x);
    const source = dataOf(y);
    const size = numel(shape);
    const flatY = flatStride(y, size);
    if (x.isContiguous() && flatY >= 0) {
      row(target, x.offset, 1, source, y.offset, flatY, size, alpha);
      return;
    }
    const layout = coalesce(shape, [x.strides, broadcastStrides(y.shape, y.strides, shape)]);
    const last = layout.shape.length - 1;
    const strideX = layout.strides[0][last];
    const strideY = layout.strides[1][last];
    forEachRow(layout, [x.offset, y.offset], (offsets, n) => {
      row(target, offsets[0], strideX, source, offsets[1], strideY, n, alpha);
    });
  },

  softmax(x, dim, log) {
    const { moved, outer, inner } = moveReducedDimsLast(x, [dim], true);
    const out = allocate(x.dtype, moved.length);
    softmaxRows(moved, out, outer, inner, log);
    // The rows were computed with `dim` moved last; move it back.
    const rank = x.ndim;
    const movedShape = x.shape.filter((_, d) => d !== dim).concat([x.shape[dim]]);
    const movedStrides = contiguousStrides(movedShape);
    const strides = new Array<number>(rank);
    for (let d = 0, k = 0; d < rank; d++) strides[d] = d === dim ? movedStrides[rank - 1] : movedStrides[k++];
    const view = new Tensor(ndarray(out, x.shape, strides, 0), x.dtype, 'cpu');
    return dim === rank - 1 ? view : cpuBackend.contiguous(view);
  },
};

/**
 * Copies `x` with the dims in `dims` moved to the end, so that each output element of a
 * reduction covers one contiguous run of `inner` elements.
 */
function moveReducedDimsLast(x: Tensor, dims: readonly number[], keepdim: boolean) {
  const shape = x.shape;
  const kept = shape.map((_, d) => d).filter((d) => !dims.includes(d));
  const order = [...kept, ...dims];
  const strides = x.strides;
  const view = new Tensor(ndarray(x.nd.data, order.map((d) => shape[d]), order.map((d) => strides[d]), x.offset), x.dtype, 'cpu');
  const moved = copyToContiguous(view);
  const inner = numel(dims.map((d) => shape[d]));
  const outer = numel(kept.map((d) => shape[d]));
  const outShape = keepdim ? shape.map((size, d) => (dims.includes(d) ? 1 : size)) : kept.map((d) => shape[d]);
  return { moved, outer, inner, outShape };
}

function incrementIndex(position: number[], shape: readonly number[]): void {
  for (let d = shape.length - 1; d >= 0; d--) {
    if (++position[d] < shape[d]) return;
    position[d] = 0;
  }
}

/** Returns the leading block of `src` with the given (smaller or equal) shape. */
function narrowTo(src: Tensor, shape: readonly number[]): Tensor {
  for (let d = 0; d < shape.length; d++) {
    if (src.shape[d] < shape[d]) {
      throw new ShapeError(`scatterAdd: src of shape ${formatShape(src.shape)} is smaller than index of shape ${formatShape(shape)} at dim ${d}`);
    }
  }
  return src.view_(shape, src.strides, src.offset);
}

/**
 * Batched product of two tensors of rank >= 2 with broadcast batch dims. Each matrix operand is
 * passed to gemm in place when one of its two last strides is 1 (a transposed view is read as
 * the transposed operand); other layouts are copied once.
 */
function batchedMatmul(a: Tensor, b: Tensor): Tensor {
  const m = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const n = b.shape[b.ndim - 1];
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  const batch = numel(batchShape);
  const out = allocate(a.dtype, batch * m * n);

  const operandA = asGemmOperand(a);
  const operandB = asGemmOperand(b);
  const batchStridesA = broadcastStrides(operandA.tensor.shape.slice(0, -2), operandA.tensor.strides.slice(0, -2), batchShape);
  const batchStridesB = broadcastStrides(operandB.tensor.shape.slice(0, -2), operandB.tensor.strides.slice(0, -2), batchShape);
  const dataA = dataOf(operandA.tensor) as Float32Array | Float64Array;
  const dataB = dataOf(operandB.tensor) as Float32Array | Float64Array;

  const position = new Array<number>(batchShape.length).fill(0);
  for (let p = 0; p < batch; p++) {
    let offsetA = operandA.tensor.offset;
    let offsetB = operandB.tensor.offset;
    for (let d = 0; d < batchShape.length; d++) {
      offsetA += position[d] * batchStridesA[d];
      offsetB += position[d] * batchStridesB[d];
    }
    gemm(operandA.transposed, operandB.transposed, m, n, k, 1, dataA, offsetA, operandA.ld, dataB, offsetB, operandB.ld, 0, out as Float32Array | Float64Array, p * m * n, n);
    incrementIndex(position, batchShape);
  }
  return wrap(out, [...batchShape, m, n], a.dtype);
}

function asGemmOperand(x: Tensor): { tensor: Tensor; transposed: boolean; ld: number } {
  const rank = x.ndim;
  const rows = x.shape[rank - 2];
  const cols = x.shape[rank - 1];
  const rowStride = x.strides[rank - 2];
  const colStride = x.strides[rank - 1];
  // gemm needs a leading dimension of at least the row length, even for a one-row matrix.
  if ((colStride === 1 || cols === 1) && rowStride >= cols && rowStride > 0) return { tensor: x, transposed: false, ld: rowStride };
  if ((rowStride === 1 || rows === 1) && colStride >= rows && colStride > 0) return { tensor: x, transposed: true, ld: colStride };
  const copy = cpuBackend.contiguous(x);
  return { tensor: copy, transposed: false, ld: Math.max(cols, 1) };
}

registerBackend(cpuBackend);

/**
 * The CPU backend: kernels over typed arrays, reading inputs through their ndarray views
 * (shape, stride, offset) and writing fresh contiguous outputs.
 */
import ndarray from 'ndarray';

import { BOOLEAN_BINARY_OPS, BOOLEAN_UNARY_OPS, registerBackend } from '../backend.js';
import type { ArgReduceOp, Backend, BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import { type DType, type TypedArray, allocate } from '../dtype.js';
import { IndexError, ShapeError, formatShape } from '../errors.js';
import { batchedGemm, gemm } from '../kernels/gemm.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, numel } from '../shape.js';
import { Tensor, copyToContiguous } from '../tensor.js';
import { BINARY_ROWS, type BinaryRow, IN_PLACE_ROWS, UNARY_ROWS } from './elementwise.js';
import {
  adamRows, crossEntropyBackwardRows, crossEntropyRows, layerNormBackwardRows, layerNormRows, reluBackwardRow, scaledSoftmaxRow, softmaxBackwardRows,
} from './fused.js';
import { argReduceRows, reduceBlock, reduceRows } from './reduce.js';
import { softmaxRows } from './softmax.js';
import { coalesce, copyStrided, forEachRow } from './strided.js';

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

/** Returns `x` itself when its elements are one contiguous run (any offset), else a contiguous copy. */
function contiguousRows(x: Tensor): Tensor {
  return x.isContiguous() ? x : cpuBackend.contiguous(x);
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
    const out = allocate(x.dtype, x.numel());
    copyStrided(dataOf(x), x.offset, x.shape, x.strides, out);
    return wrap(out, x.shape, x.dtype);
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
    const dtype: DType = BOOLEAN_BINARY_OPS.has(op) ? 'bool' : a.dtype;
    return mapBinary(op, BINARY_ROWS[op], a, b, dtype);
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
    const dtype: DType = x.dtype === 'bool' && op === 'sum' ? 'int32' : x.dtype;
    const block = adjacentBlock(x, dims);
    if (block !== null) {
      const out = allocate(dtype, block.outer * block.inner);
      reduceBlock(op, dataOf(x), x.offset, out, block.outer, block.size, block.inner);
      return wrap(out, reducedShape(x.shape, dims, keepdim), dtype);
    }

    const { moved, outer, inner, outShape } = moveReducedDimsLast(x, dims, keepdim);
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

  reluBackward(grad, input) {
    return mapBinary('reluBackward', reluBackwardRow, grad, input, grad.dtype);
  },

  softmaxBackward(grad, output, log, scale) {
    const g = contiguousRows(grad);
    const y = contiguousRows(output);
    const inner = output.shape[output.ndim - 1] ?? 1;
    const size = output.numel();
    const out = allocate(output.dtype, size);
    softmaxBackwardRows(dataOf(g), g.offset, dataOf(y), y.offset, out, inner === 0 ? 0 : size / inner, inner, log, scale);
    return wrap(out, output.shape, output.dtype);
  },

  scaledSoftmax(x, scale, mask) {
    const input = contiguousRows(x);
    const shape = x.shape;
    const rank = shape.length;
    const size = rank === 0 ? 1 : shape[rank - 1];
    const out = allocate(x.dtype, x.numel());
    const source = dataOf(input);
    if (mask === null) {
      for (let r = 0, base = 0; base < out.length; r++, base += size) scaledSoftmaxRow(source, input.offset + base, out, base, size, scale, null, 0, 0, false);
      return wrap(out, shape, x.dtype);
    }

    // Walk the rows of x in order, with the offset of the matching (broadcast) mask row.
    const maskStrides = broadcastStrides(mask.shape, mask.strides, shape);
    const outer = shape.slice(0, -1);
    const layout = coalesce(outer, [contiguousStrides(outer), maskStrides.slice(0, -1)]);
    const last = layout.shape.length - 1;
    const rowStride = layout.strides[0][last];
    const maskRowStride = layout.strides[1][last];
    const maskData = dataOf(mask);
    const boolMask = mask.dtype === 'bool';
    const maskStride = rank === 0 ? 0 : maskStrides[rank - 1];
    forEachRow(layout, [0, mask.offset], (offsets, count) => {
      for (let i = 0, row = offsets[0], m = offsets[1]; i < count; i++, row += rowStride, m += maskRowStride) {
        scaledSoftmaxRow(source, input.offset + row * size, out, row * size, size, scale, maskData, m, maskStride, boolMask);
      }
    });
    return wrap(out, shape, x.dtype);
  },

  crossEntropy(logits, target, ignoreIndex) {
    const x = contiguousRows(logits);
    const [rows, classes] = logits.shape;
    const losses = allocate(logits.dtype, rows);
    const logSumExp = new Float64Array(rows);
    crossEntropyRows(dataOf(x), x.offset, copyToContiguous(target) as Int32Array, losses, logSumExp, rows, classes, ignoreIndex);
    return { losses: wrap(losses, [rows], logits.dtype), logSumExp: wrap(logSumExp, [rows], 'float64') };
  },

  crossEntropyBackward(grad, logits, target, logSumExp, ignoreIndex) {
    const x = contiguousRows(logits);
    const [rows, classes] = logits.shape;
    const out = allocate(logits.dtype, rows * classes);
    // The gradient of a mean or sum reduction reaches here as one value broadcast over the rows.
    const g = grad.strides[0] === 0 || grad.isContiguous() ? grad : cpuBackend.contiguous(grad);
    crossEntropyBackwardRows(dataOf(g), g.offset, rows > 1 ? g.strides[0] : 1, dataOf(x), x.offset, copyToContiguous(target) as Int32Array,
      dataOf(dense(logSumExp)) as Float64Array, out, rows, classes, ignoreIndex);
    return wrap(out, logits.shape, logits.dtype);
  },

  layerNorm(x, weight, bias, size, eps) {
    const input = contiguousRows(x);
    const rows = size === 0 ? 0 : x.numel() / size;
    const out = allocate(x.dtype, x.numel());
    // The statistics stay in double precision: backward recomputes x̂ from them.
    const mean = new Float64Array(rows);
    const rstd = new Float64Array(rows);
    const w = weight === null ? null : contiguousRows(weight);
    const b = bias === null ? null : contiguousRows(bias);
    layerNormRows(
      dataOf(input), input.offset, w === null ? null : dataOf(w), w?.offset ?? 0, b === null ? null : dataOf(b), b?.offset ?? 0,
      out, mean, rstd, rows, size, eps,
    );
    return { output: wrap(out, x.shape, x.dtype), mean: wrap(mean, [rows], 'float64'), rstd: wrap(rstd, [rows], 'float64') };
  },

  layerNormBackward(grad, x, mean, rstd, weight, size, needs) {
    const g = contiguousRows(grad);
    const input = contiguousRows(x);
    const w = weight === null ? null : contiguousRows(weight);
    const rows = size === 0 ? 0 : x.numel() / size;
    const gradInput = needs.input ? allocate(x.dtype, x.numel()) : null;
    const gradWeight = needs.weight ? new Float64Array(size) : null;
    const gradBias = needs.bias ? new Float64Array(size) : null;
    layerNormBackwardRows(
      dataOf(g), g.offset, dataOf(input), input.offset, dataOf(dense(mean)), dataOf(dense(rstd)),
      w === null ? null : dataOf(w), w?.offset ?? 0, gradInput, gradWeight, gradBias, rows, size,
    );
    const parameterGrad = (values: Float64Array | null): Tensor | null => {
      if (values === null) return null;
      const out = allocate(x.dtype, size);
      out.set(values);
      return wrap(out, [size], x.dtype);
    };
    return {
      input: gradInput === null ? null : wrap(gradInput, x.shape, x.dtype),
      weight: parameterGrad(gradWeight),
      bias: parameterGrad(gradBias),
    };
  },

  squaredErrorSum(input, target, scale) {
    const x = contiguousRows(input);
    const t = contiguousRows(target);
    const xs = dataOf(x);
    const ts = dataOf(t);
    let total = 0;
    for (let i = 0, n = input.numel(), xi = x.offset, ti = t.offset; i < n; i++, xi++, ti++) {
      const d = xs[xi] - ts[ti];
      total += d * d;
    }
    const out = allocate(input.dtype, 1);
    out[0] = scale * total;
    return wrap(out, [], input.dtype);
  },

  squaredErrorBackward(grad, input, target, scale) {
    const x = contiguousRows(input);
    const t = contiguousRows(target);
    const xs = dataOf(x);
    const ts = dataOf(t);
    const factor = 2 * scale * dataOf(grad)[grad.offset];
    const out = allocate(input.dtype, input.numel());
    for (let i = 0, xi = x.offset, ti = t.offset; i < out.length; i++, xi++, ti++) out[i] = factor * (xs[xi] - ts[ti]);
    return wrap(out, input.shape, input.dtype);
  },

  adamStep(param, grad, expAvg, expAvgSq, options) {
    // The parameter and gradient may be views; updating a non-contiguous parameter goes through a
    // contiguous copy that is written back.
    const p = contiguousRows(param);
    const g = contiguousRows(grad);
    adamRows(dataOf(p), p.offset, dataOf(g), g.offset, dataOf(expAvg), expAvg.offset, dataOf(expAvgSq), expAvgSq.offset, param.numel(), {
      ...options,
      biasCorrection1: 1 - options.beta1 ** options.step,
      biasCorrection2: 1 - options.beta2 ** options.step,
    });
    if (p !== param) cpuBackend.copyInto(param, p);
  },

  softmax(x, dim, log) {
    const rank = x.ndim;
    if (dim === rank - 1 && x.isContiguous()) {
      const out = allocate(x.dtype, x.numel());
      const inner = x.shape[dim];
      softmaxRows(dataOf(x), out, inner === 0 ? 0 : out.length / inner, inner, log, x.offset);
      return wrap(out, x.shape, x.dtype);
    }

    const { moved, outer, inner } = moveReducedDimsLast(x, [dim], true);
    const out = allocate(x.dtype, moved.length);
    softmaxRows(moved, out, outer, inner, log);
    // The rows were computed with `dim` moved last; move it back.
    const movedShape = x.shape.filter((_, d) => d !== dim).concat([x.shape[dim]]);
    const movedStrides = contiguousStrides(movedShape);
    const strides = new Array<number>(rank);
    for (let d = 0, k = 0; d < rank; d++) strides[d] = d === dim ? movedStrides[rank - 1] : movedStrides[k++];
    const view = new Tensor(ndarray(out, x.shape, strides, 0), x.dtype, 'cpu');
    return dim === rank - 1 ? view : cpuBackend.contiguous(view);
  },
};

/**
 * Runs a row loop over two operands broadcast against each other, into a fresh contiguous
 * tensor of `dtype`. `op` names the operation in broadcast errors.
 */
function mapBinary(op: string, row: BinaryRow, a: Tensor, b: Tensor, dtype: DType): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  const size = numel(shape);
  const out = allocate(dtype, size);

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
}

/**
 * Returns the [outer, size, inner] view of a contiguous `x` whose middle dim is the run of
 * adjacent `dims`. Returns null when x is not contiguous or the dims are not adjacent.
 */
function adjacentBlock(x: Tensor, dims: readonly number[]): { outer: number; size: number; inner: number } | null {
  if (dims.length === 0 || dims[dims.length - 1] - dims[0] !== dims.length - 1 || !x.isContiguous()) return null;
  const shape = x.nd.shape;
  return {
    outer: numel(shape.slice(0, dims[0])),
    size: numel(shape.slice(dims[0], dims[dims.length - 1] + 1)),
    inner: numel(shape.slice(dims[dims.length - 1] + 1)),
  };
}

function reducedShape(shape: readonly number[], dims: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((size, d) => (dims.includes(d) ? 1 : size)) : shape.filter((_, d) => !dims.includes(d));
}

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
  // An empty product (k = 0) is all zeros, and an empty output has nothing to compute.
  if (out.length === 0 || k === 0) return wrap(out, [...batchShape, m, n], a.dtype);

  let operandA = asGemmOperand(a);
  let operandB = asGemmOperand(b);
  let batchStridesA = broadcastStrides(operandA.tensor.shape.slice(0, -2), operandA.tensor.strides.slice(0, -2), batchShape);
  let batchStridesB = broadcastStrides(operandB.tensor.shape.slice(0, -2), operandB.tensor.strides.slice(0, -2), batchShape);
  const stridesC = contiguousStrides(batchShape).map((s) => s * m * n);

  // A batch grid that does not merge into one stride (attention heads over a transposed view)
  // would take one batchedGemm call per row of the grid. Copying such an operand to contiguous
  // costs one pass and lets the whole batch run as one call.
  if (batch > 1 && coalesce(batchShape, [batchStridesA, batchStridesB, stridesC]).shape.length > 1) {
    if (!a.isContiguous() && a.shape.slice(0, -2).every((size, d) => size === batchShape[d + batchShape.length - a.ndim + 2])) {
      operandA = asGemmOperand(cpuBackend.contiguous(a));
      batchStridesA = broadcastStrides(operandA.tensor.shape.slice(0, -2), operandA.tensor.strides.slice(0, -2), batchShape);
    }
    if (!b.isContiguous() && b.shape.slice(0, -2).every((size, d) => size === batchShape[d + batchShape.length - b.ndim + 2])) {
      operandB = asGemmOperand(cpuBackend.contiguous(b));
      batchStridesB = broadcastStrides(operandB.tensor.shape.slice(0, -2), operandB.tensor.strides.slice(0, -2), batchShape);
    }
  }
  const dataA = dataOf(operandA.tensor) as Float32Array | Float64Array;
  const dataB = dataOf(operandB.tensor) as Float32Array | Float64Array;
  const dataC = out as Float32Array | Float64Array;

  // The batch dims are merged where A, B and C all allow it. Each run of the innermost merged dim
  // has one stride per operand, so it goes to batchedGemm as one call. A grid that stays 2-D
  // (a broadcast operand) takes one call per row of the grid.
  const batchLayout = coalesce(batchShape, [batchStridesA, batchStridesB, stridesC]);
  const last = batchLayout.shape.length - 1;
  const [runStrideA, runStrideB, runStrideC] = batchLayout.strides.map((s) => s[last]);
  if (batch > 1 && batchLayout.shape[last] > 1 && runStrideA >= 0 && runStrideB >= 0) {
    forEachRow(batchLayout, [operandA.tensor.offset, operandB.tensor.offset, 0], (offsets, count) => {
      batchedGemm(operandA.transposed, operandB.transposed, m, n, k, 1, dataA, offsets[0], operandA.ld, runStrideA,
        dataB, offsets[1], operandB.ld, runStrideB, 0, dataC, offsets[2], n, runStrideC, count);
    });
    return wrap(out, [...batchShape, m, n], a.dtype);
  }

  const position = new Array<number>(batchShape.length).fill(0);
  for (let p = 0; p < batch; p++) {
    let offsetA = operandA.tensor.offset;
    let offsetB = operandB.tensor.offset;
    for (let d = 0; d < batchShape.length; d++) {
      offsetA += position[d] * batchStridesA[d];
      offsetB += position[d] * batchStridesB[d];
    }
    gemm(operandA.transposed, operandB.transposed, m, n, k, 1, dataA, offsetA, operandA.ld, dataB, offsetB, operandB.ld, 0, dataC, p * m * n, n);
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

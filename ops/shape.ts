/**
 * Shape ops. Most are views: they return a tensor over the same storage with new shape, strides
 * or offset, and copy nothing (reshape copies only when the input's strides cannot express the
 * new shape, as in PyTorch). Each records the inverse movement as its backward.
 */
import { record } from '../core/autograd.js';
import { backendOf } from '../core/backend.js';
import { DTypeError, IndexError, ShapeError, ValueError, formatShape } from '../core/errors.js';
import { contiguousStrides, isContiguous, normalizeDim, numel } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { sumToShape } from './util.js';

/** Resolves one -1 entry from the element count and checks that the counts match. */
function inferShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  const result = [...shape];
  const unknown = result.indexOf(-1);
  if (result.lastIndexOf(-1) !== unknown) throw new ShapeError(`${op}: only one dim may be -1, got ${formatShape(shape)}`);
  for (const size of result) {
    if (size !== -1 && (!Number.isInteger(size) || size < 0)) throw new ShapeError(`${op}: invalid size ${size} in shape ${formatShape(shape)}`);
  }
  if (unknown >= 0) {
    const known = result.reduce((p, s) => (s === -1 ? p : p * s), 1);
    if (known === 0 || x.numel() % known !== 0) {
      throw new ShapeError(`${op}: shape ${formatShape(shape)} is invalid for input of size ${x.numel()} (shape ${formatShape(x.shape)})`);
    }
    result[unknown] = x.numel() / known;
  }
  if (numel(result) !== x.numel()) {
    throw new ShapeError(
      `${op}: shape ${formatShape(shape)} has ${numel(result)} elements but the input of shape ${formatShape(x.shape)} has ${x.numel()}; the element counts must match`,
    );
  }
  return result;
}

/** Returns a tensor with the given shape: a view when the data is contiguous, a copy otherwise. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape('reshape', x, shape);
  const source = x.isContiguous() ? x : contiguous(x);
  const out = source.view_(target, contiguousStrides(target), source.offset);
  return record('Reshape', [source], out, (g) => [reshape(g, source.shape)]);
}

/** Like reshape, but never copies: a non-contiguous input is an error, as in PyTorch. */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  if (!x.isContiguous()) {
    throw new ShapeError(
      `view: the input of shape ${formatShape(x.shape)} and strides ${formatShape(x.strides)} is not contiguous, so it cannot be viewed as ${formatShape(shape)}; use reshape() (copies when needed) or call contiguous() first`,
    );
  }
  return reshape(x, shape);
}

export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const out = backendOf('contiguous', x).contiguous(x);
  return record('Contiguous', [x], out, (g) => [g]);
}

/** Returns a copy that owns its storage; the gradient passes through unchanged. */
export function clone(x: Tensor): Tensor {
  const out = backendOf('clone', x).contiguous(x);
  return record('Clone', [x], out, (g) => [g]);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) {
    throw new ShapeError(`permute: got ${dims.length} dims ${formatShape(dims)} for a tensor of rank ${x.ndim}; pass a permutation of all dims`);
  }
  const order = dims.map((d) => normalizeDim(d, x.ndim, 'permute'));
  if (new Set(order).size !== order.length) throw new ShapeError(`permute: dims ${formatShape(dims)} repeat a dim; pass a permutation`);
  const shape = x.shape;
  const strides = x.strides;
  const out = x.view_(order.map((d) => shape[d]), order.map((d) => strides[d]), x.offset);
  const inverse = new Array<number>(order.length);
  order.forEach((d, i) => (inverse[d] = i));
  return record('Permute', [x], out, (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  if (x.ndim < 2 && dim0 === -2 && dim1 === -1) return x;
  const a = normalizeDim(dim0, x.ndim, 'transpose');
  const b = normalizeDim(dim1, x.ndim, 'transpose');
  const order = x.shape.map((_, d) => d);
  order[a] = b;
  order[b] = a;
  return permute(x, order);
}

/** Removes size-1 dims: all of them, or only `dim` (which is left alone when its size is not 1). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  const shape = x.shape;
  const strides = x.strides;
  const d = dim === undefined ? -1 : normalizeDim(dim, x.ndim, 'squeeze');
  const keep = shape.map((size, i) => (d === -1 ? size !== 1 : i !== d || size !== 1));
  const out = x.view_(shape.filter((_, i) => keep[i]), strides.filter((_, i) => keep[i]), x.offset);
  return record('Squeeze', [x], out, (g) => [reshape(g, shape)]);
}

/** Inserts a size-1 dim at `dim` (which may be rank, to append one). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const rank = x.ndim + 1;
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw new IndexError(`unsqueeze: dim ${dim} is out of range for a tensor of rank ${x.ndim}; use a dim in [${-rank}, ${rank - 1}]`);
  }
  const d = dim < 0 ? dim + rank : dim;
  const shape = x.shape;
  const strides = x.strides;
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < strides.length ? strides[d] * x.shape[d] : 1);
  const out = x.view_(shape, strides, x.offset);
  return record('Unsqueeze', [x], out, (g) => [reshape(g, x.shape)]);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const start = normalizeDim(startDim, x.ndim, 'flatten');
  const end = normalizeDim(endDim, x.ndim, 'flatten');
  if (start > end) throw new IndexError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const shape = x.shape;
  const merged = numel(shape.slice(start, end + 1));
  return reshape(x, [...shape.slice(0, start), merged, ...shape.slice(end + 1)]);
}

/**
 * Broadcasts to a larger shape without copying (stride 0 on the repeated dims); -1 keeps a size.
 * The gradient sums over the repeated dims.
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const rank = shape.length;
  if (rank < x.ndim) {
    throw new ShapeError(`expand: target shape ${formatShape(shape)} has fewer dims than the input ${formatShape(x.shape)}`);
  }
  const offset = rank - x.ndim;
  const sourceShape = x.shape;
  const sourceStrides = x.strides;
  const target = new Array<number>(rank);
  const strides = new Array<number>(rank);
  for (let d = 0; d < rank; d++) {
    if (d < offset && shape[d] === -1) {
      throw new ShapeError(`expand: size -1 at dim ${d} of ${formatShape(shape)} is not allowed in a new leading dim, which has no size to keep; give the size`);
    }
    const size = d < offset ? 1 : sourceShape[d - offset];
    const wanted = shape[d] === -1 ? size : shape[d];
    if (size !== wanted && size !== 1) {
      throw new ShapeError(
        `expand: the input of shape ${formatShape(sourceShape)} cannot be expanded to ${formatShape(shape)}: dim ${d} has size ${size}, which is neither ${wanted} nor 1`,
      );
    }
    target[d] = wanted;
    strides[d] = d < offset || (size === 1 && wanted !== 1) ? 0 : sourceStrides[d - offset];
  }
  if (target.every((s, d) => s === sourceShape[d - offset]) && offset === 0) return x;
  const out = x.view_(target, strides, x.offset);
  return record('Expand', [x], out, (g) => [sumToShape(g, sourceShape)]);
}

/** Expands to the shape of `other`. */
export function expandAs(x: Tensor, other: Tensor): Tensor {
  return expand(x, other.shape);
}

/**
 * Returns a view of the elements along `dim` from `start` to `end`, every `step`-th. Negative `start` and
 * `end` count from the end and are clamped to the dim, as Python slicing does.
 */
export function slice(x: Tensor, dim: number, start = 0, end?: number, step = 1): Tensor {
  if (x.ndim === 0) throw new IndexError('slice: cannot slice a 0-d tensor; it has no dims (use item() to read its value)');
  const d = normalizeDim(dim, x.ndim, 'slice');
  if (!Number.isInteger(step) || step <= 0) throw new ValueError(`slice: step must be a positive integer, got ${step}`);
  const size = x.shape[d];
  const clampIndex = (i: number): number => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  const from = clampIndex(start);
  const to = Math.max(clampIndex(end ?? size), from);
  const length = Math.ceil((to - from) / step);
  const shape = x.shape;
  const strides = x.strides;
  shape[d] = length;
  const offset = x.offset + from * strides[d];
  strides[d] *= step;
  const out = x.view_(shape, strides, offset);
  return record('Slice', [x], out, (g) => [sliceScatter(g, x.shape, d, from, step)]);
}

/** Returns zeros of `shape` with `src` written into the slice [start :: step] of `dim` (slice's adjoint). */
export function sliceScatter(src: Tensor, shape: readonly number[], dim: number, start: number, step: number): Tensor {
  const backend = backendOf('sliceScatter', src);
  const out = backend.full(shape, 0, src.dtype);
  const strides = contiguousStrides(shape);
  const viewShape = [...shape];
  viewShape[dim] = src.shape[dim];
  const viewStrides = [...strides];
  viewStrides[dim] *= step;
  backend.copyInto(out.view_(viewShape, viewStrides, start * strides[dim]), src);
  return record('SliceScatter', [src], out, (g) => [slice(g, dim, start, start + (src.shape[dim] - 1) * step + 1, step)]);
}

/** Returns a view of `length` elements of `dim` starting at `start`. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  if (x.ndim === 0) throw new IndexError('narrow: cannot narrow a 0-d tensor; it has no dims');
  const d = normalizeDim(dim, x.ndim, 'narrow');
  const size = x.shape[d];
  const from = start < 0 ? start + size : start;
  if (!Number.isInteger(from) || !Number.isInteger(length) || from < 0 || length < 0 || from + length > size) {
    throw new IndexError(`narrow: start ${start} and length ${length} do not fit in dim ${dim} of size ${size} (shape ${formatShape(x.shape)})`);
  }
  return slice(x, d, from, from + length);
}

/** Selects one index along `dim` and removes that dim, like `x[i]` in PyTorch. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  if (x.ndim === 0) throw new IndexError('select: cannot index a 0-d tensor; it has no dims (use item() to read its value)');
  const d = normalizeDim(dim, x.ndim, 'select');
  const size = x.shape[d];
  if (!Number.isInteger(index) || index < -size || index >= size) {
    throw new IndexError(`select: index ${index} is out of range for dim ${dim} of size ${size}`);
  }
  return squeeze(narrow(x, d, index < 0 ? index + size : index, 1), d);
}

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('cat: expected a non-empty list of tensors');
  const first = tensors[0];
  if (first.ndim === 0) throw new ShapeError('cat: tensor 0 is 0-d and has no dim to join along; use stack() to make a 1-D tensor of scalars');
  const d = normalizeDim(dim, first.ndim, 'cat');
  tensors.forEach((t, i) => {
    const same = t.ndim === first.ndim && t.shape.every((s, k) => k === d || s === first.shape[k]);
    if (!same) {
      throw new ShapeError(
        `cat: tensor ${i} has shape ${formatShape(t.shape)} but tensor 0 has ${formatShape(first.shape)}; all sizes except dim ${dim} must match`,
      );
    }
    if (t.dtype !== first.dtype) throw new DTypeError(`cat: tensor ${i} is ${t.dtype} but tensor 0 is ${first.dtype}; convert them to one dtype`);
  });
  const out = backendOf('cat', ...tensors).cat(tensors, d);
  const sizes = tensors.map((t) => t.shape[d]);
  return record('Cat', tensors, out, (g) => {
    let start = 0;
    return sizes.map((size) => {
      const part = narrow(g, d, start, size);
      start += size;
      return part;
    });
  });
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('stack: expected a non-empty list of tensors');
  tensors.forEach((t, i) => {
    if (t.shape.join() !== tensors[0].shape.join()) {
      throw new ShapeError(`stack: tensor ${i} has shape ${formatShape(t.shape)} but tensor 0 has ${formatShape(tensors[0].shape)}; stack needs equal shapes`);
    }
  });
  const rank = tensors[0].ndim + 1;
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw new IndexError(`stack: dim ${dim} is out of range for inputs of rank ${rank - 1}; use a dim in [${-rank}, ${rank - 1}]`);
  }
  const d = dim < 0 ? dim + rank : dim;
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/** Splits into pieces of `splitSize` elements along `dim` (the last may be smaller), or of the listed sizes. */
export function split(x: Tensor, splitSize: number | readonly number[], dim = 0): Tensor[] {
  const d = normalizeDim(dim, x.ndim, 'split');
  const size = x.shape[d];
  let sizes: number[];
  if (typeof splitSize === 'number') {
    if (!Number.isInteger(splitSize) || splitSize <= 0) throw new ValueError(`split: splitSize must be a positive integer, got ${splitSize}`);
    sizes = [];
    for (let start = 0; start < size; start += splitSize) sizes.push(Math.min(splitSize, size - start));
    // An empty dim still splits into one (empty) piece, as in PyTorch.
    if (sizes.length === 0) sizes.push(0);
  } else {
    sizes = [...splitSize];
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== size) throw new ShapeError(`split: sizes ${formatShape(sizes)} add up to ${total} but dim ${dim} has size ${size}`);
  }
  let start = 0;
  return sizes.map((length) => {
    const part = narrow(x, d, start, length);
    start += length;
    return part;
  });
}

/** Splits into `chunks` pieces of equal size (the last may be smaller), as torch.chunk does. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ValueError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const d = normalizeDim(dim, x.ndim, 'chunk');
  return split(x, Math.max(Math.ceil(x.shape[d] / chunks), 1), d);
}

/** Shape arithmetic shared by tensors, ops and backends: sizes, strides, dims and broadcasting. */
import { IndexError, ShapeError, formatShape } from './errors.js';

export function numel(shape: readonly number[]): number {
  let size = 1;
  for (const extent of shape) size *= extent;
  return size;
}

/** Returns row-major (C order) strides, in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

/** True when the strides walk the elements in row-major order with no gaps. */
export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Maps a possibly negative dim to `0..rank-1`, as Python indexing does. */
export function normalizeDim(dim: number, rank: number, op: string): number {
  const extent = Math.max(rank, 1);
  if (!Number.isInteger(dim) || dim < -extent || dim >= extent) {
    throw new IndexError(`${op}: dim ${dim} is out of range for a tensor of rank ${rank}; use a dim in [${-extent}, ${extent - 1}]`);
  }
  return dim < 0 ? dim + extent : dim;
}

/** Normalizes a list of dims (or all dims when `dims` is undefined), rejecting repeats. */
export function normalizeDims(dims: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (dims === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : [...dims];
  const normalized = list.map((d) => normalizeDim(d, rank, op));
  if (new Set(normalized).size !== normalized.length) {
    throw new IndexError(`${op}: dim ${JSON.stringify(list)} repeats a dim; each dim may appear once`);
  }
  // A 0-d tensor accepts dim 0 and -1, as in PyTorch, but has no dim to reduce.
  if (rank === 0) return [];
  return normalized.sort((a, b) => a - b);
}

/**
 * Returns the shape that two shapes broadcast to under NumPy rules: align on the right, and each
 * pair of sizes must be equal or contain a 1.
 */
export function broadcastShapes(a: readonly number[], b: readonly number[], op = 'broadcast'): number[] {
  const rank = Math.max(a.length, b.length);
  const result = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const sizeA = a[a.length - rank + i] ?? 1;
    const sizeB = b[b.length - rank + i] ?? 1;
    if (sizeA !== sizeB && sizeA !== 1 && sizeB !== 1) {
      throw new ShapeError(
        `${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together: ` +
          `size ${sizeA} and size ${sizeB} differ at dim ${i - rank} and neither is 1; ` +
          `reshape or unsqueeze one input so that its sizes match or are 1`,
      );
    }
    result[i] = sizeA === 1 ? sizeB : sizeA;
  }
  return result;
}

/** Returns the strides that read a tensor of `shape` as if it had `target` shape (0 on broadcast dims). */
export function broadcastStrides(shape: readonly number[], strides: readonly number[], target: readonly number[]): number[] {
  const result = new Array<number>(target.length).fill(0);
  const offset = target.length - shape.length;
  for (let d = 0; d < shape.length; d++) {
    result[d + offset] = shape[d] === 1 ? 0 : strides[d];
  }
  return result;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}

/** Checks that a shape is a list of non-negative integers and returns a copy. */
export function checkShape(shape: readonly number[], op: string): number[] {
  for (const size of shape) {
    if (!Number.isInteger(size) || size < 0) {
      throw new ShapeError(`${op}: invalid shape ${formatShape(shape)}; sizes must be non-negative integers`);
    }
  }
  return [...shape];
}

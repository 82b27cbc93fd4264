/**
 * Iteration over strided views. Kernels walk the output in row-major order with an odometer over
 * all dims but the last and a tight inner loop over the last one, so no closure runs per element.
 * Dims that are contiguous for every operand are merged first, which turns the common case (all
 * inputs contiguous, same shape) into a single flat loop.
 */
import type { TypedArray } from '../dtype.js';
import { contiguousStrides } from '../shape.js';

export interface Layout {
  shape: number[];
  /** One stride list per operand, aligned with `shape`. */
  strides: number[][];
}

/** Drops size-1 dims and merges adjacent dims that are contiguous in every operand. */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): Layout {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => {
        outStrides[k][last] = s[d];
      });
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    outStrides.forEach((s) => s.push(0));
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Calls `row(offsets, length)` once per innermost row of `layout`, with each operand's element
 * offset at the row start. `offsets` is reused between calls: read it, do not keep it.
 */
export function forEachRow(
  layout: Layout,
  baseOffsets: readonly number[],
  row: (offsets: Int32Array | number[], length: number) => void,
): void {
  const { shape, strides } = layout;
  const rank = shape.length;
  const operands = strides.length;
  const offsets = baseOffsets.slice();
  const index = new Array<number>(rank).fill(0);
  const inner = shape[rank - 1];
  let rows = 1;
  for (let d = 0; d < rank - 1; d++) rows *= shape[d];
  if (inner === 0) return;

  for (let r = 0; r < rows; r++) {
    row(offsets, inner);
    // Odometer step over the outer dims.
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      for (let k = 0; k < operands; k++) offsets[k] += strides[k][d];
      if (index[d] < shape[d]) break;
      for (let k = 0; k < operands; k++) offsets[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
  }
}

/**
 * Copies the elements of a strided view into `out` in row-major order. Dims are merged first,
 * so a view that is contiguous except in one dim (a transposed pair of dims, a narrowed last
 * dim) copies in a few long runs instead of one short run per row.
 */
export function copyStrided(
  source: TypedArray, offset: number, shape: readonly number[], strides: readonly number[], out: TypedArray,
): void {
  const layout = coalesce(shape, [contiguousStrides(shape), strides]);
  const last = layout.shape.length - 1;
  const step = layout.strides[1][last];
  forEachRow(layout, [0, offset], (offsets, n) => {
    const o = offsets[0];
    // set() needs a subarray object, which only pays off on longer runs.
    if (step === 1 && n >= 64) {
      out.set(source.subarray(offsets[1], offsets[1] + n), o);
      return;
    }
    for (let j = 0, i = offsets[1]; j < n; j++, i += step) out[o + j] = source[i];
  });
}

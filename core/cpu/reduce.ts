/**
 * CPU reductions. The reduced dims are moved last and made contiguous, so every output element
 * reduces one contiguous run of `inner` elements: simple loops, sequential memory access.
 */
import type { ArgReduceOp, ReduceOp } from '../backend.js';
import type { TypedArray } from '../dtype.js';

/** Reduces each contiguous run of `inner` elements of `x`, from `offset` on, into one element of `out`. */
export function reduceRows(op: ReduceOp, x: TypedArray, out: TypedArray, outer: number, inner: number, offset = 0): void {
  for (let r = 0, base = offset; r < outer; r++, base += inner) {
    switch (op) {
      case 'sum': {
        // Pairwise-free but compensated (Kahan) summation keeps float32 sums of long rows accurate.
        let sum = 0;
        let compensation = 0;
        for (let j = 0; j < inner; j++) {
          const y = x[base + j] - compensation;
          const t = sum + y;
          compensation = t - sum - y;
          sum = t;
        }
        out[r] = sum;
        break;
      }
      case 'prod': {
        let product = 1;
        for (let j = 0; j < inner; j++) product *= x[base + j];
        out[r] = product;
        break;
      }
      case 'max': {
        let best = -Infinity;
        for (let j = 0; j < inner; j++) {
          const v = x[base + j];
          if (v > best || v !== v) {
            best = v;
            if (v !== v) break;
          }
        }
        out[r] = best;
        break;
      }
      case 'min': {
        let best = Infinity;
        for (let j = 0; j < inner; j++) {
          const v = x[base + j];
          if (v < best || v !== v) {
            best = v;
            if (v !== v) break;
          }
        }
        out[r] = best;
        break;
      }
    }
  }
}

/**
 * Reduces the middle dim of a contiguous [outer, size, inner] block of `x` starting at `offset`
 * and writes the [outer, inner] result to `out`. Any reduction over a run of adjacent dims has
 * this layout, so it reads the input in place, with no transposing copy. Rows of `inner`
 * elements are combined in sequence, so memory is read in order. Sums accumulate in double
 * precision without compensation, far more precise than float32 needs. For float64 a long sum
 * may differ from the compensated row sum of `reduceRows` by its accumulated rounding error.
 */
export function reduceBlock(op: ReduceOp, x: TypedArray, offset: number, out: TypedArray, outer: number, size: number, inner: number): void {
  if (inner === 1) {
    reduceRows(op, x, out, outer, size, offset);
    return;
  }
  const accumulator = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const first = offset + o * size * inner;
    switch (op) {
      case 'sum':
        accumulator.fill(0);
        for (let r = 0, base = first; r < size; r++, base += inner) {
          for (let j = 0; j < inner; j++) accumulator[j] += x[base + j];
        }
        break;
      case 'prod':
        accumulator.fill(1);
        for (let r = 0, base = first; r < size; r++, base += inner) {
          for (let j = 0; j < inner; j++) accumulator[j] *= x[base + j];
        }
        break;
      case 'max':
        accumulator.fill(-Infinity);
        for (let r = 0, base = first; r < size; r++, base += inner) {
          for (let j = 0; j < inner; j++) {
            // NaN wins and stays: once the best is NaN, nothing compares greater.
            const v = x[base + j];
            if (v > accumulator[j] || v !== v) accumulator[j] = v;
          }
        }
        break;
      case 'min':
        accumulator.fill(Infinity);
        for (let r = 0, base = first; r < size; r++, base += inner) {
          for (let j = 0; j < inner; j++) {
            const v = x[base + j];
            if (v < accumulator[j] || v !== v) accumulator[j] = v;
          }
        }
        break;
    }
    out.set(accumulator, o * inner);
  }
}

/** Writes the index of the first max (or min) of each run of `inner` elements; NaN counts as the max. */
export function argReduceRows(op: ArgReduceOp, x: TypedArray, out: Int32Array, outer: number, inner: number): void {
  const wantMax = op === 'argmax';
  for (let r = 0, base = 0; r < outer; r++, base += inner) {
    let bestIndex = 0;
    let best = x[base];
    for (let j = 1; j < inner && best === best; j++) {
      const v = x[base + j];
      if (v !== v || (wantMax ? v > best : v < best)) {
        best = v;
        bestIndex = j;
      }
    }
    out[r] = bestIndex;
  }
}

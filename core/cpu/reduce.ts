/**
 * CPU reductions. The reduced dims are moved last and made contiguous, so every output element
 * reduces one contiguous run of `inner` elements: simple loops, sequential memory access.
 */
import type { ArgReduceOp, ReduceOp } from '../backend.js';
import type { TypedArray } from '../dtype.js';

/** Reduces each contiguous run of `inner` elements of `x` into one element of `out`. */
export function reduceRows(op: ReduceOp, x: TypedArray, out: TypedArray, outer: number, inner: number): void {
  for (let r = 0, base = 0; r < outer; r++, base += inner) {
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

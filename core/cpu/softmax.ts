/** Fused, numerically stable softmax and log-softmax over contiguous rows. */
import type { TypedArray } from '../dtype.js';

/**
 * Subtracting the row max before exp keeps every exponent at or below 0, so logits of 1e4 do
 * not overflow. A row that is entirely -Infinity (fully masked) yields zeros for softmax and
 * -Infinity for log-softmax instead of NaN. Rows of `x` start at `offset`, and `out` is dense.
 */
export function softmaxRows(x: TypedArray, out: TypedArray, outer: number, inner: number, log: boolean, offset = 0): void {
  for (let r = 0, base = offset, o = 0; r < outer; r++, base += inner, o += inner) {
    let max = -Infinity;
    for (let j = 0; j < inner; j++) if (x[base + j] > max || x[base + j] !== x[base + j]) max = x[base + j];

    if (max === -Infinity) {
      for (let j = 0; j < inner; j++) out[o + j] = log ? -Infinity : 0;
      continue;
    }

    if (log) {
      let sum = 0;
      for (let j = 0; j < inner; j++) sum += Math.exp(x[base + j] - max);
      const logSum = Math.log(sum) + max;
      for (let j = 0; j < inner; j++) out[o + j] = x[base + j] - logSum;
      continue;
    }

    // The exponentials are kept in `out` (rounded to its dtype) and summed in double precision,
    // so exp runs once per element.
    let sum = 0;
    for (let j = 0; j < inner; j++) {
      const e = Math.exp(x[base + j] - max);
      out[o + j] = e;
      sum += e;
    }
    const scale = 1 / sum;
    for (let j = 0; j < inner; j++) out[o + j] *= scale;
  }
}

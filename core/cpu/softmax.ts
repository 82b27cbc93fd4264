/** Fused, numerically stable softmax and log-softmax over contiguous rows. */
import type { TypedArray } from '../dtype.js';

/**
 * Subtracting the row max before exp keeps every exponent at or below 0, so logits of 1e4 do
 * not overflow; a row that is entirely -Infinity (fully masked) yields zeros for softmax and
 * -Infinity for log-softmax instead of NaN.
 */
export function softmaxRows(x: TypedArray, out: TypedArray, outer: number, inner: number, log: boolean): void {
  for (let r = 0, base = 0; r < outer; r++, base += inner) {
    let max = -Infinity;
    for (let j = 0; j < inner; j++) if (x[base + j] > max || x[base + j] !== x[base + j]) max = x[base + j];

    if (max === -Infinity) {
      for (let j = 0; j < inner; j++) out[base + j] = log ? -Infinity : 0;
      continue;
    }

    let sum = 0;
    for (let j = 0; j < inner; j++) sum += Math.exp(x[base + j] - max);

    if (log) {
      const logSum = Math.log(sum) + max;
      for (let j = 0; j < inner; j++) out[base + j] = x[base + j] - logSum;
    } else {
      const scale = 1 / sum;
      for (let j = 0; j < inner; j++) out[base + j] = Math.exp(x[base + j] - max) * scale;
    }
  }
}

/**
 * Fused CPU kernels for the hot spots of a training step: the relu, softmax and layer-norm
 * gradients, layer norm itself, the scaled and masked softmax of attention, and cross-entropy
 * over class indices. Each replaces a chain of elementwise and reduction kernels (one fresh
 * array and one memory pass per link) by one or two passes over contiguous rows. Sums run in
 * double precision.
 */
import type { AdamStepOptions } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import type { BinaryRow } from './elementwise.js';

/** `out = grad · (input > 0)`, the relu gradient, as a binary row over (grad, input). */
export const reluBackwardRow: BinaryRow = (out, o, grad, ig, sg, input, ix, sx, n) => {
  // The product (not a select) keeps the composite's semantics: NaN or infinite grads where
  // input <= 0 still give NaN, as g · 0 does.
  for (let j = 0; j < n; j++, ig += sg, ix += sx) out[o + j] = input[ix] > 0 ? grad[ig] : grad[ig] * 0;
};

/**
 * Computes the gradient of softmax (or log-softmax) over contiguous rows of `inner` elements,
 * from the gradient `g` and the forward output `y`, times `scale`:
 *   softmax:      dx = scale · y (g - sum(g y))
 *   log-softmax:  dx = scale · (g - exp(y) sum(g))
 */
export function softmaxBackwardRows(
  g: TypedArray, gOffset: number, y: TypedArray, yOffset: number, out: TypedArray, outer: number, inner: number, log: boolean, scale = 1,
): void {
  for (let r = 0; r < outer; r++) {
    const gb = gOffset + r * inner;
    const yb = yOffset + r * inner;
    const o = r * inner;
    let total = 0;
    if (log) {
      for (let j = 0; j < inner; j++) total += g[gb + j];
      for (let j = 0; j < inner; j++) out[o + j] = scale * (g[gb + j] - Math.exp(y[yb + j]) * total);
    } else {
      for (let j = 0; j < inner; j++) total += g[gb + j] * y[yb + j];
      for (let j = 0; j < inner; j++) out[o + j] = scale * y[yb + j] * (g[gb + j] - total);
    }
  }
}

/**
 * Computes one row of attention weights, `out = softmax(scale · x + mask)` over `size` elements.
 * The mask row is read with stride `maskStride`, where 0 broadcasts one value. A bool mask
 * excludes the positions where it is 0, and a float mask is added. A row with every position
 * excluded gives zeros, as the unfused softmax of an all -Infinity row does.
 */
export function scaledSoftmaxRow(
  x: TypedArray, xOffset: number, out: TypedArray, outOffset: number, size: number, scale: number,
  mask: TypedArray | null, maskOffset: number, maskStride: number, boolMask: boolean,
): void {
  let max = -Infinity;
  for (let j = 0, m = maskOffset; j < size; j++, m += maskStride) {
    let v = scale * x[xOffset + j];
    if (mask !== null) {
      if (boolMask) {
        if (mask[m] === 0) v = -Infinity;
      } else {
        v += mask[m];
      }
    }
    // The shifted scores are parked in `out` until the max is known.
    out[outOffset + j] = v;
    if (v > max || v !== v) max = v;
  }
  if (max === -Infinity) {
    out.fill(0, outOffset, outOffset + size);
    return;
  }
  let sum = 0;
  for (let j = 0; j < size; j++) {
    const e = Math.exp(out[outOffset + j] - max);
    out[outOffset + j] = e;
    sum += e;
  }
  const inverse = 1 / sum;
  for (let j = 0; j < size; j++) out[outOffset + j] *= inverse;
}

/**
 * Computes the cross-entropy of each row of logits [rows, classes] against a class index:
 * `loss = log(sum exp(x)) - x[target]`, and 0 where the target equals `ignoreIndex`. Writes the
 * log-sum-exp of every row for the backward pass. Targets must already be checked.
 */
export function crossEntropyRows(
  x: TypedArray, xOffset: number, target: Int32Array, losses: TypedArray, logSumExp: Float64Array, rows: number, classes: number, ignoreIndex: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = xOffset + r * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) if (x[base + j] > max || x[base + j] !== x[base + j]) max = x[base + j];
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(x[base + j] - max);
    // A row of -Infinity logits has log-sum-exp -Infinity (the unfused log-softmax keeps it so).
    const lse = max === -Infinity ? -Infinity : Math.log(sum) + max;
    logSumExp[r] = lse;
    const t = target[r];
    losses[r] = t === ignoreIndex ? 0 : lse - x[base + t];
  }
}

/**
 * Computes the gradient of `crossEntropyRows`, `dx = g · (softmax(x) - onehot(target))`, and 0 on
 * ignored rows. The per-row output gradients `g` are read with stride `gStride`, which is 0 when
 * one value is broadcast to every row.
 */
export function crossEntropyBackwardRows(
  g: TypedArray, gOffset: number, gStride: number, x: TypedArray, xOffset: number, target: Int32Array, logSumExp: Float64Array,
  out: TypedArray, rows: number, classes: number, ignoreIndex: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = xOffset + r * classes;
    const o = r * classes;
    const t = target[r];
    if (t === ignoreIndex) continue;
    const gr = g[gOffset + r * gStride];
    const lse = logSumExp[r];
    // exp(x - lse) is the softmax; with lse = -Infinity every probability is taken as 0.
    if (lse === -Infinity) {
      out[o + t] = -gr;
      continue;
    }
    for (let j = 0; j < classes; j++) out[o + j] = gr * (Math.exp(x[base + j] - lse) - (j === t ? 1 : 0));
  }
}

/**
 * Computes layer norm over contiguous rows of `size` elements: `out = (x - mean) rstd · weight + bias`
 * with the biased variance, writing each row's mean and rstd = 1 / sqrt(var + eps).
 */
export function layerNormRows(
  x: TypedArray, xOffset: number, weight: TypedArray | null, wOffset: number, bias: TypedArray | null, bOffset: number,
  out: TypedArray, mean: TypedArray, rstd: TypedArray, rows: number, size: number, eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = xOffset + r * size;
    const o = r * size;
    let sum = 0;
    for (let j = 0; j < size; j++) sum += x[base + j];
    const mu = sum / size;
    // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] - E[x]².
    let squares = 0;
    for (let j = 0; j < size; j++) {
      const centered = x[base + j] - mu;
      squares += centered * centered;
    }
    const inverse = 1 / Math.sqrt(squares / size + eps);
    mean[r] = mu;
    rstd[r] = inverse;

    if (weight !== null && bias !== null) {
      for (let j = 0; j < size; j++) out[o + j] = (x[base + j] - mu) * inverse * weight[wOffset + j] + bias[bOffset + j];
    } else if (weight !== null) {
      for (let j = 0; j < size; j++) out[o + j] = (x[base + j] - mu) * inverse * weight[wOffset + j];
    } else if (bias !== null) {
      for (let j = 0; j < size; j++) out[o + j] = (x[base + j] - mu) * inverse + bias[bOffset + j];
    } else {
      for (let j = 0; j < size; j++) out[o + j] = (x[base + j] - mu) * inverse;
    }
  }
}

/**
 * Computes the layer-norm gradients over contiguous rows, with x̂ = (x - mean) rstd and ĝ = g · weight:
 *   dx = rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂))     per row
 *   dweight = sum over rows of g x̂,   dbias = sum over rows of g
 * `gradWeight` and `gradBias` (size elements, double precision) are accumulated into when given.
 */
export function layerNormBackwardRows(
  g: TypedArray, gOffset: number, x: TypedArray, xOffset: number, mean: TypedArray, rstd: TypedArray,
  weight: TypedArray | null, wOffset: number, gradInput: TypedArray | null, gradWeight: Float64Array | null, gradBias: Float64Array | null,
  rows: number, size: number,
): void {
  for (let r = 0; r < rows; r++) {
    const gb = gOffset + r * size;
    const xb = xOffset + r * size;
    const mu = mean[r];
    const inverse = rstd[r];

    if (gradWeight !== null || gradBias !== null) {
      for (let j = 0; j < size; j++) {
        const gj = g[gb + j];
        if (gradWeight !== null) gradWeight[j] += gj * (x[xb + j] - mu) * inverse;
        if (gradBias !== null) gradBias[j] += gj;
      }
    }
    if (gradInput === null) continue;

    let sumG = 0;
    let sumGX = 0;
    for (let j = 0; j < size; j++) {
      const gj = weight === null ? g[gb + j] : g[gb + j] * weight[wOffset + j];
      sumG += gj;
      sumGX += gj * (x[xb + j] - mu) * inverse;
    }
    const meanG = sumG / size;
    const meanGX = sumGX / size;
    const o = r * size;
    for (let j = 0; j < size; j++) {
      const gj = weight === null ? g[gb + j] : g[gb + j] * weight[wOffset + j];
      const normalized = (x[xb + j] - mu) * inverse;
      gradInput[o + j] = inverse * (gj - meanG - normalized * meanGX);
    }
  }
}

/** Hyperparameters of one Adam update, with the bias corrections of step t already applied. */
export interface AdamRowOptions extends Omit<AdamStepOptions, 'step'> {
  /** 1 - beta1^t. */
  biasCorrection1: number;
  /** 1 - beta2^t. */
  biasCorrection2: number;
}

/**
 * Applies one Adam (or AdamW) update to `n` contiguous elements in place, as torch.optim.Adam
 * computes it:
 *   m ← β1 m + (1-β1) g,   v ← β2 v + (1-β2) g²,   θ ← θ - lr (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + ε)
 * Everything stays in double precision until it is stored.
 */
export function adamRows(
  param: TypedArray, pOffset: number, grad: TypedArray, gOffset: number, expAvg: TypedArray, mOffset: number,
  expAvgSq: TypedArray, vOffset: number, n: number, o: AdamRowOptions,
): void {
  const { lr, beta1, beta2, eps, weightDecay, decoupled, maximize } = o;
  const stepSize = lr / o.biasCorrection1;
  const correction2 = Math.sqrt(o.biasCorrection2);
  const shrink = decoupled ? 1 - lr * weightDecay : 1;
  const l2 = decoupled ? 0 : weightDecay;
  for (let i = 0; i < n; i++) {
    let theta = param[pOffset + i] * shrink;
    let g = grad[gOffset + i];
    if (maximize) g = -g;
    g += l2 * param[pOffset + i];
    const m = beta1 * expAvg[mOffset + i] + (1 - beta1) * g;
    const v = beta2 * expAvgSq[vOffset + i] + (1 - beta2) * g * g;
    expAvg[mOffset + i] = m;
    expAvgSq[vOffset + i] = v;
    theta -= (stepSize * m) / (Math.sqrt(v) / correction2 + eps);
    param[pOffset + i] = theta;
  }
}

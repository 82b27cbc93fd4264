/** Scaled dot-product attention, as torch.nn.functional.scaled_dot_product_attention. */
import { record } from '../../core/autograd.js';
import { backendOf, getBackend } from '../../core/backend.js';
import { DTypeError, ShapeError, ValueError, formatShape } from '../../core/errors.js';
import { type Generator } from '../../core/random.js';
import { isGradEnabled } from '../../core/grad-mode.js';
import { Tensor } from '../../core/tensor.js';
import { add, mul, sub, where } from '../elementwise.js';
import { matmul } from '../matmul.js';
import { sum } from '../reduce.js';
import { transpose } from '../shape.js';
import { softmax } from '../softmax.js';
import { assertFloating } from '../util.js';
import { dropout } from './dropout.js';

export interface ScaledDotProductAttentionOptions {
  /**
   * A mask that broadcasts to (..., L, S). In a bool mask, true marks the key positions that take
   * part and false excludes them. A float mask, of the query's dtype, is added to the scores.
   */
  attnMask?: Tensor | null;
  /** Probability of dropping an attention weight (applied only when `training`). */
  dropoutP?: number;
  /** Lets query i attend to keys 0..i only (the mask is aligned top-left when L differs from S); excludes attnMask. */
  isCausal?: boolean;
  /** Multiplies the scores; 1 / sqrt(E) when omitted. */
  scale?: number;
  /** Source of the dropout mask; the global generator when omitted. */
  generator?: Generator;
  /** Whether dropoutP applies; true by default, as PyTorch applies dropoutP whenever it is given. */
  training?: boolean;
}

/**
 * Computes `softmax(query keyᵀ * scale + mask) value` for query (..., L, E), key (..., S, E)
 * and value (..., S, Ev), whose leading dims broadcast. The output has shape (..., L, Ev).
 * A query row whose keys are all masked out gets a zero output and zero gradients, not NaN.
 */
export function scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, options: ScaledDotProductAttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  checkOperands(op, query, key, value);
  const attnMask = options.attnMask ?? null;
  const isCausal = options.isCausal ?? false;
  if (attnMask !== null && isCausal) {
    throw new ValueError(`${op}: pass either attnMask or isCausal, not both; fold the causal mask into attnMask if you need both`);
  }
  const embedDim = query.shape[query.ndim - 1];
  const scale = options.scale ?? 1 / Math.sqrt(embedDim);

  const scores = matmul(query, transpose(key, -2, -1));
  let mask: Tensor | null = null;
  if (isCausal) {
    mask = causalMask(query.shape[query.ndim - 2], key.shape[key.ndim - 2], query.device);
  } else if (attnMask !== null) {
    checkMask(op, scores, attnMask, query);
    mask = attnMask;
  }

  // NOTE: softmax maps a row that is entirely -Infinity to zeros, and its backward then gives
  // zeros too. Fully masked rows stay free of NaN only because of that, so backends must keep it.
  let weights = attentionWeights(scores, scale, mask);
  const dropoutP = options.dropoutP ?? 0;
  weights = dropout(weights, dropoutP, options.training ?? true, { generator: options.generator });
  return matmul(weights, value);
}

function checkOperands(op: string, query: Tensor, key: Tensor, value: Tensor): void {
  for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
    assertFloating(`${op} (${name})`, t);
    if (t.ndim < 2) throw new ShapeError(`${op}: ${name} must have at least 2 dims (..., length, features), got shape ${formatShape(t.shape)}`);
  }
  if (key.dtype !== query.dtype || value.dtype !== query.dtype) {
    throw new DTypeError(`${op}: query, key and value must share a dtype, got ${query.dtype}, ${key.dtype} and ${value.dtype}`);
  }
  const shapes = `query ${formatShape(query.shape)}, key ${formatShape(key.shape)}, value ${formatShape(value.shape)}`;
  if (key.shape[key.ndim - 1] !== query.shape[query.ndim - 1]) {
    throw new ShapeError(`${op}: query and key must have the same last dim (E), got ${shapes}`);
  }
  if (value.shape[value.ndim - 2] !== key.shape[key.ndim - 2]) {
    throw new ShapeError(`${op}: key and value must have the same sequence length (dim -2, S), got ${shapes}`);
  }
}

/** Builds the lower-triangular (L, S) bool mask, aligned top-left: query i takes the keys j <= i. */
function causalMask(queryLength: number, keyLength: number, device: Tensor['device']): Tensor {
  const data = new Uint8Array(queryLength * keyLength);
  for (let i = 0; i < queryLength; i++) {
    for (let j = 0; j <= i && j < keyLength; j++) data[i * keyLength + j] = 1;
  }
  return getBackend(device).fromTypedArray(data, [queryLength, keyLength], 'bool');
}

/** `scale · scores`, with the mask applied: false positions of a bool mask become -Infinity, a float mask is added. */
function maskedScores(scores: Tensor, scale: number, mask: Tensor | null): Tensor {
  const scaled = mul(scores, scale);
  if (mask === null) return scaled;
  return mask.dtype === 'bool' ? where(mask, scaled, -Infinity) : add(scaled, mask);
}

/**
 * `softmax(scale · scores + mask)` along the last dim. With the backend's fused kernel it is one
 * pass and one graph node, whose backward runs the fused softmax gradient (scaled); when a
 * graph of the gradient is being built, or a float mask itself requires grad, the composed ops
 * run instead so that every gradient stays exact.
 */
function attentionWeights(scores: Tensor, scale: number, mask: Tensor | null): Tensor {
  const backend = mask === null ? backendOf('scaledDotProductAttention', scores) : backendOf('scaledDotProductAttention', scores, mask);
  if (backend.scaledSoftmax === undefined || backend.softmaxBackward === undefined || (mask !== null && mask._requiresGrad)) {
    return softmax(maskedScores(scores, scale, mask), -1);
  }
  const out = backend.scaledSoftmax(scores, scale, mask);
  return record('ScaledSoftmax', [scores], out, (g) => {
    if (!isGradEnabled()) return [backend.softmaxBackward!(g, out, false, scale)];
    const weights = softmax(maskedScores(scores, scale, mask), -1);
    return [mul(mul(weights, sub(g, sum(mul(g, weights), -1, true))), scale)];
  }, [scores, out]);
}

/** Checks that a user mask has a usable dtype and broadcasts to the scores. */
function checkMask(op: string, scores: Tensor, attnMask: Tensor, query: Tensor): void {
  if (attnMask.dtype !== 'bool' && attnMask.dtype !== query.dtype) {
    throw new DTypeError(`${op}: attnMask must be bool or have the query's dtype ${query.dtype}, got ${attnMask.dtype}`);
  }
  const maskShape = attnMask.shape;
  const scoreShape = scores.shape;
  const broadcasts = maskShape.every((size, k) => {
    const other = scoreShape[scoreShape.length - maskShape.length + k] ?? 1;
    return size === other || size === 1 || other === 1;
  });
  if (!broadcasts) {
    throw new ShapeError(`${op}: attnMask of shape ${formatShape(maskShape)} does not broadcast to the attention scores of shape ${formatShape(scoreShape)} (..., L, S)`);
  }
}

/**
 * Merging the masks that MultiheadAttention accepts into the one mask that
 * scaledDotProductAttention takes.
 *
 * The two follow different PyTorch conventions, which this file translates between:
 * torch.nn.MultiheadAttention marks with true the positions to IGNORE (keyPaddingMask and a bool
 * attnMask), while torch.nn.functional.scaled_dot_product_attention marks with true the positions
 * that TAKE PART. Float masks are added to the scores in both, so -Infinity excludes a position.
 */
import { DTypeError, ShapeError, type Tensor, formatShape, tensor, zeros } from '../index.js';

export interface AttentionMaskInputs {
  /** (B, S): true (or -Infinity) marks a key to ignore, e.g. padding. */
  keyPaddingMask: Tensor | null;
  /** (L, S), (B·H, L, S) or a 4-D mask broadcastable to (B, H, L, S); true marks a pair to ignore. */
  attnMask: Tensor | null;
  /** Hide keys after each query position (key j is hidden from query i when j > i). */
  isCausal: boolean;
  /** Build the causal mask even when it is the only constraint, for callers that cannot take the flag. */
  materializeCausal?: boolean;
  batch: number;
  heads: number;
  queryLength: number;
  keyLength: number;
  /** The dtype of the attention scores, which float masks must share. */
  dtype: Tensor['dtype'];
  device: Tensor['device'];
}

/** Either a mask in scaledDotProductAttention's convention, or the causal flag alone. */
export interface MergedAttentionMask {
  /** Null, a bool mask whose true entries take part, or a float mask added to the scores; broadcasts to (B, H, L, S). */
  mask: Tensor | null;
  /** True only when causality is the sole constraint, so the attention function can apply it itself. */
  isCausal: boolean;
}

/**
 * Combines the key padding mask, the attention mask and causality into one mask of shape
 * broadcastable to (B, H, L, S). A position is excluded when any of them excludes it; float
 * masks are summed, with bool ones turned into 0 / -Infinity first.
 */
export function mergeAttentionMasks(inputs: AttentionMaskInputs): MergedAttentionMask {
  const parts: Tensor[] = [];
  if (inputs.keyPaddingMask !== null) parts.push(paddingMaskTo4d(inputs));
  if (inputs.attnMask !== null) parts.push(attnMaskTo4d(inputs));
  if (inputs.isCausal && parts.length === 0 && !inputs.materializeCausal) return { mask: null, isCausal: true };
  if (inputs.isCausal) parts.push(causalIgnoreMask(inputs));
  if (parts.length === 0) return { mask: null, isCausal: false };

  if (parts.every((part) => part.dtype === 'bool')) {
    const ignore = parts.reduce((merged, part) => merged.logicalOr(part));
    return { mask: ignore.logicalNot(), isCausal: false };
  }
  const additive = parts.map((part) => (part.dtype === 'bool' ? toAdditive(part, inputs) : part));
  return { mask: additive.reduce((merged, part) => merged.add(part)), isCausal: false };
}

function checkMaskDType(name: string, mask: Tensor, inputs: AttentionMaskInputs): void {
  if (mask.dtype !== 'bool' && mask.dtype !== inputs.dtype) {
    throw new DTypeError(`MultiheadAttention: ${name} must be bool or have the query's dtype ${inputs.dtype}, got ${mask.dtype}`);
  }
}

/** (B, S) becomes (B, 1, 1, S), so it broadcasts over heads and queries. */
function paddingMaskTo4d(inputs: AttentionMaskInputs): Tensor {
  const mask = inputs.keyPaddingMask as Tensor;
  checkMaskDType('keyPaddingMask', mask, inputs);
  if (mask.ndim !== 2 || mask.shape[0] !== inputs.batch || mask.shape[1] !== inputs.keyLength) {
    throw new ShapeError(
      `MultiheadAttention: keyPaddingMask must have shape (batch, key length) = ${formatShape([inputs.batch, inputs.keyLength])}, got ${formatShape(mask.shape)}`,
    );
  }
  return mask.reshape([inputs.batch, 1, 1, inputs.keyLength]);
}

/** Accepts PyTorch's (L, S) and (B·H, L, S) layouts and any 4-D mask that broadcasts to (B, H, L, S). */
function attnMaskTo4d(inputs: AttentionMaskInputs): Tensor {
  const mask = inputs.attnMask as Tensor;
  checkMaskDType('attnMask', mask, inputs);
  const { batch, heads, queryLength, keyLength } = inputs;
  const shape = mask.shape;
  const expected = `(${queryLength}, ${keyLength}), (${batch * heads}, ${queryLength}, ${keyLength}) or 4-D broadcastable to ${formatShape([batch, heads, queryLength, keyLength])}`;

  if (shape.length === 2 && shape[0] === queryLength && shape[1] === keyLength) return mask;
  if (shape.length === 3 && shape[0] === batch * heads && shape[1] === queryLength && shape[2] === keyLength) {
    return mask.reshape([batch, heads, queryLength, keyLength]);
  }
  const target = [batch, heads, queryLength, keyLength];
  if (shape.length === 4 && shape.every((size, d) => size === target[d] || size === 1)) return mask;
  throw new ShapeError(`MultiheadAttention: attnMask of shape ${formatShape(shape)} does not fit; expected ${expected}`);
}

/** (L, S) bool, true where the key comes after the query. */
function causalIgnoreMask(inputs: AttentionMaskInputs): Tensor {
  const { queryLength, keyLength } = inputs;
  const data = new Uint8Array(queryLength * keyLength);
  for (let i = 0; i < queryLength; i++) {
    for (let j = i + 1; j < keyLength; j++) data[i * keyLength + j] = 1;
  }
  return tensor(data, { shape: [queryLength, keyLength], dtype: 'bool', device: inputs.device });
}

function toAdditive(ignore: Tensor, inputs: AttentionMaskInputs): Tensor {
  return zeros(ignore.shape, { dtype: inputs.dtype, device: inputs.device }).maskedFill(ignore, -Infinity);
}

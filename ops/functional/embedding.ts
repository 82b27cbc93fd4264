/** Embedding lookup, as torch.nn.functional.embedding. */
import { getBackend } from '../../core/backend.js';
import { DTypeError, IndexError, ShapeError, formatShape } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import { where } from '../elementwise.js';
import { indexSelect } from '../indexing.js';
import { reshape } from '../shape.js';

export interface EmbeddingOptions {
  /** A row whose gradient is always zero, so it stays as initialized (usually zeros); may be negative. */
  paddingIdx?: number | null;
}

/**
 * Looks up rows of `weight` (numEmbeddings, embeddingDim) for int32 `indices` of any shape,
 * returning shape `[...indices.shape, embeddingDim]`. The gradient of each row sums the output
 * gradients of the positions that selected it, except for paddingIdx, whose gradient is zero.
 */
export function embedding(indices: Tensor, weight: Tensor, options: EmbeddingOptions = {}): Tensor {
  const op = 'embedding';
  if (indices.dtype !== 'int32') {
    throw new DTypeError(`${op}: indices must be an int32 tensor, got ${indices.dtype}; convert them with .int()`);
  }
  if (weight.ndim !== 2) {
    throw new ShapeError(`${op}: weight must be 2-D (numEmbeddings, embeddingDim), got shape ${formatShape(weight.shape)}`);
  }
  const [numEmbeddings, embeddingDim] = weight.shape;
  const paddingIdx = checkPaddingIdx(op, options.paddingIdx, numEmbeddings);

  const flat = indices.toTypedArray() as Int32Array;
  let paddingCount = 0;
  for (const index of flat) {
    if (index < 0 || index >= numEmbeddings) {
      throw new IndexError(
        `${op}: index ${index} is out of range for an embedding table of ${numEmbeddings} rows (weight shape ${formatShape(weight.shape)}); indices must lie in [0, ${numEmbeddings - 1}]`,
      );
    }
    if (index === paddingIdx) paddingCount++;
  }

  const backend = getBackend(weight.device);
  const flatIndex = backend.fromTypedArray(flat, [flat.length], 'int32');
  let rows = indexSelect(weight, 0, flatIndex);
  if (paddingCount > 0) {
    // The padding rows are selected from the detached table: same values, no path for the gradient.
    const isPadding = backend.fromTypedArray(Uint8Array.from(flat, (index) => (index === paddingIdx ? 1 : 0)), [flat.length, 1], 'bool');
    rows = where(isPadding, indexSelect(weight.detach(), 0, flatIndex), rows);
  }
  return reshape(rows, [...indices.shape, embeddingDim]);
}

/** Returns paddingIdx counted from the start (it may be negative, as in PyTorch), or null. */
function checkPaddingIdx(op: string, paddingIdx: number | null | undefined, numEmbeddings: number): number | null {
  if (paddingIdx === undefined || paddingIdx === null) return null;
  if (!Number.isInteger(paddingIdx) || paddingIdx < -numEmbeddings || paddingIdx >= numEmbeddings) {
    throw new IndexError(`${op}: paddingIdx ${paddingIdx} is out of range for an embedding table of ${numEmbeddings} rows; use a value in [${-numEmbeddings}, ${numEmbeddings - 1}]`);
  }
  return paddingIdx < 0 ? paddingIdx + numEmbeddings : paddingIdx;
}

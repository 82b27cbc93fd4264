/**
 * MultiheadAttention with separate query, key, value and output projections, named `q_proj`,
 * `k_proj`, `v_proj` and `out_proj` as in Hugging Face models, so that adapters can target each
 * projection by name. PyTorch's own module packs the three input projections into one
 * `in_proj_weight`; the computation is the same.
 */
import { ShapeError, type Tensor, ValueError, formatShape } from '../index.js';
import { dropout as dropoutFn, scaledDotProductAttention } from '../ops/functional/index.js';
import { mergeAttentionMasks } from './attention-mask.js';
import { xavierUniform_, zeros_ } from './init.js';
import { Linear } from './linear.js';
import { type FactoryOptions, Module } from './module.js';

export interface MultiheadAttentionOptions extends FactoryOptions {
  /** Dropout probability on the attention weights, applied in training mode (default 0). */
  dropout?: number;
  /** Give all four projections a bias (default true). */
  bias?: boolean;
  /** Features of the key input (default embedDim). */
  kdim?: number;
  /** Features of the value input (default embedDim). */
  vdim?: number;
  /** Inputs are (batch, sequence, features) when true (the default), (sequence, batch, features) when false. */
  batchFirst?: boolean;
}

export interface MultiheadAttentionCallOptions {
  /**
   * (B, S), or (S) for unbatched input: true marks a key to ignore (PyTorch's convention for
   * key_padding_mask). A float mask is added to the scores instead.
   */
  keyPaddingMask?: Tensor | null;
  /**
   * (L, S), (B·numHeads, L, S) or 4-D broadcastable to (B, numHeads, L, S): true marks a
   * query-key pair to ignore, as in torch.nn.MultiheadAttention. A float mask is added to the scores.
   */
  attnMask?: Tensor | null;
  /** Hide from each query the keys at later positions; combined with the other masks. */
  isCausal?: boolean;
  /** Also return the attention weights (default false; without them the fused attention path runs). */
  needWeights?: boolean;
  /** Average the returned weights over heads (default true), giving (B, L, S) instead of (B, numHeads, L, S). */
  averageAttnWeights?: boolean;
}

/** The attention output and, when `needWeights` was set, the attention weights (after dropout). */
export interface MultiheadAttentionOutput {
  output: Tensor;
  weights: Tensor | null;
}

/**
 * Attention from `query` (B, L, embedDim) to `key` (B, S, kdim) and `value` (B, S, vdim), split
 * over `numHeads` heads of embedDim / numHeads features each. `forward` returns
 * `{ output, weights }` rather than PyTorch's pair, and computes the weights only on request.
 * A query whose keys are all masked gets a zero attention output, where PyTorch can give NaN.
 */
export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  out_proj: Linear;

  constructor(embedDim: number, numHeads: number, options: MultiheadAttentionOptions = {}) {
    super();
    if (!Number.isInteger(embedDim) || !Number.isInteger(numHeads) || embedDim <= 0 || numHeads <= 0 || embedDim % numHeads !== 0) {
      throw new ValueError(`MultiheadAttention: embedDim (${embedDim}) must be a positive multiple of numHeads (${numHeads})`);
    }
    const dropout = options.dropout ?? 0;
    if (!(dropout >= 0 && dropout <= 1)) throw new ValueError(`MultiheadAttention: dropout must lie in [0, 1], got ${dropout}`);

    this.embedDim = embedDim;
    this.numHeads = numHeads;
    this.headDim = embedDim / numHeads;
    this.kdim = options.kdim ?? embedDim;
    this.vdim = options.vdim ?? embedDim;
    this.dropout = dropout;
    this.batchFirst = options.batchFirst ?? true;

    const linearOptions = { ...options, bias: options.bias ?? true };
    this.q_proj = new Linear(embedDim, embedDim, linearOptions);
    this.k_proj = new Linear(this.kdim, embedDim, linearOptions);
    this.v_proj = new Linear(this.vdim, embedDim, linearOptions);
    this.out_proj = new Linear(embedDim, embedDim, linearOptions);
    this.resetParameters(options);
  }

  /**
   * PyTorch's initialisation: Xavier-uniform input projections with zero biases, and the output
   * projection keeps the default Linear weight with a zero bias.
   */
  resetParameters(options: FactoryOptions = {}): void {
    for (const projection of [this.q_proj, this.k_proj, this.v_proj]) {
      xavierUniform_(projection.weight, 1, { generator: options.generator });
      if (projection.bias !== null) zeros_(projection.bias);
    }
    if (this.out_proj.bias !== null) zeros_(this.out_proj.bias);
  }

  forward(query: Tensor, key: Tensor, value: Tensor, options: MultiheadAttentionCallOptions = {}): MultiheadAttentionOutput {
    const unbatched = this.checkInputs(query, key, value);
    // Work in (B, sequence, features); unbatched inputs get a batch of one.
    const q = this.toBatchFirst(query, unbatched);
    const k = this.toBatchFirst(key, unbatched);
    const v = this.toBatchFirst(value, unbatched);
    const [batch, queryLength] = q.shape;
    const keyLength = k.shape[1];

    const heads = (x: Tensor, length: number): Tensor => x.reshape([batch, length, this.numHeads, this.headDim]).permute([0, 2, 1, 3]);
    const qh = heads(this.q_proj.call(q), queryLength);
    const kh = heads(this.k_proj.call(k), keyLength);
    const vh = heads(this.v_proj.call(v), keyLength);

    const padding = options.keyPaddingMask ?? null;
    const { mask, isCausal } = mergeAttentionMasks({
      keyPaddingMask: padding !== null && unbatched ? padding.unsqueeze(0) : padding,
      attnMask: options.attnMask ?? null,
      isCausal: options.isCausal ?? false,
      // The explicit path below takes masks only, so causality must arrive as one.
      materializeCausal: options.needWeights ?? false,
      batch,
      heads: this.numHeads,
      queryLength,
      keyLength,
      dtype: qh.dtype,
      device: qh.device,
    });

    const dropoutP = this.training ? this.dropout : 0;
    let attended: Tensor;
    let weights: Tensor | null = null;
    if (options.needWeights) {
      ({ attended, weights } = attentionWithWeights(qh, kh, vh, mask, dropoutP));
      if (options.averageAttnWeights ?? true) weights = weights.mean(1);
    } else {
      attended = scaledDotProductAttention(qh, kh, vh, { attnMask: mask, isCausal, dropoutP, training: this.training });
    }

    const merged = attended.permute([0, 2, 1, 3]).reshape([batch, queryLength, this.embedDim]);
    const output = this.out_proj.call(merged);
    if (unbatched) return { output: output.squeeze(0), weights: weights === null ? null : weights.squeeze(0) };
    return { output: this.batchFirst ? output : output.transpose(0, 1), weights };
  }

  private toBatchFirst(x: Tensor, unbatched: boolean): Tensor {
    if (unbatched) return x.unsqueeze(0);
    return this.batchFirst ? x : x.transpose(0, 1);
  }

  /** Checks ranks and feature sizes; returns true for unbatched (2-D) inputs. */
  private checkInputs(query: Tensor, key: Tensor, value: Tensor): boolean {
    const shapes = `query ${formatShape(query.shape)}, key ${formatShape(key.shape)}, value ${formatShape(value.shape)}`;
    const rank = query.ndim;
    if ((rank !== 2 && rank !== 3) || key.ndim !== rank || value.ndim !== rank) {
      throw new ShapeError(`MultiheadAttention: query, key and value must all be 3-D (batched) or all 2-D (unbatched), got ${shapes}`);
    }
    const last = (x: Tensor): number => x.shape[x.ndim - 1];
    if (last(query) !== this.embedDim || last(key) !== this.kdim || last(value) !== this.vdim) {
      throw new ShapeError(`MultiheadAttention: expected feature sizes embedDim=${this.embedDim}, kdim=${this.kdim}, vdim=${this.vdim} in the last dims, got ${shapes}`);
    }
    const sequenceDim = rank === 2 || !this.batchFirst ? 0 : 1;
    if (key.shape[sequenceDim] !== value.shape[sequenceDim]) {
      throw new ShapeError(`MultiheadAttention: key and value must have the same sequence length, got ${shapes}`);
    }
    if (rank === 3) {
      const batchDim = this.batchFirst ? 0 : 1;
      if (key.shape[batchDim] !== query.shape[batchDim] || value.shape[batchDim] !== query.shape[batchDim]) {
        throw new ShapeError(`MultiheadAttention: query, key and value must have the same batch size (dim ${batchDim}, batchFirst=${this.batchFirst}), got ${shapes}`);
      }
    }
    return rank === 2;
  }

  override extraRepr(): string {
    const dims = this.kdim !== this.embedDim || this.vdim !== this.embedDim ? `, kdim=${this.kdim}, vdim=${this.vdim}` : '';
    return `embed_dim=${this.embedDim}, num_heads=${this.numHeads}${dims}, dropout=${this.dropout}, batch_first=${this.batchFirst}`;
  }
}

/**
 * Computes the attention of scaledDotProductAttention step by step, so that the weights can be
 * returned: softmax(q kᵀ / √d + mask), dropout, then the product with v. Heads are in dim 1,
 * and a bool mask marks with true the pairs that take part.
 */
function attentionWithWeights(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | null,
  dropoutP: number,
): { attended: Tensor; weights: Tensor } {
  let scores = q.matmul(k.mT).mul(1 / Math.sqrt(q.shape[q.ndim - 1]));
  if (mask !== null) scores = mask.dtype === 'bool' ? scores.maskedFill(mask.logicalNot(), -Infinity) : scores.add(mask);
  const weights = dropoutFn(scores.softmax(-1), dropoutP, dropoutP > 0);
  return { attended: weights.matmul(v), weights };
}

/** The pre-norm transformer block of GPT-2 and ViT, and its two-layer MLP. */
import { type Tensor, ValueError } from '../index.js';
import { GELU, ReLU, SiLU } from './activation.js';
import { MultiheadAttention } from './attention.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { type FactoryOptions, Module } from './module.js';
import { LayerNorm } from './normalization.js';

/** 'gelu' is exact (erf); 'gelu_tanh' is the tanh approximation that GPT-2 used. */
export type TransformerActivation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu';

function createActivation(name: TransformerActivation): Module {
  switch (name) {
    case 'gelu':
      return new GELU();
    case 'gelu_tanh':
      return new GELU({ approximate: 'tanh' });
    case 'relu':
      return new ReLU();
    case 'silu':
      return new SiLU();
    default:
      throw new ValueError(`TransformerBlock: unknown activation '${String(name)}'; expected 'gelu', 'gelu_tanh', 'relu' or 'silu'`);
  }
}

/** fc2(act(fc1(x))): expands to `hiddenFeatures` and projects back. */
export class MLP extends Module {
  fc1: Linear;
  act: Module;
  fc2: Linear;

  constructor(features: number, hiddenFeatures: number, options: FactoryOptions & { activation?: TransformerActivation } = {}) {
    super();
    this.fc1 = new Linear(features, hiddenFeatures, options);
    this.act = createActivation(options.activation ?? 'gelu');
    this.fc2 = new Linear(hiddenFeatures, features, options);
  }

  forward(input: Tensor): Tensor {
    return this.fc2.call(this.act.call(this.fc1.call(input)));
  }
}

export interface TransformerBlockOptions extends FactoryOptions {
  /** Hidden size of the MLP as a multiple of dModel (default 4). */
  mlpRatio?: number;
  /** Dropout on the attention weights and on both residual branches (default 0). */
  dropout?: number;
  activation?: TransformerActivation;
  /** Let each position attend only to itself and earlier positions (default false). */
  causal?: boolean;
}

/** Options of one call; the masks follow MultiheadAttention's convention (true = ignore). */
export interface TransformerBlockCallOptions {
  keyPaddingMask?: Tensor | null;
  attnMask?: Tensor | null;
}

/**
 * Pre-norm block on (B, T, dModel): `x + attn(ln1(x))`, then `x + mlp(ln2(x))`, with dropout
 * on each residual branch. Children: `ln1`, `attn` (self-attention with q_proj, k_proj, v_proj,
 * out_proj), `ln2`, `mlp` (fc1, act, fc2) and `dropout`.
 */
export class TransformerBlock extends Module {
  readonly causal: boolean;
  ln1: LayerNorm;
  attn: MultiheadAttention;
  ln2: LayerNorm;
  mlp: MLP;
  dropout: Dropout;

  constructor(dModel: number, numHeads: number, options: TransformerBlockOptions = {}) {
    super();
    const mlpRatio = options.mlpRatio ?? 4;
    const hidden = Math.round(dModel * mlpRatio);
    if (!(hidden > 0)) throw new ValueError(`TransformerBlock: mlpRatio ${mlpRatio} times dModel ${dModel} must give a positive hidden size`);
    const dropout = options.dropout ?? 0;
    const factory = { dtype: options.dtype, device: options.device, generator: options.generator };

    this.causal = options.causal ?? false;
    this.ln1 = new LayerNorm(dModel, factory);
    this.attn = new MultiheadAttention(dModel, numHeads, { ...factory, dropout, batchFirst: true });
    this.ln2 = new LayerNorm(dModel, factory);
    this.mlp = new MLP(dModel, hidden, { ...factory, activation: options.activation });
    this.dropout = new Dropout(dropout);
  }

  forward(input: Tensor, options: TransformerBlockCallOptions = {}): Tensor {
    const normed = this.ln1.call(input);
    const { output: attended } = this.attn.call(normed, normed, normed, {
      keyPaddingMask: options.keyPaddingMask,
      attnMask: options.attnMask,
      isCausal: this.causal,
    });
    const afterAttention = input.add(this.dropout.call(attended));
    return afterAttention.add(this.dropout.call(this.mlp.call(this.ln2.call(afterAttention))));
  }

  override extraRepr(): string {
    return `causal=${this.causal}`;
  }
}

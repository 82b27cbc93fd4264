/** Embedding: a lookup table of learned vectors indexed by integer ids. */
import { type Tensor, ValueError, noGrad, zeros } from '../index.js';
import { embedding } from '../ops/functional/index.js';
import { normal_ } from './init.js';
import { checkFeatures } from './linear.js';
import { type FactoryOptions, Module } from './module.js';
import { Parameter } from './parameter.js';

export interface EmbeddingOptions extends FactoryOptions {
  /**
   * A row that starts at zero and gets no gradient, for padding tokens; negative values count
   * from the end, as in PyTorch.
   */
  paddingIdx?: number | null;
}

/** Maps int32 ids of any shape to rows of `weight` (numEmbeddings, embeddingDim), initialised N(0, 1). */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  /** The padding row counted from the start, or null. */
  readonly paddingIdx: number | null;
  weight: Parameter;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    checkFeatures('Embedding', { numEmbeddings, embeddingDim });
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.paddingIdx = normalizePaddingIdx(options.paddingIdx ?? null, numEmbeddings);
    this.weight = new Parameter(zeros([numEmbeddings, embeddingDim], { dtype: options.dtype, device: options.device }));
    this.resetParameters(options);
  }

  /** Draws the table from N(0, 1) and zeroes the padding row. */
  resetParameters(options: FactoryOptions = {}): void {
    normal_(this.weight, 0, 1, { generator: options.generator });
    const paddingIdx = this.paddingIdx;
    if (paddingIdx !== null) noGrad(() => this.weight.select(0, paddingIdx).zero_());
  }

  /** Returns shape `[...indices.shape, embeddingDim]` for int32 `indices`. */
  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight, { paddingIdx: this.paddingIdx });
  }

  override extraRepr(): string {
    const padding = this.paddingIdx === null ? '' : `, padding_idx=${this.paddingIdx}`;
    return `${this.numEmbeddings}, ${this.embeddingDim}${padding}`;
  }
}

function normalizePaddingIdx(paddingIdx: number | null, numEmbeddings: number): number | null {
  if (paddingIdx === null) return null;
  if (!Number.isInteger(paddingIdx) || paddingIdx < -numEmbeddings || paddingIdx >= numEmbeddings) {
    throw new ValueError(`Embedding: paddingIdx ${paddingIdx} is out of range for ${numEmbeddings} embeddings; use a value in [${-numEmbeddings}, ${numEmbeddings - 1}]`);
  }
  return paddingIdx < 0 ? paddingIdx + numEmbeddings : paddingIdx;
}

/**
 * A GPT-2-style decoder-only language model: token and learned position embeddings, a stack of
 * causal pre-norm TransformerBlocks, a final LayerNorm and an untied linear head.
 */
import { type Generator, type Tensor, ValueError, arange, cat, defaultGenerator, noGrad, tensor } from '../../index.js';
import { ModuleList } from '../containers.js';
import { Dropout } from '../dropout.js';
import { Embedding } from '../embedding.js';
import { normal_, zeros_ } from '../init.js';
import { Linear } from '../linear.js';
import { type FactoryOptions, Module } from '../module.js';
import { LayerNorm } from '../normalization.js';
import { TransformerBlock, type TransformerActivation } from '../transformer.js';

export interface GPTConfig extends FactoryOptions {
  vocabSize: number;
  /** The maximum context length, which is the number of learned positions. */
  blockSize: number;
  /** Width of the residual stream (default 64). */
  dModel?: number;
  /** Default 4; must divide dModel. */
  numHeads?: number;
  /** Default 2. */
  numLayers?: number;
  /** Default 0. */
  dropout?: number;
  /** Default 4. */
  mlpRatio?: number;
  /** Default 'gelu'. */
  activation?: TransformerActivation;
}

export interface GenerateOptions {
  /** Divides the logits before sampling (default 1); 0 picks the most likely token every step. */
  temperature?: number;
  /** Sample only among the k most likely tokens. */
  topK?: number;
  generator?: Generator;
}

export class GPT extends Module {
  readonly vocabSize: number;
  readonly blockSize: number;
  readonly dModel: number;
  wte: Embedding;
  wpe: Embedding;
  drop: Dropout;
  blocks: ModuleList<TransformerBlock>;
  ln_f: LayerNorm;
  lm_head: Linear;

  constructor(config: GPTConfig) {
    super();
    const { vocabSize, blockSize, dModel = 64, numHeads = 4, numLayers = 2, dropout = 0 } = config;
    for (const [name, value] of Object.entries({ vocabSize, blockSize, dModel, numLayers })) {
      if (!Number.isInteger(value) || value <= 0) throw new ValueError(`GPT: ${name} must be a positive integer, got ${value}`);
    }
    const factory = { dtype: config.dtype, device: config.device, generator: config.generator };

    this.vocabSize = vocabSize;
    this.blockSize = blockSize;
    this.dModel = dModel;
    this.wte = new Embedding(vocabSize, dModel, factory);
    this.wpe = new Embedding(blockSize, dModel, factory);
    this.drop = new Dropout(dropout);
    const blockOptions = { ...factory, dropout, causal: true, mlpRatio: config.mlpRatio, activation: config.activation };
    this.blocks = new ModuleList(Array.from({ length: numLayers }, () => new TransformerBlock(dModel, numHeads, blockOptions)));
    this.ln_f = new LayerNorm(dModel, factory);
    this.lm_head = new Linear(dModel, vocabSize, { ...factory, bias: false });
    this.initWeights(numLayers, config.generator);
  }

  /**
   * GPT-2's initialisation: N(0, 0.02) for every Linear and Embedding weight, zero biases, and
   * N(0, 0.02 / √(2 · numLayers)) for the projections that write into the residual stream, so
   * that its variance does not grow with depth.
   */
  private initWeights(numLayers: number, generator: Generator | undefined): void {
    this.apply((module) => {
      if (module instanceof Linear || module instanceof Embedding) normal_(module.weight, 0, 0.02, { generator });
      if (module instanceof Linear && module.bias !== null) zeros_(module.bias);
    });
    const residualStd = 0.02 / Math.sqrt(2 * numLayers);
    for (const block of this.blocks) {
      normal_(block.attn.out_proj.weight, 0, residualStd, { generator });
      normal_(block.mlp.fc2.weight, 0, residualStd, { generator });
    }
  }

  /** Maps int32 token ids (B, T), T <= blockSize, to next-token logits (B, T, vocabSize). */
  forward(idx: Tensor): Tensor {
    if (idx.ndim !== 2 || idx.dtype !== 'int32') {
      throw new ValueError(`GPT: expected int32 token ids of shape (batch, time), got ${idx.dtype} of shape [${idx.shape.join(', ')}]`);
    }
    const length = idx.shape[1];
    if (length > this.blockSize) {
      throw new ValueError(`GPT: a sequence of ${length} tokens exceeds blockSize ${this.blockSize}; crop the input to the last ${this.blockSize} tokens`);
    }

    const positions = arange(length, undefined, 1, { dtype: 'int32', device: idx.device });
    let x = this.drop.call(this.wte.call(idx).add(this.wpe.call(positions)));
    for (const block of this.blocks) x = block.call(x);
    return this.lm_head.call(this.ln_f.call(x));
  }

  /**
   * Extends each row of `idx` (B, T) by `maxNewTokens` sampled tokens and returns (B, T + maxNewTokens).
   * Runs without recording gradients and in evaluation mode (dropout off), restoring the mode after.
   * The context is cropped to the last blockSize tokens; every step reruns the whole context.
   */
  generate(idx: Tensor, maxNewTokens: number, options: GenerateOptions = {}): Tensor {
    const temperature = options.temperature ?? 1;
    if (!(temperature >= 0)) throw new ValueError(`GPT.generate: temperature must be non-negative, got ${temperature}`);
    if (options.topK !== undefined && !(Number.isInteger(options.topK) && options.topK > 0)) {
      throw new ValueError(`GPT.generate: topK must be a positive integer, got ${options.topK}`);
    }
    const generator = options.generator ?? defaultGenerator;
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(() => {
        let sequence = idx;
        for (let step = 0; step < maxNewTokens; step++) {
          const length = sequence.shape[1];
          const context = length > this.blockSize ? sequence.slice(1, length - this.blockSize) : sequence;
          const logits = (this as GPT).call(context).select(1, -1);
          const next = sampleRows(logits.toTypedArray(), logits.shape[0], this.vocabSize, temperature, options.topK, generator);
          sequence = cat([sequence, tensor(next, { shape: [next.length, 1], dtype: 'int32', device: idx.device })], 1);
        }
        return sequence;
      });
    } finally {
      this.train(wasTraining);
    }
  }

  override extraRepr(): string {
    return `vocab_size=${this.vocabSize}, block_size=${this.blockSize}, d_model=${this.dModel}`;
  }
}

/** Draws one token per row of `logits` (rows × vocab, row-major) from softmax(logits / temperature). */
function sampleRows(
  logits: ArrayLike<number>,
  rows: number,
  vocab: number,
  temperature: number,
  topK: number | undefined,
  generator: Generator,
): Int32Array {
  const next = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: vocab }, (_, v) => logits[r * vocab + v]);
    const order = row.map((_, v) => v).sort((a, b) => row[b] - row[a]);
    if (temperature === 0) {
      next[r] = order[0];
      continue;
    }

    const candidates = order.slice(0, topK ?? vocab);
    const maxLogit = row[candidates[0]];
    // Subtracting the maximum keeps exp() finite; it cancels in the normalisation.
    const weights = candidates.map((v) => Math.exp((row[v] - maxLogit) / temperature));
    const total = weights.reduce((sum, w) => sum + w, 0);
    let threshold = generator.random() * total;
    next[r] = candidates[candidates.length - 1];
    for (let c = 0; c < candidates.length; c++) {
      threshold -= weights[c];
      if (threshold < 0) {
        next[r] = candidates[c];
        break;
      }
    }
  }
  return next;
}

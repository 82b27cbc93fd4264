/**
 * LoRA (Hu et al., 2021): ΔW = (α/r) B A with A (r x in) drawn like a Linear weight and B
 * (out x r) zero, so a new adapter leaves the model unchanged. Parameter names and shapes follow
 * PEFT (`lora_A`, `lora_B`), so saved adapters load there. rsLoRA is the `useRslora` option.
 */
import { type Generator, defaultGenerator } from '../core/random.js';
import { uniform, zeros } from '../ops/creation.js';
import { Parameter } from '../nn/parameter.js';
import { type LowRankFactors, LowRankAdapter, type LowRankOptions } from './low-rank.js';
import type { DType } from '../core/dtype.js';

export interface LoRAOptions extends LowRankOptions {
  dtype?: DType;
}

export class LoRA extends LowRankAdapter {
  /** A: r x in. */
  lora_A: Parameter;
  /** B: out x r. */
  lora_B: Parameter;

  constructor(outFeatures: number, inFeatures: number, options: LoRAOptions) {
    super(outFeatures, inFeatures, options);
    const generator: Generator = options.generator ?? defaultGenerator;
    // PyTorch's kaiming_uniform_(a=√5) on an r x in tensor gives U(-1/√in, 1/√in), as PEFT uses.
    const bound = 1 / Math.sqrt(inFeatures);
    this.lora_A = new Parameter(uniform([this.rank, inFeatures], -bound, bound, { generator, dtype: options.dtype }));
    this.lora_B = new Parameter(zeros([outFeatures, this.rank], { dtype: options.dtype }));
  }

  factors(): LowRankFactors {
    return { p: this.lora_B, q: this.lora_A.mT, scale: this.baseScale };
  }

  get adapterParameterCount(): number {
    return this.rank * (this.inFeatures + this.outFeatures);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, r=${this.rank}, alpha=${this.alpha}${this.useRslora ? ', rslora' : ''}`;
  }
}

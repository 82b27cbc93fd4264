/**
 * LoRA+ (Hayou et al., 2024): the same LoRA parametrization, trained with a larger learning rate
 * for B than for A, lr_B = ratio · lr_A. As PEFT's create_loraplus_optimizer does, every other
 * 1-D trainable tensor (DoRA magnitudes, biases) joins the high-rate group too.
 */
import { ValueError } from '../core/errors.js';
import type { Parameter } from '../nn/parameter.js';
import type { AdaptedModel } from './inject.js';

export interface LoraPlusGroupsOptions {
  /** Learning rate of the A matrices (and of other trainable matrices, such as a new head). */
  lr: number;
  /** lr_B / lr_A. The LoRA+ paper suggests 2^4 = 16 as a starting point; it is task dependent. */
  ratio?: number;
  weightDecay?: number;
}

export interface LoraPlusGroup {
  params: Parameter[];
  lr: number;
  weightDecay: number;
  name: string;
}

/** Splits the trainable parameters into LoRA+'s two optimizer parameter groups. */
export function loraPlusParamGroups(adapted: AdaptedModel, options: LoraPlusGroupsOptions): LoraPlusGroup[] {
  const ratio = options.ratio ?? 16;
  if (!(options.lr >= 0) || !(ratio > 0)) {
    throw new ValueError(`loraPlusParamGroups: lr must be >= 0 and ratio > 0, got lr=${options.lr}, ratio=${ratio}`);
  }
  const weightDecay = options.weightDecay ?? 0;
  const high = new Set<Parameter>();
  for (const [name, param] of adapted.model.namedParameters()) {
    if (!param.requiresGrad) continue;
    if (name.endsWith('.lora_B') || param.ndim === 1) high.add(param);
  }
  const trainable = adapted.trainableParameters();
  return [
    { name: 'lora_A and other matrices', params: trainable.filter((p) => !high.has(p)), lr: options.lr, weightDecay },
    { name: 'lora_B and 1-D tensors', params: trainable.filter((p) => high.has(p)), lr: options.lr * ratio, weightDecay },
  ];
}

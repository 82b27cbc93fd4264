/**
 * AdamW: Adam with decoupled weight decay, following `torch.optim.AdamW`. Before the Adam update
 * the parameter shrinks by θ ← θ(1 − γλ), and λθ is not added to the gradient, so the decay does
 * not pass through the adaptive scaling (Loshchilov and Hutter, "Decoupled Weight Decay
 * Regularization", ICLR 2019). The default weight decay is 1e-2, as in PyTorch.
 */
import type { Tensor } from '../../index.js';
import { Adam, type AdamHyperparameters, type AdamOptions } from './adam.js';
import type { ParamGroupInput } from './optimizer.js';

export class AdamW extends Adam {
  constructor(params: Tensor[] | ParamGroupInput<AdamHyperparameters>[], options: AdamOptions = {}) {
    super(params, { ...options, weightDecay: options.weightDecay ?? 1e-2 });
  }

  override get name(): string {
    return 'AdamW';
  }

  protected override get decoupledWeightDecay(): boolean {
    return true;
  }
}

/**
 * Adam, following the update of `torch.optim.Adam`, with t the parameter's step count:
 *
 *   g ← ∇f(θ), negated if maximize
 *   g ← g + λθ                                   (L2 weight decay λ; AdamW decays θ instead)
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   v_max ← max(v_max, v) if amsgrad, and v_max replaces v below
 *   θ ← θ − γ · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
 *
 * ε is added after the square root of the bias-corrected second moment, as in PyTorch.
 */
import { type Tensor, zerosLike } from '../../index.js';
import { keep } from '../../core/memory.js';
import { type ParamGroup, type ParamGroupInput, Optimizer, type StateSchema } from './optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative } from './validate.js';

export type AdamHyperparameters = {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
};

export type AdamOptions = Partial<AdamHyperparameters>;

export type AdamState = {
  /** Updates applied to this parameter, t in the bias corrections. */
  step: number;
  /** First moment m. */
  expAvg: Tensor;
  /** Second moment v. */
  expAvgSq: Tensor;
  /** Running maximum of v, kept only with amsgrad. */
  maxExpAvgSq?: Tensor;
};

export class Adam extends Optimizer<AdamHyperparameters, AdamState> {
  constructor(params: Tensor[] | ParamGroupInput<AdamHyperparameters>[], options: AdamOptions = {}) {
    super(params, {
      lr: options.lr ?? 1e-3,
      betas: options.betas ?? [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 0,
      amsgrad: options.amsgrad ?? false,
      maximize: options.maximize ?? false,
    });
  }

  override get name(): string {
    return 'Adam';
  }

  /** Returns true when weight decay shrinks θ directly (AdamW) instead of adding λθ to the gradient. */
  protected get decoupledWeightDecay(): boolean {
    return false;
  }

  protected override validateHyperparameters(h: AdamHyperparameters, where: string): void {
    checkNonNegative(this.name, 'lr', h.lr, where);
    checkBetas(this.name, h.betas, where);
    checkNonNegative(this.name, 'eps', h.eps, where);
    checkNonNegative(this.name, 'weightDecay', h.weightDecay, where);
    checkBoolean(this.name, 'amsgrad', h.amsgrad, where);
    checkBoolean(this.name, 'maximize', h.maximize, where);
  }

  protected override stateSchema(group: ParamGroup<AdamHyperparameters>): StateSchema {
    return {
      step: { kind: 'number', required: true },
      expAvg: { kind: 'tensor', required: true },
      expAvgSq: { kind: 'tensor', required: true },
      maxExpAvgSq: { kind: 'tensor', required: group.amsgrad },
    };
  }

  protected override updateParam(param: Tensor, grad: Tensor, group: ParamGroup<AdamHyperparameters>): void {
    const { lr, eps, weightDecay, amsgrad } = group;
    const [beta1, beta2] = group.betas;

    let g = group.maximize ? grad.neg() : grad;
    if (weightDecay !== 0) {
      if (this.decoupledWeightDecay) param.mul_(1 - lr * weightDecay);
      else g = g.add(param.mul(weightDecay));
    }

    const state = this.stateFor(param);
    state.step += 1;
    state.expAvg.mul_(beta1).add_(g, 1 - beta1);
    state.expAvgSq.mul_(beta2).add_(g.mul(g), 1 - beta2);

    let secondMoment = state.expAvgSq;
    if (amsgrad) {
      // Created on the first amsgrad update, which also covers a group that turns amsgrad on later.
      state.maxExpAvgSq ??= keep(zerosLike(param));
      secondMoment = state.maxExpAvgSq.copy_(state.maxExpAvgSq.maximum(state.expAvgSq));
    }

    const biasCorrection1 = 1 - beta1 ** state.step;
    const biasCorrection2 = 1 - beta2 ** state.step;
    const denominator = secondMoment.sqrt().div(Math.sqrt(biasCorrection2)).add(eps);
    param.add_(state.expAvg.div(denominator), -lr / biasCorrection1);
  }

  private stateFor(param: Tensor): AdamState {
    let state = this.state.get(param);
    if (state === undefined) {
      state = { step: 0, expAvg: keep(zerosLike(param)), expAvgSq: keep(zerosLike(param)) };
      this.state.set(param, state);
    }
    return state;
  }
}

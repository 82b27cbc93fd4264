/**
 * Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight
 * decay, following the update of `torch.optim.SGD` (PyTorch 2.x):
 *
 *   g ← ∇f(θ), negated if maximize
 *   g ← g + λθ                                  (weight decay λ)
 *   b ← g on the first step, else μb + (1 − τ)g  (momentum μ, dampening τ)
 *   g ← g + μb if nesterov, else b
 *   θ ← θ − γg                                  (learning rate γ)
 *
 * NOTE: PyTorch's documentation pseudo-code applies maximize at the end (θ ← θ + γg), but its
 * implementation negates the gradient first, as here. The two differ only when maximize is
 * combined with weight decay: negating first keeps weight decay pulling θ towards zero.
 */
import { type Tensor, ValueError } from '../../index.js';
import { keep } from '../../core/memory.js';
import { type ParamGroup, type ParamGroupInput, Optimizer, type StateSchema } from './optimizer.js';
import { checkBoolean, checkNonNegative, checkNumber } from './validate.js';

export type SGDHyperparameters = {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
};

export type SGDOptions = Partial<SGDHyperparameters> & { lr: number };

export type SGDState = { momentumBuffer?: Tensor };

export class SGD extends Optimizer<SGDHyperparameters, SGDState> {
  constructor(params: Tensor[] | ParamGroupInput<SGDHyperparameters>[], options: SGDOptions) {
    if (options?.lr === undefined) throw new ValueError('SGD: missing lr; pass the learning rate, for example new SGD(params, { lr: 0.1 })');
    super(params, {
      lr: options.lr,
      momentum: options?.momentum ?? 0,
      dampening: options?.dampening ?? 0,
      weightDecay: options?.weightDecay ?? 0,
      nesterov: options?.nesterov ?? false,
      maximize: options?.maximize ?? false,
    });
  }

  override get name(): string {
    return 'SGD';
  }

  protected override validateHyperparameters(h: SGDHyperparameters, where: string): void {
    checkNonNegative('SGD', 'lr', h.lr, where);
    const momentum = checkNonNegative('SGD', 'momentum', h.momentum, where);
    const dampening = checkNumber('SGD', 'dampening', h.dampening, where);
    checkNonNegative('SGD', 'weightDecay', h.weightDecay, where);
    const nesterov = checkBoolean('SGD', 'nesterov', h.nesterov, where);
    checkBoolean('SGD', 'maximize', h.maximize, where);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new ValueError(
        `SGD: nesterov needs momentum > 0 and dampening = 0, got momentum ${momentum} and dampening ${dampening}${where}; set a positive momentum and zero dampening, or turn nesterov off`,
      );
    }
  }

  protected override stateSchema(): StateSchema {
    return { momentumBuffer: { kind: 'tensor', required: false } };
  }

  protected override updateParam(param: Tensor, grad: Tensor, group: ParamGroup<SGDHyperparameters>): void {
    let direction = group.maximize ? grad.neg() : grad;
    if (group.weightDecay !== 0) direction = direction.add(param.mul(group.weightDecay));

    if (group.momentum !== 0) {
      let buffer = this.state.get(param)?.momentumBuffer;
      if (buffer === undefined) {
        buffer = keep(direction.clone().detach());
        this.state.set(param, { momentumBuffer: buffer });
      } else {
        buffer.mul_(group.momentum).add_(direction, 1 - group.dampening);
      }
      direction = group.nesterov ? direction.add(buffer.mul(group.momentum)) : buffer;
    }

    param.add_(direction, -group.lr);
  }
}

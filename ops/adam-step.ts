/**
 * One Adam update as a single in-place op, for optimizers: torch.optim.Adam's formula
 *
 *   g ← ∇f(θ), negated if maximize;  g ← g + λθ (Adam's L2 decay) or θ ← (1 - γλ) θ (AdamW)
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   θ ← θ − γ · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
 *
 * On a backend with a fused kernel this is one pass over θ, g, m and v; otherwise it runs the
 * same formula as separate in-place ops.
 */
import { type AdamStepOptions, backendOf } from '../core/backend.js';
import { ShapeError, ValueError, formatShape } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { sameShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { add, div, mul, neg, sqrt } from './elementwise.js';
import { add_, mul_ } from './inplace.js';

export type { AdamStepOptions };

/**
 * Updates `param`, `expAvg` (m) and `expAvgSq` (v) in place for the gradient `grad` at step
 * `options.step` (1 for the first update). m and v must be contiguous tensors of param's shape
 * and dtype, owned by the caller (optimizer state). No graph is recorded.
 */
export function adamStep_(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, options: AdamStepOptions): void {
  const op = 'adamStep_';
  for (const [name, t] of [['grad', grad], ['expAvg', expAvg], ['expAvgSq', expAvgSq]] as const) {
    if (!sameShape(t.shape, param.shape)) {
      throw new ShapeError(`${op}: ${name} has shape ${formatShape(t.shape)} but param has ${formatShape(param.shape)}; they must match`);
    }
  }
  if (!Number.isInteger(options.step) || options.step < 1) {
    throw new ValueError(`${op}: step must be a positive integer (1 for the first update), got ${options.step}`);
  }

  const backend = backendOf(op, param, grad, expAvg, expAvgSq);
  const fusable = backend.adamStep !== undefined && expAvg.isContiguous() && expAvgSq.isContiguous()
    && [grad, expAvg, expAvgSq].every((t) => t.dtype === param.dtype) && param.isFloatingPoint();
  noGrad(() => {
    if (fusable) {
      backend.adamStep!(param, grad, expAvg, expAvgSq, options);
    } else {
      composedStep(param, grad, expAvg, expAvgSq, options);
    }
  });
  param._bumpVersion();
  expAvg._bumpVersion();
  expAvgSq._bumpVersion();
}

/** Runs the same update as separate ops, for backends without a fused kernel. */
function composedStep(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, o: AdamStepOptions): void {
  let g = o.maximize ? neg(grad) : grad;
  if (o.weightDecay !== 0) {
    if (o.decoupled) mul_(param, 1 - o.lr * o.weightDecay);
    else g = add(g, mul(param, o.weightDecay));
  }
  add_(mul_(expAvg, o.beta1), g, 1 - o.beta1);
  add_(mul_(expAvgSq, o.beta2), mul(g, g), 1 - o.beta2);
  const biasCorrection1 = 1 - o.beta1 ** o.step;
  const biasCorrection2 = 1 - o.beta2 ** o.step;
  const denominator = add(div(sqrt(expAvgSq), Math.sqrt(biasCorrection2)), o.eps);
  add_(param, div(expAvg, denominator), -o.lr / biasCorrection1);
}

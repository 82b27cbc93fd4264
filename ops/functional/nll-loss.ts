/** Negative log-likelihood loss over log-probabilities, as torch.nn.functional.nll_loss. */
import { Tensor } from '../../core/tensor.js';
import { div } from '../elementwise.js';
import { sum } from '../reduce.js';
import { reshape } from '../shape.js';
import { assertFloating } from '../util.js';
import { addBatchDim, checkClassIndexTarget, checkClassWeight, classIndexTerms } from './class-target.js';
import { type Reduction, checkReduction } from './reduction.js';

export interface NllLossOptions {
  /** Rescaling weight per class: a 1-D tensor of C elements. */
  weight?: Tensor | null;
  /** A target value that contributes neither to the loss nor to the mean's denominator. */
  ignoreIndex?: number;
  reduction?: Reduction;
}

/**
 * Returns `-weight[y] * input[n, y]` per element, for `input` of log-probabilities shaped (C),
 * (N, C) or (N, C, d1, ...) and int32 class indices `target` shaped (), (N) or (N, d1, ...).
 * 'mean' divides by the sum of the weights of the targets that are not ignored.
 */
export function nllLoss(input: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor {
  const op = 'nllLoss';
  assertFloating(op, input);
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const ignoreIndex = options.ignoreIndex ?? -100;
  const batched = addBatchDim(op, input, target);
  checkClassIndexTarget(op, batched.input, batched.target, batched.unbatched);
  const weight = checkClassWeight(op, options.weight, batched.input.shape[1]);

  const { losses, targetWeights } = classIndexTerms(op, batched.input, batched.target, weight, ignoreIndex);
  return reduceWeighted(losses, targetWeights, reduction, batched.unbatched);
}

/**
 * Reduces class-index losses: 'mean' is the weighted mean over the target weights (NaN when
 * every target is ignored, as in PyTorch), and 'none' drops the batch dim that addBatchDim added.
 */
export function reduceWeighted(losses: Tensor, targetWeights: Tensor, reduction: Reduction, unbatched: boolean): Tensor {
  if (reduction === 'sum') return sum(losses);
  if (reduction === 'mean') return div(sum(losses), sum(targetWeights));
  return unbatched ? reshape(losses, []) : losses;
}

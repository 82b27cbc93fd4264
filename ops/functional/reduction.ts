/** The `reduction` argument that every loss takes, with the meanings of torch.nn.functional. */
import { ValueError } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import { mean, sum } from '../reduce.js';

/** `'none'` keeps one loss per element, `'sum'` adds them, `'mean'` averages them. */
export type Reduction = 'mean' | 'sum' | 'none';

/** Returns `reduction` typed as a Reduction, or throws a ValueError naming the op and the value. */
export function checkReduction(op: string, reduction: string): Reduction {
  if (reduction === 'mean' || reduction === 'sum' || reduction === 'none') return reduction;
  throw new ValueError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
}

/** Reduces elementwise losses; 'mean' divides by the element count, so an empty batch gives NaN as in PyTorch. */
export function reduceLoss(losses: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return losses;
  if (reduction === 'sum') return sum(losses);
  return mean(losses);
}

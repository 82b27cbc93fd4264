/** Mean squared error, as torch.nn.functional.mse_loss. */
import { ShapeError, formatShape } from '../../core/errors.js';
import { sameShape } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { square, sub } from '../elementwise.js';
import { assertFloating } from '../util.js';
import { type Reduction, checkReduction, reduceLoss } from './reduction.js';

/**
 * Returns `(input - target)^2` reduced by `reduction`. Both may require grad. The shapes must
 * match: PyTorch broadcasts different shapes with only a warning, which usually hides a bug.
 */
export function mseLoss(input: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  const op = 'mseLoss';
  assertFloating(op, input);
  assertFloating(`${op} (target)`, target);
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  if (!sameShape(input.shape, target.shape)) {
    throw new ShapeError(
      `${op}: input of shape ${formatShape(input.shape)} and target of shape ${formatShape(target.shape)} differ; ` +
        `the shapes must match, so expand or reshape the target explicitly if broadcasting is intended`,
    );
  }
  return reduceLoss(square(sub(input, target)), reduction);
}

/** Mean squared error, as torch.nn.functional.mse_loss. */
import { record } from '../../core/autograd.js';
import { type Backend, backendOf } from '../../core/backend.js';
import { ShapeError, formatShape } from '../../core/errors.js';
import { isGradEnabled } from '../../core/grad-mode.js';
import { sameShape } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { mul, neg, square, sub } from '../elementwise.js';
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
  const backend = backendOf(op, input, target);
  const fusable = reduction !== 'none' && input.dtype === target.dtype
    && backend.squaredErrorSum !== undefined && backend.squaredErrorBackward !== undefined;
  if (fusable) return fusedMseLoss(backend, input, target, reduction === 'mean' ? 1 / input.numel() : 1);
  return reduceLoss(square(sub(input, target)), reduction);
}

/**
 * Computes the summed or averaged squared error as one kernel and one graph node: `scale · Σ (x - t)²`
 * forward and `2 · scale · g · (x - t)` backward, one pass each instead of a chain of four
 * elementwise and reduction ops. A graph of the gradient gets the same formula as recorded ops.
 */
function fusedMseLoss(backend: Backend, input: Tensor, target: Tensor, scale: number): Tensor {
  const out = backend.squaredErrorSum!(input, target, scale);
  return record('MseLoss', [input, target], out, (g) => {
    let inputGrad: Tensor;
    if (isGradEnabled()) inputGrad = mul(sub(input, target), mul(g, 2 * scale));
    else inputGrad = backend.squaredErrorBackward!(g, input, target, scale);
    return [input._requiresGrad ? inputGrad : null, target._requiresGrad ? neg(inputGrad) : null];
  }, [input, target]);
}

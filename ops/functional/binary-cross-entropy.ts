/** Binary cross-entropy on logits, as torch.nn.functional.binary_cross_entropy_with_logits. */
import { record } from '../../core/autograd.js';
import { ShapeError, formatShape } from '../../core/errors.js';
import { noGrad } from '../../core/grad-mode.js';
import { broadcastShapes, sameShape } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { abs, add, exp, log1p, mul, neg, relu, sigmoid, sub } from '../elementwise.js';
import { assertFloating } from '../util.js';
import { type Reduction, checkReduction, reduceLoss } from './reduction.js';

export interface BinaryCrossEntropyWithLogitsOptions {
  /** Rescaling weight per element, broadcast to the input's shape. */
  weight?: Tensor | null;
  /** Weight of the positive term, broadcast to the input's shape (usually one entry per class, shape (C)). */
  posWeight?: Tensor | null;
  reduction?: Reduction;
}

/**
 * Returns `-weight * (posWeight * y log σ(x) + (1 - y) log(1 - σ(x)))` per element for logits x
 * and targets y in [0, 1], computed as `(1 - y) x + (1 + (posWeight - 1) y) softplus(-x)` so
 * that no exp overflows.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: BinaryCrossEntropyWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  assertFloating(op, input);
  assertFloating(`${op} (target)`, target);
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  if (!sameShape(input.shape, target.shape)) {
    throw new ShapeError(`${op}: target of shape ${formatShape(target.shape)} must have the input's shape ${formatShape(input.shape)}`);
  }

  const negativeTerm = mul(sub(1, target), input);
  let positiveScale: Tensor | number = 1;
  if (options.posWeight !== undefined && options.posWeight !== null) {
    checkBroadcastsTo(op, 'posWeight', options.posWeight, input.shape);
    positiveScale = add(mul(sub(options.posWeight, 1), target), 1);
  }
  let losses = add(negativeTerm, mul(softplus(neg(input)), positiveScale));
  if (options.weight !== undefined && options.weight !== null) {
    checkBroadcastsTo(op, 'weight', options.weight, input.shape);
    losses = mul(losses, options.weight);
  }
  return reduceLoss(losses, reduction);
}

function checkBroadcastsTo(op: string, name: string, value: Tensor, shape: number[]): void {
  const result = broadcastShapes(value.shape, shape, op);
  if (!sameShape(result, shape)) {
    throw new ShapeError(`${op}: ${name} of shape ${formatShape(value.shape)} must broadcast to the input's shape ${formatShape(shape)}, but they broadcast to ${formatShape(result)}`);
  }
}

/**
 * `log(1 + exp(x))` as `max(x, 0) + log1p(exp(-|x|))`, which never exponentiates a positive
 * number. Its backward is `g σ(x)`, exact at x = 0 where the kinks of max and |x| would each
 * give a one-sided derivative.
 */
function softplus(x: Tensor): Tensor {
  const out = noGrad(() => add(relu(x), log1p(exp(neg(abs(x))))));
  return record('Softplus', [x], out, (g) => [mul(g, sigmoid(x))], [x]);
}

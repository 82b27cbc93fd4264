/** Cross-entropy between logits and a target, as torch.nn.functional.cross_entropy. */
import { record } from '../../core/autograd.js';
import { backendOf } from '../../core/backend.js';
import { isFloatingDType } from '../../core/dtype.js';
import { DTypeError, IndexError, ValueError, formatShape } from '../../core/errors.js';
import { isGradEnabled } from '../../core/grad-mode.js';
import { sameShape } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { add, div, mul, neg, sub } from '../elementwise.js';
import { sum } from '../reduce.js';
import { reshape, unsqueeze } from '../shape.js';
import { logSoftmax, softmax } from '../softmax.js';
import { assertFloating } from '../util.js';
import { addBatchDim, checkClassIndexTarget, checkClassWeight, classIndexTerms, classWeightView } from './class-target.js';
import { type NllLossOptions, reduceWeighted } from './nll-loss.js';
import { type Reduction, checkReduction, reduceLoss } from './reduction.js';

export interface CrossEntropyOptions extends NllLossOptions {
  /** Mixes the target with the uniform distribution, `(1 - labelSmoothing) target + labelSmoothing / C`; in [0, 1]. */
  labelSmoothing?: number;
}

/**
 * Computes the cross-entropy of logits `input` shaped (C), (N, C) or (N, C, d1, ...). The target
 * is either int32 class indices shaped (), (N) or (N, d1, ...), or class probabilities. As in
 * PyTorch, a target with the input's shape is read as probabilities. The loss is computed from
 * logSoftmax, so large logits stay finite.
 *
 * With class indices, 'mean' divides by the sum of `weight[y]` over targets that are not
 * ignored, and label smoothing adds `labelSmoothing / C * -sum_c weight[c] log p[c]` per element.
 * With probabilities, 'mean' divides by the number of elements N d1 ..., and ignoreIndex must
 * stay negative.
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  assertFloating(op, input);
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const ignoreIndex = options.ignoreIndex ?? -100;
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) {
    throw new ValueError(`${op}: labelSmoothing must lie in [0, 1], got ${smoothing}`);
  }

  const batched = addBatchDim(op, input, target);
  const weight = checkClassWeight(op, options.weight, batched.input.shape[1]);
  const settings: LossSettings = { op, weight, ignoreIndex, smoothing, reduction, unbatched: batched.unbatched };
  if (sameShape(input.shape, target.shape)) {
    return probabilityTargetLoss(batched.input, batched.target, settings);
  }
  checkClassIndexTarget(op, batched.input, batched.target, batched.unbatched);
  return classIndexTargetLoss(batched.input, batched.target, settings);
}

interface LossSettings {
  op: string;
  weight: Tensor | null;
  ignoreIndex: number;
  smoothing: number;
  reduction: Reduction;
  unbatched: boolean;
}

/** `-sum_c weight[c] * target[c] * log p[c]` per element; the target may require grad. */
function probabilityTargetLoss(input: Tensor, target: Tensor, settings: LossSettings): Tensor {
  const { op, weight, ignoreIndex, smoothing, reduction, unbatched } = settings;
  if (!isFloatingDType(target.dtype)) {
    throw new DTypeError(
      `${op}: a target with the input's shape ${formatShape(unbatched ? target.shape.slice(1) : target.shape)} is read as class probabilities, so it must be float, got ${target.dtype}; ` +
        `pass class indices as int32 without the class dim`,
    );
  }
  if (ignoreIndex >= 0) {
    throw new ValueError(`${op}: ignoreIndex ${ignoreIndex} is not supported with class-probability targets; leave it at its default (-100) or pass class indices`);
  }

  const numClasses = input.shape[1];
  const logProbs = logSoftmax(input, 1);
  const mixed = smoothing > 0 ? add(mul(target, 1 - smoothing), smoothing / numClasses) : target;
  const weighted = weight === null ? mixed : mul(mixed, classWeightView(weight, input.ndim));
  const losses = neg(sum(mul(logProbs, weighted), 1));
  if (reduction === 'none' && unbatched) return reshape(losses, []);
  return reduceLoss(losses, reduction);
}

/** Computes the weighted negative log-likelihood of the target class, mixed with the smoothing term. */
function classIndexTargetLoss(input: Tensor, target: Tensor, settings: LossSettings): Tensor {
  const { op, weight, ignoreIndex, smoothing, reduction, unbatched } = settings;
  if (weight === null && smoothing === 0 && input.ndim === 2) {
    const fused = fusedClassIndexLoss(input, target, settings);
    if (fused !== null) return fused;
  }
  const logProbs = logSoftmax(input, 1);
  const terms = classIndexTerms(op, logProbs, target, weight, ignoreIndex);
  if (smoothing === 0) return reduceWeighted(terms.losses, terms.targetWeights, reduction, unbatched);

  // The uniform part weights every class by its own weight[c], not by weight[y]. Ignored targets
  // drop out of it too, and the mean still divides by the sum of weight[y].
  const weightedLogProbs = weight === null ? logProbs : mul(logProbs, classWeightView(weight, input.ndim));
  const uniformLosses = mul(neg(sum(weightedLogProbs, 1)), terms.valid);
  const mixed = add(mul(terms.losses, 1 - smoothing), mul(uniformLosses, smoothing / input.shape[1]));
  return reduceWeighted(mixed, terms.targetWeights, reduction, unbatched);
}

/**
 * Cross-entropy of scores (N, C) against class indices without weight or smoothing, the common
 * training case, as one kernel and one graph node over the per-row losses; the reduction runs
 * as ordinary ops on top. Backward is `g · (softmax(x) - onehot(y))` in one pass. When a graph
 * of the gradient is being built, the same formula runs with recorded ops. Returns null when the
 * backend has no fused kernel.
 */
function fusedClassIndexLoss(input: Tensor, target: Tensor, settings: LossSettings): Tensor | null {
  const { op, ignoreIndex, reduction, unbatched } = settings;
  const backend = backendOf(op, input);
  if (backend.crossEntropy === undefined || backend.crossEntropyBackward === undefined || target.device !== input.device) return null;

  const [rows, numClasses] = input.shape;
  const classes = target.toTypedArray() as Int32Array;
  let validCount = 0;
  for (const value of classes) {
    if (value === ignoreIndex) continue;
    if (value < 0 || value >= numClasses) {
      throw new IndexError(
        `${op}: target ${value} is out of bounds for ${numClasses} classes; class indices must lie in [0, ${numClasses - 1}] or equal ignoreIndex (${ignoreIndex})`,
      );
    }
    validCount++;
  }

  const indices = backend.fromTypedArray(classes, [rows], 'int32');
  const { losses, logSumExp } = backend.crossEntropy(input, indices, ignoreIndex);
  const perRow = record('CrossEntropy', [input], losses, (g) => {
    if (!isGradEnabled()) return [backend.crossEntropyBackward!(g, input, indices, logSumExp, ignoreIndex)];
    const validOneHot = new Float64Array(rows * numClasses);
    const valid = new Float64Array(rows);
    classes.forEach((value, r) => {
      if (value === ignoreIndex) return;
      validOneHot[r * numClasses + value] = 1;
      valid[r] = 1;
    });
    const toInput = (values: Float64Array, shape: number[]) => backend.cast(backend.fromTypedArray(values, shape, 'float64'), input.dtype);
    const probabilities = mul(softmax(input, 1), toInput(valid, [rows, 1]));
    return [mul(sub(probabilities, toInput(validOneHot, [rows, numClasses])), unsqueeze(g, 1))];
  }, [input]);

  if (reduction === 'none') return unbatched ? reshape(perRow, []) : perRow;
  if (reduction === 'sum') return sum(perRow);
  // The mean is over the targets that are not ignored; none left gives 0 / 0 = NaN, as in PyTorch.
  return div(sum(perRow), validCount);
}

/**
 * Steps shared by the losses over class scores (nllLoss, crossEntropy): the unbatched form, the
 * class weight check, and the pick of each element's target score. That pick is one gather,
 * which reads N elements where a product with a one-hot target would read all N C.
 */
import { getBackend } from '../../core/backend.js';
import { DTypeError, IndexError, ShapeError, formatShape } from '../../core/errors.js';
import { sameShape } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { mul, neg } from '../elementwise.js';
import { gather, indexSelect } from '../indexing.js';
import { reshape, unsqueeze } from '../shape.js';
import { assertFloating } from '../util.js';

/** Scores and target with the batch dim present, and whether it was added. */
export interface BatchedLossInput {
  input: Tensor;
  target: Tensor;
  unbatched: boolean;
}

/**
 * Adds a batch dim of 1 to an unbatched input of shape (C) and its target, so the losses handle
 * one layout: (N, C, d1, ...) with the class dim at 1.
 */
export function addBatchDim(op: string, input: Tensor, target: Tensor): BatchedLossInput {
  if (input.ndim === 0) {
    throw new ShapeError(`${op}: input must have a class dim, shape (C), (N, C) or (N, C, d1, ...), got a 0-d tensor`);
  }
  if (input.ndim > 1) return { input, target, unbatched: false };
  return { input: unsqueeze(input, 0), target: unsqueeze(target, 0), unbatched: true };
}

/** Checks that a class weight is a floating 1-D tensor of C elements. */
export function checkClassWeight(op: string, weight: Tensor | null | undefined, numClasses: number): Tensor | null {
  if (weight === undefined || weight === null) return null;
  assertFloating(`${op} (weight)`, weight);
  if (weight.ndim !== 1 || weight.shape[0] !== numClasses) {
    throw new ShapeError(`${op}: weight must be a 1-D tensor with one entry per class (${numClasses}), got shape ${formatShape(weight.shape)}`);
  }
  return weight;
}

/** Reshapes a class weight of shape (C) to (1, C, 1, ...) so that it broadcasts over scores of `rank` dims. */
export function classWeightView(weight: Tensor, rank: number): Tensor {
  const shape = new Array<number>(rank).fill(1);
  shape[1] = weight.shape[0];
  return reshape(weight, shape);
}

/** Checks that a class-index target is int32 and shaped like the batched input without its class dim. */
export function checkClassIndexTarget(op: string, input: Tensor, target: Tensor, unbatched: boolean): void {
  const expected = [input.shape[0], ...input.shape.slice(2)];
  // Messages show shapes as the caller passed them, without the batch dim that addBatchDim added.
  const callerShape = (shape: number[]): string => formatShape(unbatched ? shape.slice(1) : shape);
  if (target.dtype !== 'int32') {
    throw new DTypeError(
      `${op}: class-index target must be int32, got ${target.dtype} of shape ${callerShape(target.shape)}; ` +
        `pass class indices with .int(), or class probabilities as a float tensor of the input's shape ${callerShape(input.shape)}`,
    );
  }
  if (!sameShape(target.shape, expected)) {
    throw new ShapeError(
      `${op}: target of shape ${callerShape(target.shape)} does not fit input of shape ${callerShape(input.shape)}; ` +
        `class indices need shape ${callerShape(expected)}, the input's shape without its class dim`,
    );
  }
}

/** Per-element terms of a class-index loss, in the target's (batched) shape. */
export interface ClassIndexTerms {
  /** `-w[y] * input[y]`, and 0 where the target equals ignoreIndex. */
  losses: Tensor;
  /** `w[y]` (1 without a weight), and 0 where the target equals ignoreIndex: the mean's denominator terms. */
  targetWeights: Tensor;
  /** 1 where the target is a class, 0 where it equals ignoreIndex, in the input's dtype. */
  valid: Tensor;
}

/**
 * Picks `-weight[y] * input[n, y, ...]` for every target element y. Targets equal to
 * ignoreIndex are pointed at class 0 for the gather and then zeroed, so they add nothing.
 */
export function classIndexTerms(op: string, input: Tensor, target: Tensor, weight: Tensor | null, ignoreIndex: number): ClassIndexTerms {
  const numClasses = input.shape[1];
  const classes = target.toTypedArray() as Int32Array;
  const safeIndex = new Int32Array(classes.length);
  const validData = input.dtype === 'float64' ? new Float64Array(classes.length) : new Float32Array(classes.length);
  for (let i = 0; i < classes.length; i++) {
    const value = classes[i];
    if (value === ignoreIndex) continue;
    if (value < 0 || value >= numClasses) {
      throw new IndexError(
        `${op}: target ${value} is out of bounds for ${numClasses} classes; class indices must lie in [0, ${numClasses - 1}] or equal ignoreIndex (${ignoreIndex})`,
      );
    }
    safeIndex[i] = value;
    validData[i] = 1;
  }

  const backend = getBackend(input.device);
  const valid = backend.fromTypedArray(validData, target.shape, input.dtype);
  const gatherShape = [...target.shape];
  gatherShape.splice(1, 0, 1);
  const picked = reshape(gather(input, 1, backend.fromTypedArray(safeIndex, gatherShape, 'int32')), target.shape);

  let targetWeights = valid;
  if (weight !== null) {
    const perElement = indexSelect(weight, 0, backend.fromTypedArray(safeIndex, [safeIndex.length], 'int32'));
    targetWeights = mul(reshape(perElement, target.shape), valid);
  }
  return { losses: neg(mul(picked, targetWeights)), targetWeights, valid };
}

/**
 * The device interface. Ops in `ops/` compute values only through a `Backend`, chosen from the
 * device of their inputs, and add autograd on top; a new device (the gpu.js backend) registers
 * itself here and every op runs on it without changes to op code.
 *
 * Backend methods take and return tensors that carry no autograd state. Inputs may be any view
 * (strided, broadcast with stride 0, offset); outputs are fresh contiguous tensors.
 */
import type { DType, TypedArray } from './dtype.js';
import { DeviceError } from './errors.js';
import type { Device, Tensor } from './tensor.js';

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'log1p' | 'expm1' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'sin' | 'cos'
  | 'tanh' | 'sigmoid' | 'relu' | 'erf' | 'reciprocal' | 'square' | 'floor' | 'ceil' | 'round'
  | 'logical_not' | 'isnan' | 'isfinite';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'logical_and' | 'logical_or';

/** Comparisons and logical ops return bool tensors; the rest keep the input dtype. */
export const BOOLEAN_BINARY_OPS: ReadonlySet<BinaryOp> = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or']);
export const BOOLEAN_UNARY_OPS: ReadonlySet<UnaryOp> = new Set(['logical_not', 'isnan', 'isfinite']);

export type ReduceOp = 'sum' | 'prod' | 'max' | 'min';
export type ArgReduceOp = 'argmax' | 'argmin';

export interface Backend {
  readonly device: Device;

  /** Makes a tensor on this device from a contiguous typed array (copying to device memory if needed). */
  fromTypedArray(data: TypedArray, shape: readonly number[], dtype: DType): Tensor;
  /** Returns the elements of `x` (any view) as a fresh row-major typed array on the host. */
  toTypedArray(x: Tensor): TypedArray;
  /** Returns a tensor of the given shape filled with `value`. */
  full(shape: readonly number[], value: number, dtype: DType): Tensor;

  /** Copies any view into a fresh row-major tensor. */
  contiguous(x: Tensor): Tensor;
  cast(x: Tensor, dtype: DType): Tensor;

  unary(op: UnaryOp, x: Tensor): Tensor;
  /** Elementwise op with NumPy broadcasting; both inputs have the same dtype. */
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor;
  /** `cond ? a : b` with broadcasting of all three; `cond` is bool, `a` and `b` share a dtype. */
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor;
  clamp(x: Tensor, min: number, max: number): Tensor;

  /** Reduces over `dims` (sorted, unique); kept dims have size 1 when `keepdim`. */
  reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor;
  /** Index of the max or min along one dim, as int32; the first index wins on ties. */
  argReduce(op: ArgReduceOp, x: Tensor, dim: number, keepdim: boolean): Tensor;

  /**
   * Batched matrix product of operands of rank >= 2 whose batch dims broadcast. Transposed views
   * (last-dim stride not 1) are read in place.
   */
  matmul(a: Tensor, b: Tensor): Tensor;

  /** `out[i][j] = x[i][index[i][j]]` along `dim` (shown for dim 1), index is int32. */
  gather(x: Tensor, dim: number, index: Tensor): Tensor;
  /** Returns a copy of `x` with `src` added at the positions `index` names along `dim`. */
  scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor;
  /** Selects whole slices along `dim` by a 1-D int32 index. */
  indexSelect(x: Tensor, dim: number, index: Tensor): Tensor;
  /** Returns a zero tensor of `shape` with `src` slices added at `index` along `dim` (indexSelect's adjoint). */
  indexAdd(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor;
  cat(xs: readonly Tensor[], dim: number): Tensor;

  /** Writes `src` (broadcast to `dst`'s shape) into the view `dst`, in place. */
  copyInto(dst: Tensor, src: Tensor): void;

  /** Numerically stable softmax or log-softmax along `dim` (a fused kernel; composable ops would work too). */
  softmax(x: Tensor, dim: number, log: boolean): Tensor;

  /** Exempts `x`'s memory from scoped cleanup (see core/memory.ts); backends without scopes omit it. */
  keep?(x: Tensor): void;

  // ---- optional kernels ---------------------------------------------------------------------
  // Ops use these when the backend has them and compose the kernels above otherwise, so a new
  // backend can start without them. They save memory passes and allocations on hot paths.

  /**
   * `x ← x op (alpha · y)` in place, with `y` (x's dtype) broadcast to x's shape; alpha scales y
   * for add and sub only. `y` must not overlap `x` unless it is the same view.
   */
  binaryInPlace?(op: InPlaceBinaryOp, x: Tensor, y: Tensor, alpha: number): void;

  /** `grad · (input > 0)`, the gradient of relu, with grad and input broadcast as in `binary`. */
  reluBackward?(grad: Tensor, input: Tensor): Tensor;

  /**
   * The gradient of softmax (or log-softmax when `log`) along the last dim, times `scale`, from
   * the gradient of the output and the forward output itself (both of the input's shape).
   */
  softmaxBackward?(grad: Tensor, output: Tensor, log: boolean, scale: number): Tensor;

  /**
   * Softmax along the last dim of `scale · x + mask`: the attention weights. The mask broadcasts
   * to x; a bool mask excludes the positions where it is false, a mask of x's dtype is added.
   */
  scaledSoftmax?(x: Tensor, scale: number, mask: Tensor | null): Tensor;

  /**
   * Cross-entropy of logits [N, C] against int32 class indices [N] (already checked to lie in
   * [0, C) or equal ignoreIndex): per-row losses `logsumexp(x) - x[target]`, 0 on ignored rows,
   * and the per-row log-sum-exp (float64, [N]) for backward.
   */
  crossEntropy?(logits: Tensor, target: Tensor, ignoreIndex: number): { losses: Tensor; logSumExp: Tensor };

  /** The gradient of `crossEntropy` for per-row loss gradients `grad` [N]: `grad · (softmax(x) - onehot(target))`. */
  crossEntropyBackward?(grad: Tensor, logits: Tensor, target: Tensor, logSumExp: Tensor, ignoreIndex: number): Tensor;

  /** `scale · sum((input - target)²)` over all elements of two tensors of one shape, as a 0-d tensor. */
  squaredErrorSum?(input: Tensor, target: Tensor, scale: number): Tensor;

  /** `2 · scale · grad · (input - target)`, the input gradient of `squaredErrorSum` for a one-element `grad`. */
  squaredErrorBackward?(grad: Tensor, input: Tensor, target: Tensor, scale: number): Tensor;

  /**
   * One Adam (or AdamW) update of `param`, `expAvg` and `expAvgSq` in place from `grad`, all of
   * one shape and floating dtype. `expAvg` and `expAvgSq` must be contiguous and must not overlap
   * the others. `adamStep_` in ops/adam-step.ts gives the formula.
   */
  adamStep?(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, options: AdamStepOptions): void;

  /**
   * Layer norm of each run of the last `size` elements of `x`, with the biased variance:
   * `(x - mean) / sqrt(var + eps) · weight + bias`, weight and bias of `size` elements or null.
   * Also returns each row's mean and rstd = 1 / sqrt(var + eps), shaped [rows], for backward.
   */
  layerNorm?(x: Tensor, weight: Tensor | null, bias: Tensor | null, size: number, eps: number): LayerNormForward;

  /**
   * The gradients of `layerNorm` for the output gradient `grad` (x's shape), from the forward's
   * mean and rstd. Only the gradients flagged in `needs` are computed; the others are null.
   */
  layerNormBackward?(
    grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, weight: Tensor | null, size: number,
    needs: { input: boolean; weight: boolean; bias: boolean },
  ): LayerNormGradients;
}

/** The hyperparameters of one Adam update at step t (counted from 1). */
export interface AdamStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW's decoupled weight decay: shrink θ by (1 - lr·weightDecay) instead of adding weightDecay·θ to g. */
  decoupled: boolean;
  maximize: boolean;
  step: number;
}

export interface LayerNormForward {
  output: Tensor;
  mean: Tensor;
  rstd: Tensor;
}

export interface LayerNormGradients {
  input: Tensor | null;
  weight: Tensor | null;
  bias: Tensor | null;
}

/** The arithmetic ops that `Backend.binaryInPlace` runs. */
export type InPlaceBinaryOp = 'add' | 'sub' | 'mul' | 'div';

const backends = new Map<Device, Backend>();

export function registerBackend(backend: Backend): void {
  backends.set(backend.device, backend);
}

export function getBackend(device: Device): Backend {
  const backend = backends.get(device);
  if (backend === undefined) {
    const hint = device === 'gpu' ? "; import the GPU backend first (it registers the 'gpu' device)" : '';
    throw new DeviceError(`no backend is registered for device '${device}'${hint}`);
  }
  return backend;
}

export function hasBackend(device: Device): boolean {
  return backends.has(device);
}

/** Returns the backend shared by all tensors, or throws naming both devices when they differ. */
export function backendOf(op: string, ...tensors: Tensor[]): Backend {
  const device = tensors[0].device;
  for (const t of tensors) {
    if (t.device !== device) {
      throw new DeviceError(
        `${op}: expected all tensors on the same device, but found '${device}' and '${t.device}'; move them with .to('${device}') or .to('${t.device}') first`,
      );
    }
  }
  return getBackend(device);
}

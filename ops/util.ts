/** Helpers shared by op files: scalar promotion, dtype checks and un-broadcasting of gradients. */
import { type DType, isFloatingDType, promoteTypes } from '../core/dtype.js';
import { DTypeError, formatShape } from '../core/errors.js';
import { getBackend } from '../core/backend.js';
import { sameShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { reshape } from './shape.js';
import { sum } from './reduce.js';

export type TensorLike = Tensor | number;

/** Makes a 0-d tensor holding `value` on the given device. */
export function scalarTensor(value: number, dtype: DType, device: Tensor['device'] = 'cpu'): Tensor {
  return getBackend(device).full([], value, dtype);
}

/**
 * Converts the operands of a binary op to tensors of one dtype. A plain number adopts the dtype
 * of the tensor operand, so `x.mul(2)` stays float32 (PyTorch treats Python scalars the same way).
 */
export function binaryOperands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  for (const operand of [a, b]) {
    if (!(operand instanceof Tensor) && typeof operand !== 'number') {
      throw new DTypeError(`${op}: operands must be Tensors or numbers, got ${operand === null ? 'null' : Array.isArray(operand) ? 'an array' : typeof operand}; wrap arrays with tensor([...])`);
    }
  }
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw new DTypeError(`${op}: at least one operand must be a Tensor, got two numbers (${a}, ${b})`);
  }
  const left = a instanceof Tensor ? a : scalarTensor(a, scalarDType(b as Tensor, a), (b as Tensor).device);
  const right = b instanceof Tensor ? b : scalarTensor(b, scalarDType(left, b), left.device);
  const dtype = promoteTypes(left.dtype, right.dtype);
  return [castTo(left, dtype), castTo(right, dtype)];
}

/** Picks a scalar's dtype: a non-integer scalar with an integer tensor computes in float32, as PyTorch promotes. */
function scalarDType(tensor: Tensor, value: number): DType {
  if (!isFloatingDType(tensor.dtype) && !Number.isInteger(value)) return 'float32';
  return tensor.dtype === 'bool' ? 'int32' : tensor.dtype;
}

/** Casts without recording a gradient when the dtype already matches; see ops/creation for `to`. */
export function castTo(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return castOp(x, dtype);
}

let castOp: (x: Tensor, dtype: DType) => Tensor = () => {
  throw new Error('castTo used before ops/elementwise.ts was loaded');
};

/** @internal Set by ops/elementwise.ts, which defines the differentiable cast. */
export function setCastOp(fn: (x: Tensor, dtype: DType) => Tensor): void {
  castOp = fn;
}

export function assertFloating(op: string, x: Tensor): void {
  if (!isFloatingDType(x.dtype)) {
    throw new DTypeError(`${op}: expected a floating tensor (float32 or float64), got ${x.dtype}; convert it with .float() or .double()`);
  }
}

/**
 * Sums a broadcast gradient back to the shape of the input it flows to: leading dims that
 * broadcasting added are summed away, and dims where the input had size 1 are summed with keepdim.
 */
export function sumToShape(grad: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(grad.shape, shape)) return grad;
  const extra = grad.ndim - shape.length;
  const dims: number[] = [];
  for (let d = 0; d < grad.ndim; d++) {
    if (d < extra || (shape[d - extra] === 1 && grad.shape[d] !== 1)) dims.push(d);
  }
  const reduced = dims.length > 0 ? sum(grad, dims, true) : grad;
  if (reduced.numel() !== shape.reduce((p, s) => p * s, 1)) {
    throw new Error(`internal error: cannot reduce a gradient of shape ${formatShape(grad.shape)} to ${formatShape(shape)}`);
  }
  return reshape(reduced, shape);
}

/**
 * In-place ops (trailing underscore, as in PyTorch). They write into the tensor's storage and
 * bump its version counter, so a backward that saved the old values fails loudly. They are meant
 * for optimizer updates and initialization under noGrad; an in-place change of a leaf that
 * requires grad while recording is rejected, as PyTorch rejects it.
 */
import { type InPlaceBinaryOp, backendOf } from '../core/backend.js';
import { isFloatingDType } from '../core/dtype.js';
import { AutogradError, ShapeError, formatShape } from '../core/errors.js';
import { isGradEnabled } from '../core/grad-mode.js';
import { broadcastShapes, sameShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import * as ew from './elementwise.js';
import { type TensorLike, scalarTensor } from './util.js';

function checkWritable(op: string, x: Tensor): void {
  if (isGradEnabled() && x._requiresGrad && x.isLeaf) {
    throw new AutogradError(
      `${op}: a leaf tensor that requires grad cannot be changed in place while gradients are recorded; wrap the update in noGrad(() => ...)`,
    );
  }
  if (isGradEnabled() && x._gradFn !== null) {
    throw new AutogradError(`${op}: in-place changes of tensors produced by recorded ops are not supported; use the out-of-place op instead`);
  }
}

/** Writes `value` (a tensor broadcast to x's shape, or a number) into x and returns x. */
export const copy_ = (x: Tensor, value: TensorLike): Tensor => write('copy_', x, value);
export const fill_ = (x: Tensor, value: number): Tensor => write('fill_', x, value);
export const zero_ = (x: Tensor): Tensor => write('zero_', x, 0);

/** Writes `value` into `x` for every in-place op; errors report the op as `op`. */
function write(op: string, x: Tensor, value: TensorLike): Tensor {
  checkWritable(op, x);
  const source = value instanceof Tensor ? value : scalarTensor(value, x.dtype, x.device);
  const shape = broadcastShapes(source.shape, x.shape, op);
  if (!sameShape(shape, x.shape)) {
    throw new ShapeError(`${op}: source of shape ${formatShape(source.shape)} does not broadcast to the destination shape ${formatShape(x.shape)}`);
  }
  const cast = source.dtype === x.dtype ? source : ew.to(source, x.dtype);
  backendOf(op, x, cast).copyInto(x, cast);
  x._bumpVersion();
  return x;
}

function update(op: string, x: Tensor, compute: () => Tensor): Tensor {
  // Check before computing, so that a rejected update does no work.
  checkWritable(op, x);
  return write(op, x, compute());
}

export const add_ = (x: Tensor, y: TensorLike, alpha = 1): Tensor =>
  arithmetic('add_', 'add', x, y, alpha, () => ew.add(x, alpha === 1 ? y : ew.mul(asTensor(y, x), alpha)));
export const sub_ = (x: Tensor, y: TensorLike): Tensor => arithmetic('sub_', 'sub', x, y, 1, () => ew.sub(x, y));
export const mul_ = (x: Tensor, y: TensorLike): Tensor => arithmetic('mul_', 'mul', x, y, 1, () => ew.mul(x, y));
export const div_ = (x: Tensor, y: TensorLike): Tensor => arithmetic('div_', 'div', x, y, 1, () => ew.div(x, y));
export const clamp_ = (x: Tensor, min?: number, max?: number): Tensor => update('clamp_', x, () => ew.clamp(x, min, max));
export const maskedFill_ = (x: Tensor, mask: Tensor, value: number): Tensor => update('maskedFill_', x, () => ew.where(mask, value, x));

/**
 * Runs `x ← x op (alpha · y)` with the backend's in-place kernel, which writes straight into x's
 * storage, when the backend has one and x is floating; otherwise computes the result out of place
 * with `compute` and copies it in. JavaScript computes in double precision either way, so both
 * paths round once when storing, except that `compute` may round alpha · y first.
 */
function arithmetic(name: string, op: InPlaceBinaryOp, x: Tensor, y: TensorLike, alpha: number, compute: () => Tensor): Tensor {
  checkWritable(name, x);
  const other = asTensor(y, x);
  const backend = backendOf(name, x, other);
  // A number becomes a fresh one-element tensor, which cannot overlap x.
  const mayOverlap = y instanceof Tensor && overlaps(x, other);
  if (backend.binaryInPlace === undefined || !isFloatingDType(x.dtype) || mayOverlap) return write(name, x, compute());

  if (!sameShape(broadcastShapes(other.shape, x.shape, name), x.shape)) {
    throw new ShapeError(`${name}: the other operand of shape ${formatShape(other.shape)} does not broadcast to the destination shape ${formatShape(x.shape)}`);
  }
  backend.binaryInPlace(op, x, other, alpha);
  x._bumpVersion();
  return x;
}

/**
 * True when `y` shares memory with `x` but is not the same view, so that an in-place kernel
 * could read elements of y that it has already overwritten in x.
 */
function overlaps(x: Tensor, y: Tensor): boolean {
  const a = x.storage;
  const b = y.storage;
  const shared = a === b || (ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && a.buffer === b.buffer);
  if (!shared) return false;
  const sameView = a === b && x.offset === y.offset && sameShape(x.nd.shape, y.nd.shape) && sameShape(x.nd.stride, y.nd.stride);
  return !sameView;
}

function asTensor(y: TensorLike, like: Tensor): Tensor {
  return y instanceof Tensor ? y : scalarTensor(y, like.dtype, like.device);
}

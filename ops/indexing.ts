/** Index-based ops: gather, scatter-add, index-select and masked fill, each with its adjoint as backward. */
import { record } from '../core/autograd.js';
import { backendOf } from '../core/backend.js';
import { DTypeError, ShapeError, formatShape } from '../core/errors.js';
import { normalizeDim, sameShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { where } from './elementwise.js';
import { type TensorLike } from './util.js';

function assertIndex(op: string, index: Tensor): void {
  if (index.dtype !== 'int32') {
    throw new DTypeError(`${op}: index must be an int32 tensor, got ${index.dtype}; build it with tensor([...], { dtype: 'int32' }) or .int()`);
  }
}

/** `out[i][j] = x[i][index[i][j]]` along `dim` (shown for dim 1); index has x's rank. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  assertIndex('gather', index);
  const d = normalizeDim(dim, x.ndim, 'gather');
  if (index.ndim !== x.ndim || index.shape.some((s, k) => k !== d && s > x.shape[k])) {
    throw new ShapeError(
      `gather: index of shape ${formatShape(index.shape)} does not fit input of shape ${formatShape(x.shape)}; index needs the same rank and no larger size outside dim ${dim}`,
    );
  }
  const out = backendOf('gather', x, index).gather(x, d, index);
  return record('Gather', [x], out, (g) => [scatterAdd(zerosOf(x.shape, g), d, index, g)]);
}

function zerosOf(shape: readonly number[], like: Tensor): Tensor {
  return backendOf('zeros', like).full(shape, 0, like.dtype);
}

/** Returns `x` with `src[i][j]` added at `[i][index[i][j]]` (for dim 1); repeated indices accumulate. */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  assertIndex('scatterAdd', index);
  const d = normalizeDim(dim, x.ndim, 'scatterAdd');
  if (index.ndim !== x.ndim || src.ndim !== x.ndim || index.shape.some((s, k) => s > src.shape[k] || (k !== d && s > x.shape[k]))) {
    throw new ShapeError(
      `scatterAdd: shapes do not fit: input ${formatShape(x.shape)}, index ${formatShape(index.shape)}, src ${formatShape(src.shape)}; all need one rank, and index may not be larger than src, nor than input outside dim ${dim}`,
    );
  }
  const out = backendOf('scatterAdd', x, index, src).scatterAdd(x, d, index, src);
  return record('ScatterAdd', [x, src], out, (g) => [g, src._requiresGrad ? padTo(gather(g, d, index), src.shape) : null]);
}

/** Pads a gradient for the leading block of `src` with zeros up to `src`'s full shape. */
function padTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.every((s, k) => s === shape[k])) return g;
  const out = zerosOf(shape, g);
  backendOf('scatterAdd', g).copyInto(out.view_(g.shape, out.strides, 0), g);
  return out;
}

/** Selects slices along `dim` by a 1-D int32 index, as torch.index_select does. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  assertIndex('indexSelect', index);
  if (index.ndim !== 1) throw new ShapeError(`indexSelect: index must be 1-D, got shape ${formatShape(index.shape)}`);
  const d = normalizeDim(dim, x.ndim, 'indexSelect');
  const out = backendOf('indexSelect', x, index).indexSelect(x, d, index);
  return record('IndexSelect', [x], out, (g) => [indexAdd(x.shape, d, index, g)]);
}

/** Sums slices of `src` into a zero tensor of `shape` at the positions `index` names (indexSelect's adjoint). */
export function indexAdd(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor {
  assertIndex('indexAdd', index);
  if (index.ndim !== 1) throw new ShapeError(`indexAdd: index must be 1-D, got shape ${formatShape(index.shape)}`);
  const d = normalizeDim(dim, shape.length, 'indexAdd');
  const expected = [...shape];
  expected[d] = index.numel();
  if (!sameShape(src.shape, expected)) {
    throw new ShapeError(
      `indexAdd: src of shape ${formatShape(src.shape)} does not fit ${index.numel()} indices along dim ${dim} of output shape ${formatShape(shape)}; src needs shape ${formatShape(expected)}`,
    );
  }
  const out = backendOf('indexAdd', src, index).indexAdd(shape, d, index, src);
  return record('IndexAdd', [src], out, (g) => [indexSelect(g, d, index)]);
}

/** Replaces elements where `mask` is true by `value`; mask broadcasts against `x`. */
export function maskedFill(x: Tensor, mask: Tensor, value: TensorLike): Tensor {
  if (mask.dtype !== 'bool') throw new DTypeError(`maskedFill: mask must be a bool tensor, got ${mask.dtype}`);
  return where(mask, value, x);
}

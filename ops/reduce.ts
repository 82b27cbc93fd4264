/** Reductions over one or several dims, with `keepdim` as in PyTorch. */
import { record } from '../core/autograd.js';
import { type ReduceOp, backendOf } from '../core/backend.js';
import { IndexError, ValueError, formatShape } from '../core/errors.js';
import { normalizeDim, normalizeDims } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { add, div, eq, exp, log, mul, sqrt, sub, to, where } from './elementwise.js';
import { expand, reshape } from './shape.js';
import { assertFloating, scalarTensor } from './util.js';

export type Dims = number | number[] | undefined;

/** Shape of the reduction result with the reduced dims kept as size 1 (for broadcasting back). */
function keptShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.map((size, d) => (dims.includes(d) ? 1 : size));
}

/** Reshapes a reduced gradient so that it broadcasts against the input again. */
function unsqueezeReduced(g: Tensor, inputShape: readonly number[], dims: readonly number[], keepdim: boolean): Tensor {
  return keepdim ? g : reshape(g, keptShape(inputShape, dims));
}

function reduceKernel(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  return backendOf(op, x).reduce(op, x, dims, keepdim);
}

export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const dims = normalizeDims(dim, x.ndim, 'sum');
  const out = reduceKernel('sum', x, dims, keepdim);
  return record('Sum', [x], out, (g) => [expand(unsqueezeReduced(g, x.shape, dims, keepdim), x.shape)]);
}

export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  assertFloating('mean', x);
  const dims = normalizeDims(dim, x.ndim, 'mean');
  const count = dims.reduce((n, d) => n * x.shape[d], 1);
  return div(sum(x, dims, keepdim), count);
}

/**
 * Variance with Bessel's correction by default (`correction = 1`, PyTorch's default; pass 0
 * for the population variance that layer norm uses).
 */
export function variance(x: Tensor, dim?: Dims, options: { correction?: number; keepdim?: boolean } = {}): Tensor {
  assertFloating('var', x);
  const correction = options.correction ?? 1;
  const keepdim = options.keepdim ?? false;
  const dims = normalizeDims(dim, x.ndim, 'var');
  const count = dims.reduce((n, d) => n * x.shape[d], 1);
  const centered = sub(x, mean(x, dims, true));
  return div(sum(mul(centered, centered), dims, keepdim), Math.max(count - correction, 0));
}

export function std(x: Tensor, dim?: Dims, options: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return sqrt(variance(x, dim, options));
}

export function prod(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const dims = normalizeDims(dim, x.ndim, 'prod');
  const out = reduceKernel('prod', x, dims, keepdim);
  return record('Prod', [x], out, (g) => {
    // d(prod)/dx_i = prod of the others. Dividing by x_i fails at zeros, so compute each term as
    // the product with x_i replaced by 1 where x_i is 0; that is exact when a row has one zero.
    // NOTE: rows with two or more zeros get gradient 0 everywhere, which is exact too.
    const gKept = unsqueezeReduced(g, x.shape, dims, keepdim);
    const outKept = unsqueezeReduced(out, x.shape, dims, keepdim);
    const isZero = eq(x, 0);
    const ones = scalarTensor(1, x.dtype, x.device);
    const xNoZero = where(isZero, ones, x);
    const prodNoZero = prod(xNoZero, dims, true);
    const zeroCount = sum(to(isZero, x.dtype), dims, true);
    const others = where(isZero, where(eq(zeroCount, 1), prodNoZero, scalarTensor(0, x.dtype, x.device)), div(outKept, xNoZero));
    return [mul(expand(gKept, x.shape), others)];
  }, [x, out]);
}

/** Max over dims; the gradient is shared evenly among tied maxima. */
export function max(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return extremum('max', x, dim, keepdim);
}

export function min(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return extremum('min', x, dim, keepdim);
}

function extremum(op: 'max' | 'min', x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  const dims = normalizeDims(dim, x.ndim, op);
  if (x.numel() === 0) throw new ValueError(`${op}: cannot reduce an empty tensor of shape ${formatShape(x.shape)}`);
  const out = reduceKernel(op, x, dims, keepdim);
  return record(op === 'max' ? 'Max' : 'Min', [x], out, (g) => {
    const outKept = unsqueezeReduced(out, x.shape, dims, keepdim);
    const isExtreme = to(eq(x, outKept), g.dtype);
    const share = div(isExtreme, sum(isExtreme, dims, true));
    return [mul(expand(unsqueezeReduced(g, x.shape, dims, keepdim), x.shape), share)];
  }, [x, out]);
}

/** Index of the max along `dim` (int32); over all elements of the flattened tensor when omitted. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argExtremum('argmax', x, dim, keepdim);
}

export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argExtremum('argmin', x, dim, keepdim);
}

function argExtremum(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  if (x.numel() === 0) throw new IndexError(`${op}: cannot take ${op} of an empty tensor of shape ${formatShape(x.shape)}`);
  if (dim === undefined) {
    const flat = reshape(x, [x.numel()]);
    return backendOf(op, flat).argReduce(op, flat, 0, false);
  }
  const d = normalizeDim(dim, x.ndim, op);
  return backendOf(op, x).argReduce(op, x, d, keepdim);
}

/** log(sum(exp(x))) computed stably by shifting by the max; -inf rows give -inf, not NaN. */
export function logsumexp(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  assertFloating('logsumexp', x);
  const dims = normalizeDims(dim, x.ndim, 'logsumexp');
  const shift = reduceKernel('max', x, dims, true);
  // A row whose max is ±inf would give inf - inf = NaN; shifting by 0 there is exact.
  const finiteShift = where(eq(shift, Infinity), 0, where(eq(shift, -Infinity), 0, shift));
  const result = add(log(sum(exp(sub(x, finiteShift)), dims, true)), finiteShift);
  return keepdim ? result : reshape(result, x.shape.filter((_, d) => !dims.includes(d)));
}

/**
 * Elementwise ops with their gradients. Every backward formula is written with these same
 * differentiable ops, so a backward pass run with `createGraph: true` can be differentiated again.
 */
import { record } from '../core/autograd.js';
import { type BinaryOp, type UnaryOp, backendOf } from '../core/backend.js';
import { type DType, isFloatingDType } from '../core/dtype.js';
import { DTypeError, ValueError } from '../core/errors.js';
import { isGradEnabled, noGrad } from '../core/grad-mode.js';
import { Tensor } from '../core/tensor.js';
import { type TensorLike, assertFloating, binaryOperands, scalarTensor, setCastOp, sumToShape } from './util.js';

// ---- binary -------------------------------------------------------------------------------

function binaryKernel(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return backendOf(op, a, b).binary(op, a, b);
}

export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = binaryOperands('add', a, b);
  const out = binaryKernel('add', x, y);
  return record('Add', [x, y], out, (g) => [
    x._requiresGrad ? sumToShape(g, x.shape) : null,
    y._requiresGrad ? sumToShape(g, y.shape) : null,
  ]);
}

export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = binaryOperands('sub', a, b);
  const out = binaryKernel('sub', x, y);
  return record('Sub', [x, y], out, (g) => [
    x._requiresGrad ? sumToShape(g, x.shape) : null,
    y._requiresGrad ? sumToShape(neg(g), y.shape) : null,
  ]);
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = binaryOperands('mul', a, b);
  const out = binaryKernel('mul', x, y);
  return record('Mul', [x, y], out, (g) => [
    x._requiresGrad ? sumToShape(mul(g, y), x.shape) : null,
    y._requiresGrad ? sumToShape(mul(g, x), y.shape) : null,
  ], [x, y]);
}

export function div(a: TensorLike, b: TensorLike): Tensor {
  let [x, y] = binaryOperands('div', a, b);
  // True division: integer operands compute in float32, as PyTorch's `/` does.
  if (!isFloatingDType(x.dtype)) [x, y] = [to(x, 'float32'), to(y, 'float32')];
  const out = binaryKernel('div', x, y);
  return record('Div', [x, y], out, (g) => [
    x._requiresGrad ? sumToShape(div(g, y), x.shape) : null,
    // d(x/y)/dy = -x/y^2, written as -(g/y)*(x/y) to avoid squaring a tiny y.
    y._requiresGrad ? sumToShape(neg(mul(div(g, y), div(x, y))), y.shape) : null,
  ], [x, y]);
}

export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = binaryOperands('pow', a, b);
  const out = binaryKernel('pow', x, y);
  return record('Pow', [x, y], out, (g) => {
    let gx: Tensor | null = null;
    let gy: Tensor | null = null;
    if (x._requiresGrad) gx = sumToShape(mul(g, mul(y, pow(x, sub(y, 1)))), x.shape);
    if (y._requiresGrad) {
      // d(x^y)/dy = x^y log x; at x = 0 the limit is 0 for y > 0, so mask log(0) = -inf there.
      const safeLog = where(eq(x, 0), zerosLikeScalar(x), log(x));
      gy = sumToShape(mul(g, mul(out, safeLog)), y.shape);
    }
    return [gx, gy];
  }, [x, y, out]);
}

function zerosLikeScalar(x: Tensor): Tensor {
  return scalarTensor(0, x.dtype, x.device);
}

/** Elementwise maximum; on ties the gradient is split evenly between the inputs, as in PyTorch. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return extremum('maximum', a, b);
}

export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return extremum('minimum', a, b);
}

function extremum(op: 'maximum' | 'minimum', a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = binaryOperands(op, a, b);
  const out = binaryKernel(op, x, y);
  return record(op === 'maximum' ? 'Maximum' : 'Minimum', [x, y], out, (g) => {
    const xWins = op === 'maximum' ? gt(x, y) : lt(x, y);
    const share = add(to(xWins, g.dtype), mul(to(eq(x, y), g.dtype), 0.5));
    return [sumToShape(mul(g, share), x.shape), sumToShape(mul(g, sub(1, share)), y.shape)];
  }, [x, y]);
}

// ---- comparisons (no gradient) ------------------------------------------------------------

function compare(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = binaryOperands(op, a, b);
  return binaryKernel(op, x, y);
}

export const eq = (a: TensorLike, b: TensorLike): Tensor => compare('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike): Tensor => compare('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike): Tensor => compare('lt', a, b);
export const le = (a: TensorLike, b: TensorLike): Tensor => compare('le', a, b);
export const gt = (a: TensorLike, b: TensorLike): Tensor => compare('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike): Tensor => compare('ge', a, b);
export const logicalAnd = (a: TensorLike, b: TensorLike): Tensor => compare('logical_and', a, b);
export const logicalOr = (a: TensorLike, b: TensorLike): Tensor => compare('logical_or', a, b);
export const logicalNot = (x: Tensor): Tensor => backendOf('logical_not', x).unary('logical_not', x);
export const isnan = (x: Tensor): Tensor => backendOf('isnan', x).unary('isnan', x);
export const isfinite = (x: Tensor): Tensor => backendOf('isfinite', x).unary('isfinite', x);

// ---- unary --------------------------------------------------------------------------------

function unaryKernel(op: UnaryOp, x: Tensor): Tensor {
  assertFloating(op, x);
  return backendOf(op, x).unary(op, x);
}

export function neg(x: Tensor): Tensor {
  const out = backendOf('neg', x).unary('neg', x);
  return record('Neg', [x], out, (g) => [neg(g)]);
}

export function exp(x: Tensor): Tensor {
  const out = unaryKernel('exp', x);
  return record('Exp', [x], out, (g) => [mul(g, out)], [out]);
}

export function expm1(x: Tensor): Tensor {
  const out = unaryKernel('expm1', x);
  return record('Expm1', [x], out, (g) => [mul(g, add(out, 1))], [out]);
}

export function log(x: Tensor): Tensor {
  const out = unaryKernel('log', x);
  return record('Log', [x], out, (g) => [div(g, x)], [x]);
}

export function log1p(x: Tensor): Tensor {
  const out = unaryKernel('log1p', x);
  return record('Log1p', [x], out, (g) => [div(g, add(x, 1))], [x]);
}

export function sqrt(x: Tensor): Tensor {
  const out = unaryKernel('sqrt', x);
  return record('Sqrt', [x], out, (g) => [div(g, mul(out, 2))], [out]);
}

export function rsqrt(x: Tensor): Tensor {
  const out = unaryKernel('rsqrt', x);
  // d(x^-1/2)/dx = -1/2 x^-3/2 = -1/2 out^3
  return record('Rsqrt', [x], out, (g) => [mul(g, mul(pow(out, 3), -0.5))], [out]);
}

export function abs(x: Tensor): Tensor {
  const out = backendOf('abs', x).unary('abs', x);
  return record('Abs', [x], out, (g) => [mul(g, sign(x))], [x]);
}

export function sign(x: Tensor): Tensor {
  return backendOf('sign', x).unary('sign', x);
}

export function sin(x: Tensor): Tensor {
  const out = unaryKernel('sin', x);
  return record('Sin', [x], out, (g) => [mul(g, cos(x))], [x]);
}

export function cos(x: Tensor): Tensor {
  const out = unaryKernel('cos', x);
  return record('Cos', [x], out, (g) => [neg(mul(g, sin(x)))], [x]);
}

export function tanh(x: Tensor): Tensor {
  const out = unaryKernel('tanh', x);
  return record('Tanh', [x], out, (g) => [mul(g, sub(1, mul(out, out)))], [out]);
}

export function sigmoid(x: Tensor): Tensor {
  const out = unaryKernel('sigmoid', x);
  return record('Sigmoid', [x], out, (g) => [mul(g, mul(out, sub(1, out)))], [out]);
}

export function relu(x: Tensor): Tensor {
  const out = unaryKernel('relu', x);
  // The derivative at 0 is taken as 0, as PyTorch does.
  return record('Relu', [x], out, (g) => [reluGradient(g, x)], [x]);
}

/**
 * Returns `g · (x > 0)`. Without createGraph the backend's fused kernel does it in one pass; a
 * graph of the gradient needs the composed ops.
 */
function reluGradient(g: Tensor, x: Tensor): Tensor {
  const backend = backendOf('relu', g, x);
  if (backend.reluBackward !== undefined && !isGradEnabled() && g.dtype === x.dtype) return backend.reluBackward(g, x);
  return mul(g, to(gt(x, 0), g.dtype));
}

export function erf(x: Tensor): Tensor {
  const out = unaryKernel('erf', x);
  return record('Erf', [x], out, (g) => [mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))], [x]);
}

export function square(x: Tensor): Tensor {
  const out = backendOf('square', x).unary('square', x);
  return record('Square', [x], out, (g) => [mul(g, mul(x, 2))], [x]);
}

export function reciprocal(x: Tensor): Tensor {
  const out = unaryKernel('reciprocal', x);
  return record('Reciprocal', [x], out, (g) => [neg(mul(g, mul(out, out)))], [out]);
}

export const floor = (x: Tensor): Tensor => backendOf('floor', x).unary('floor', x);
export const ceil = (x: Tensor): Tensor => backendOf('ceil', x).unary('ceil', x);
export const round = (x: Tensor): Tensor => backendOf('round', x).unary('round', x);

/**
 * GELU. `approximate: 'none'` is x Φ(x) with the exact normal CDF; `'tanh'` is the tanh
 * approximation used by GPT-2 and BERT, 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
 */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  assertFloating('gelu', x);
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  if (approximate !== 'none') throw new ValueError(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
  const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
  return mul(x, cdf);
}

/** SiLU (swish): x σ(x). */
export function silu(x: Tensor): Tensor {
  return mul(x, sigmoid(x));
}

/** Limits values to [min, max]; the gradient is passed where the input lies inside the range. */
export function clamp(x: Tensor, min: number = -Infinity, max: number = Infinity): Tensor {
  if (min > max) throw new ValueError(`clamp: min ${min} is greater than max ${max}`);
  const out = backendOf('clamp', x).clamp(x, min, max);
  return record('Clamp', [x], out, (g) => [mul(g, to(logicalAnd(ge(x, min), le(x, max)), g.dtype))], [x]);
}

/** Picks `a` where `condition` is true and `b` elsewhere, broadcasting all three. */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (condition.dtype !== 'bool') {
    throw new DTypeError(`where: condition must be a bool tensor, got ${condition.dtype}; build it with a comparison such as x.gt(0)`);
  }
  const [x, y] = binaryOperands('where', a, b);
  const out = backendOf('where', condition, x, y).where(condition, x, y);
  return record('Where', [x, y], out, (g) => {
    const zero = scalarTensor(0, g.dtype, g.device);
    return [
      x._requiresGrad ? sumToShape(where(condition, g, zero), x.shape) : null,
      y._requiresGrad ? sumToShape(where(condition, zero, g), y.shape) : null,
    ];
  });
}

// ---- dtype conversion ---------------------------------------------------------------------

/** Converts to another dtype; the gradient flows back (cast to the input dtype) between floats. */
export function to(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = backendOf('to', x).cast(x, dtype);
  if (!isFloatingDType(dtype)) return out;
  return record('ToCopy', [x], out, (g) => [to(g, x.dtype)]);
}

setCastOp(to);

export { noGrad };

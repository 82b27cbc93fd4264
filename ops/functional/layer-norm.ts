/** Layer normalization over the trailing dims, as torch.nn.functional.layer_norm. */
import { record } from '../../core/autograd.js';
import { type Backend, type LayerNormGradients, backendOf } from '../../core/backend.js';
import { ShapeError, ValueError, formatShape } from '../../core/errors.js';
import { isGradEnabled, noGrad } from '../../core/grad-mode.js';
import { sameShape } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { add, mul, rsqrt, sub } from '../elementwise.js';
import { mean } from '../reduce.js';
import { reshape } from '../shape.js';
import { assertFloating, sumToShape } from '../util.js';

/**
 * Normalizes `input` over its trailing dims, which must equal `normalizedShape`, to zero mean
 * and unit biased variance: `(x - mean) / sqrt(var + eps) * weight + bias`. `weight` and `bias`
 * have shape `normalizedShape`.
 */
export function layerNorm(
  input: Tensor,
  normalizedShape: number | readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const op = 'layerNorm';
  assertFloating(op, input);
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (shape.length === 0) throw new ValueError(`${op}: normalizedShape must name at least one dim, got []`);
  const trailing = input.shape.slice(input.ndim - shape.length);
  if (input.ndim < shape.length || !sameShape(trailing, shape)) {
    throw new ShapeError(
      `${op}: input of shape ${formatShape(input.shape)} does not end with normalizedShape ${formatShape(shape)}; the trailing dims of the input must equal normalizedShape`,
    );
  }
  if (!(eps >= 0)) throw new ValueError(`${op}: eps must be non-negative, got ${eps}`);
  for (const [name, parameter] of [['weight', weight], ['bias', bias]] as const) {
    if (parameter !== undefined && parameter !== null && !sameShape(parameter.shape, shape)) {
      throw new ShapeError(`${op}: ${name} of shape ${formatShape(parameter.shape)} must have normalizedShape ${formatShape(shape)}`);
    }
  }

  const dims = shape.map((_, k) => input.ndim - shape.length + k);
  const backend = backendOf(op, ...[input, weight, bias].filter((t): t is Tensor => t !== undefined && t !== null));
  const sameDType = [weight, bias].every((t) => t === undefined || t === null || t.dtype === input.dtype);
  if (backend.layerNorm !== undefined && backend.layerNormBackward !== undefined && sameDType) {
    return fusedLayerNorm(backend, input, weight ?? null, bias ?? null, dims, eps);
  }

  let out = normalize(input, dims, eps);
  if (weight !== undefined && weight !== null) out = mul(out, weight);
  if (bias !== undefined && bias !== null) out = add(out, bias);
  return out;
}

interface Statistics {
  /** The normalized input, `(x - mean) * rstd`. */
  normalized: Tensor;
  /** `1 / sqrt(var + eps)`, with the reduced dims kept as size 1. */
  rstd: Tensor;
}

function statistics(x: Tensor, dims: number[], eps: number): Statistics {
  const centered = sub(x, mean(x, dims, true));
  const rstd = rsqrt(add(mean(mul(centered, centered), dims, true), eps));
  return { normalized: mul(centered, rstd), rstd };
}

/**
 * Records the normalization as one graph node. Its backward is the closed form
 * `dx = rstd * (g - mean(g) - x̂ mean(g x̂))`, with the means over the normalized dims. With
 * `createGraph` the statistics are recomputed from x with recorded ops, so that the gradient
 * stays a differentiable function of x and second derivatives come out right.
 */
function normalize(x: Tensor, dims: number[], eps: number): Tensor {
  const forward = noGrad(() => statistics(x, dims, eps));
  const out = forward.normalized;
  return record('LayerNorm', [x], out, (g) => {
    const { normalized, rstd } = isGradEnabled() ? statistics(x, dims, eps) : forward;
    const projection = mul(normalized, mean(mul(g, normalized), dims, true));
    return [mul(rstd, sub(sub(g, mean(g, dims, true)), projection))];
  }, [x, out]);
}

/**
 * Runs layer norm, affine part included, as one kernel and one graph node. Backward runs the
 * backend's fused gradient kernel, or, when a graph of the gradient is being built, the closed
 * form of `normalize` with recorded ops plus the affine terms, so second derivatives still work.
 */
function fusedLayerNorm(backend: Backend, x: Tensor, weight: Tensor | null, bias: Tensor | null, dims: number[], eps: number): Tensor {
  const size = dims.reduce((n, d) => n * x.shape[d], 1);
  const { output, mean: rowMean, rstd: rowRstd } = backend.layerNorm!(x, weight, bias, size, eps);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);

  return record('LayerNorm', inputs, output, (g) => {
    let grads: LayerNormGradients;
    if (isGradEnabled()) {
      grads = composedGradients(g, x, weight, bias, dims, eps);
    } else {
      const needs = { input: x._requiresGrad, weight: weight?._requiresGrad ?? false, bias: bias?._requiresGrad ?? false };
      grads = backend.layerNormBackward!(g, x, rowMean, rowRstd, weight, size, needs);
      if (weight !== null && grads.weight !== null) grads.weight = reshape(grads.weight, weight.shape);
      if (bias !== null && grads.bias !== null) grads.bias = reshape(grads.bias, bias.shape);
    }
    const result: (Tensor | null)[] = [grads.input];
    if (weight !== null) result.push(grads.weight);
    if (bias !== null) result.push(grads.bias);
    return result;
  }, inputs);
}

/** The layer-norm gradients written with recorded ops (see `normalize` for the input's closed form). */
function composedGradients(g: Tensor, x: Tensor, weight: Tensor | null, bias: Tensor | null, dims: number[], eps: number): LayerNormGradients {
  const { normalized, rstd } = statistics(x, dims, eps);
  const scaled = weight === null ? g : mul(g, weight);
  const projection = mul(normalized, mean(mul(scaled, normalized), dims, true));
  return {
    input: x._requiresGrad ? mul(rstd, sub(sub(scaled, mean(scaled, dims, true)), projection)) : null,
    weight: weight !== null && weight._requiresGrad ? sumToShape(mul(g, normalized), weight.shape) : null,
    bias: bias !== null && bias._requiresGrad ? sumToShape(g, bias.shape) : null,
  };
}

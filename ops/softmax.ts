/** Softmax and log-softmax through the backend's fused, max-shifted kernel. */
import { record } from '../core/autograd.js';
import { backendOf } from '../core/backend.js';
import { isGradEnabled } from '../core/grad-mode.js';
import { normalizeDim } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { exp, mul, sub } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';
import { assertFloating } from './util.js';

export function softmax(x: Tensor, dim = -1): Tensor {
  assertFloating('softmax', x);
  const d = normalizeDim(dim, x.ndim, 'softmax');
  // The kernels need a dim to run along; a 0-d tensor is a row of one element.
  if (x.ndim === 0) return reshape(softmax(reshape(x, [1]), 0), []);
  const out = backendOf('softmax', x).softmax(x, d, false);
  // dx = y * (g - sum(g * y)) along dim: the Jacobian-vector product of softmax.
  return record('Softmax', [x], out, (g) => [fusedGradient(g, out, d, false) ?? mul(out, sub(g, sum(mul(g, out), d, true)))], [out]);
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  assertFloating('logSoftmax', x);
  const d = normalizeDim(dim, x.ndim, 'logSoftmax');
  if (x.ndim === 0) return reshape(logSoftmax(reshape(x, [1]), 0), []);
  const out = backendOf('logSoftmax', x).softmax(x, d, true);
  // dx = g - softmax(x) * sum(g) along dim, with softmax recovered as exp(out).
  return record('LogSoftmax', [x], out, (g) => [fusedGradient(g, out, d, true) ?? sub(g, mul(exp(out), sum(g, d, true)))], [out]);
}

/**
 * Runs the backend's fused softmax gradient when it has one, the softmax ran along the last dim
 * and no graph of the gradient is being built; returns null when the composed ops must run.
 */
function fusedGradient(g: Tensor, out: Tensor, dim: number, log: boolean): Tensor | null {
  const backend = backendOf(log ? 'logSoftmax' : 'softmax', g, out);
  if (backend.softmaxBackward === undefined || isGradEnabled() || dim !== out.ndim - 1 || g.dtype !== out.dtype) return null;
  return backend.softmaxBackward(g, out, log, 1);
}

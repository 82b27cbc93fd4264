/** Softmax and log-softmax through the backend's fused, max-shifted kernel. */
import { record } from '../core/autograd.js';
import { backendOf } from '../core/backend.js';
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
  return record('Softmax', [x], out, (g) => [mul(out, sub(g, sum(mul(g, out), d, true)))], [out]);
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  assertFloating('logSoftmax', x);
  const d = normalizeDim(dim, x.ndim, 'logSoftmax');
  if (x.ndim === 0) return reshape(logSoftmax(reshape(x, [1]), 0), []);
  const out = backendOf('logSoftmax', x).softmax(x, d, true);
  // dx = g - softmax(x) * sum(g) along dim, with softmax recovered as exp(out).
  return record('LogSoftmax', [x], out, (g) => [sub(g, mul(exp(out), sum(g, d, true)))], [out]);
}

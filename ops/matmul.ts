/**
 * Matrix products with NumPy/PyTorch semantics: 1-D operands are promoted to a row (left) or a
 * column (right) vector and the added dim is removed afterwards; batch dims broadcast.
 */
import { record } from '../core/autograd.js';
import { backendOf } from '../core/backend.js';
import { ShapeError, formatShape } from '../core/errors.js';
import { isFloatingDType } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { sum } from './reduce.js';
import { reshape, squeeze, transpose, unsqueeze } from './shape.js';
import { assertFloating, binaryOperands, sumToShape } from './util.js';

export function matmul(a: Tensor, b: Tensor): Tensor {
  const [x, y] = binaryOperands('matmul', a, b);
  assertFloating('matmul', x);
  if (x.ndim === 0 || y.ndim === 0) {
    throw new ShapeError(`matmul: both arguments need at least 1 dim, got shapes ${formatShape(x.shape)} and ${formatShape(y.shape)}; use mul() for scalars`);
  }

  const left = x.ndim === 1 ? unsqueeze(x, 0) : x;
  const right = y.ndim === 1 ? unsqueeze(y, 1) : y;
  let out = matmul2d(left, right, x.shape, y.shape);
  if (x.ndim === 1) out = squeeze(out, -2);
  if (y.ndim === 1) out = squeeze(out, -1);
  return out;
}

/** Multiplies operands of rank >= 2; the backward is two more products with transposed views. */
function matmul2d(a: Tensor, b: Tensor, shapeA: number[], shapeB: number[]): Tensor {
  const k = a.shape[a.ndim - 1];
  if (b.shape[b.ndim - 2] !== k) {
    throw new ShapeError(
      `matmul: shapes ${formatShape(shapeA)} and ${formatShape(shapeB)} cannot be multiplied: the inner sizes ${k} and ${b.shape[b.ndim - 2]} differ; ` +
        `the last dim of the first operand must equal the second-to-last dim of the second (transpose one of them?)`,
    );
  }
  const out = backendOf('matmul', a, b).matmul(a, b);
  return record('MatMul', [a, b], out, (g) => [
    // dA = g B^T and dB = A^T g; summing over broadcast batch dims reduces them to each input's shape.
    a._requiresGrad ? sumToShape(matmul(g, transpose(b)), a.shape) : null,
    b._requiresGrad ? sumToShape(matmul(transpose(a), g), b.shape) : null,
  ], [a, b]);
}

/** Multiplies two 2-D matrices, checking that both are 2-D (torch.mm). */
export function mm(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`mm: expected two 2-D tensors, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}; use matmul for other ranks`);
  return matmul(a, b);
}

/** Batched product of two 3-D tensors with equal batch sizes (torch.bmm). */
export function bmm(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 3 || b.ndim !== 3 || a.shape[0] !== b.shape[0]) {
    throw new ShapeError(`bmm: expected two 3-D tensors with the same batch size, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  return matmul(a, b);
}

/** `x W^T + b`, the affine map of torch.nn.functional.linear; W is out x in. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-D (out_features x in_features), got shape ${formatShape(weight.shape)}`);
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError(
      `linear: input of shape ${formatShape(x.shape)} has ${x.shape[x.ndim - 1]} features in its last dim, but the weight of shape ${formatShape(weight.shape)} expects ${weight.shape[1]}`,
    );
  }
  // Fold the leading dims into one batch of rows: one large gemm is faster than many small ones.
  const rows = x.ndim === 1 ? x : reshape(x, [-1, weight.shape[1]]);
  let out: Tensor;
  if (rows.ndim === 2 && canFuseLinear(rows, weight, bias ?? null)) {
    out = fusedLinear(rows, weight, bias ?? null);
  } else {
    out = matmul(rows, transpose(weight));
    if (bias !== undefined && bias !== null) out = out.add(bias);
  }
  return x.ndim <= 2 ? out : reshape(out, [...x.shape.slice(0, -1), weight.shape[0]]);
}

/** The fused path takes floating operands of one dtype and a bias of shape (out_features). */
function canFuseLinear(rows: Tensor, weight: Tensor, bias: Tensor | null): boolean {
  if (!isFloatingDType(rows.dtype) || weight.dtype !== rows.dtype) return false;
  return bias === null || (bias.dtype === rows.dtype && bias.ndim === 1 && bias.shape[0] === weight.shape[0]);
}

/**
 * `rows W^T + b` for rows (N, in) as one graph node: the bias is added in place to the fresh
 * product (when the backend can), and backward computes dW = g^T rows directly in W's (out, in)
 * layout, so the weight gradient comes out contiguous rather than as a transposed view.
 */
function fusedLinear(rows: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const backend = bias === null ? backendOf('linear', rows, weight) : backendOf('linear', rows, weight, bias);
  const weightT = weight.view_([weight.shape[1], weight.shape[0]], [weight.strides[1], weight.strides[0]], weight.offset);
  let out = backend.matmul(rows, weightT);
  if (bias !== null) {
    if (backend.binaryInPlace !== undefined) backend.binaryInPlace('add', out, bias, 1);
    else out = backend.binary('add', out, bias);
  }

  const inputs = bias === null ? [rows, weight] : [rows, weight, bias];
  return record('Linear', inputs, out, (g) => {
    const grads: (Tensor | null)[] = [
      rows._requiresGrad ? matmul(g, weight) : null,
      weight._requiresGrad ? matmul(transpose(g), rows) : null,
    ];
    if (bias !== null) grads.push(bias._requiresGrad ? sum(g, 0) : null);
    return grads;
  }, [rows, weight]);
}

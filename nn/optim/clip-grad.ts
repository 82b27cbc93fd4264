/**
 * Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`. Both change the
 * parameters' `.grad` in place and skip parameters whose grad is null.
 */
import { type Tensor, ValueError, div, noGrad, stack, tensor, zeros } from '../../index.js';

/** Added to the total norm before dividing, so that all-zero gradients do not divide by zero. */
const NORM_EPSILON = 1e-6;

/**
 * Scales the gradients so that their total norm (the `normType`-norm of all gradient elements
 * together, `Infinity` for the largest magnitude) is at most `maxNorm`: when the norm is larger,
 * every gradient is multiplied by maxNorm / (norm + 1e-6). Returns the total norm before
 * clipping as a 0-d tensor (float64 if any gradient is float64, else float32).
 */
export function clipGradNorm_(
  params: Tensor | readonly Tensor[],
  maxNorm: number,
  normType = 2,
  { errorIfNonfinite = false }: { errorIfNonfinite?: boolean } = {},
): Tensor {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0) {
    throw new ValueError(`clipGradNorm_: maxNorm must be a number >= 0, got ${String(maxNorm)}`);
  }
  if (typeof normType !== 'number' || !(normType > 0)) {
    throw new ValueError(`clipGradNorm_: normType must be a positive number or Infinity, got ${String(normType)}`);
  }

  const grads = gradsOf(params);
  if (grads.length === 0) return tensor(0);

  return noGrad(() => {
    const dtype = grads.some((grad) => grad.dtype === 'float64') ? 'float64' : 'float32';
    const device = grads[0].device;
    const norms = grads.map((grad) => vectorNorm(grad, normType).to(dtype).to(device));
    const total = vectorNorm(stack(norms), normType);

    if (errorIfNonfinite && !Number.isFinite(total.item())) {
      throw new ValueError(
        `clipGradNorm_: the total gradient norm of order ${normType} is ${total.item()}, so clipping would make the gradients NaN; check the loss and inputs for NaN or Infinity, or pass errorIfNonfinite: false to clip anyway`,
      );
    }

    // Multiplying by a coefficient clamped to 1, instead of branching on the norm's value,
    // keeps the norm on its device: no copy back to the host is needed.
    const coefficient = div(maxNorm, total.add(NORM_EPSILON)).clamp(undefined, 1);
    for (const grad of grads) grad.mul_(coefficient.to(grad.dtype).to(grad.device));
    return total;
  });
}

/** Clamps every gradient element into [-clipValue, clipValue]. */
export function clipGradValue_(params: Tensor | readonly Tensor[], clipValue: number): void {
  if (typeof clipValue !== 'number' || Number.isNaN(clipValue) || clipValue < 0) {
    throw new ValueError(`clipGradValue_: clipValue must be a number >= 0, got ${String(clipValue)}`);
  }
  noGrad(() => {
    for (const grad of gradsOf(params)) grad.clamp_(-clipValue, clipValue);
  });
}

function gradsOf(params: Tensor | readonly Tensor[]): Tensor[] {
  const list = Array.isArray(params) ? (params as readonly Tensor[]) : [params as Tensor];
  return list.flatMap((param) => (param.grad === null ? [] : [param.grad]));
}

/** Computes the p-norm of all elements of `x` as a 0-d tensor (p = Infinity: the largest magnitude). */
function vectorNorm(x: Tensor, p: number): Tensor {
  if (x.numel() === 0) return zeros([], { dtype: x.dtype, device: x.device });
  if (p === Infinity) return x.abs().max();
  if (p === 1) return x.abs().sum();
  if (p === 2) return x.mul(x).sum().sqrt();
  return x.abs().pow(p).sum().pow(1 / p);
}

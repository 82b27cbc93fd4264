/** Moving tensors between devices; the gradient moves back to the source device. */
import { record } from '../core/autograd.js';
import { getBackend } from '../core/backend.js';
import { type Device, Tensor } from '../core/tensor.js';

export function toDevice(x: Tensor, device: Device): Tensor {
  if (x.device === device) return x;
  const host = getBackend(x.device).toTypedArray(x);
  const out = getBackend(device).fromTypedArray(host, x.shape, x.dtype);
  return record('ToDevice', [x], out, (g) => [toDevice(g, x.device)]);
}

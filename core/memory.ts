/**
 * Long-lived tensors. Backends with scoped memory (the GPU backend's `tidy`) free every buffer
 * created inside a scope when it ends; `keep` exempts tensors that must outlive the step that
 * created them, such as optimizer state and parameters moved to a device. On the CPU, memory is
 * garbage-collected and `keep` does nothing.
 */
import { getBackend } from './backend.js';
import type { Tensor } from './tensor.js';

/** Marks `tensor` as long-lived on its device and returns it. */
export function keep<T extends Tensor>(tensor: T): T {
  getBackend(tensor.device).keep?.(tensor);
  return tensor;
}

/**
 * A Parameter is a Tensor that a Module registers as learnable when it is stored as a property,
 * as `torch.nn.Parameter` is. The class adds no behaviour; its type is the registration signal.
 */
import { Tensor } from '../index.js';

export class Parameter extends Tensor {
  /**
   * Wraps `data` without copying: the parameter shares its storage and version counter, so an
   * in-place write through either one is seen by both. The result is always a leaf.
   */
  constructor(data: Tensor, requiresGrad = true) {
    super(data.nd, data.dtype, data.device, data._version);
    if (requiresGrad) this.requiresGrad_(true);
  }

  override toString(): string {
    return `Parameter containing:\n${super.toString()}`;
  }
}

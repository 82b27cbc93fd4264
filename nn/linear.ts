/** Affine layers: Linear (y = x Wᵀ + b) and Identity. */
import { type Tensor, ValueError, linear, zeros } from '../index.js';
import { calculateFanInAndFanOut, kaimingUniform_, uniform_ } from './init.js';
import { type FactoryOptions, Module } from './module.js';
import { Parameter } from './parameter.js';

export interface LinearOptions extends FactoryOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
}

/**
 * Applies y = x Wᵀ + b to the last dim. The weight has shape (outFeatures, inFeatures), as in
 * PyTorch, and both tensors start in U(-1/√in, 1/√in), PyTorch's default.
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /**
   * The weight, shape (out, in). A parametrization (an adapter) may replace this property by a
   * getter that computes the weight from its originals; forward reads it on every call.
   */
  weight: Parameter;
  bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    checkFeatures('Linear', { inFeatures, outFeatures });
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const factory = { dtype: options.dtype, device: options.device };
    this.weight = new Parameter(zeros([outFeatures, inFeatures], factory));
    this.bias = (options.bias ?? true) ? new Parameter(zeros([outFeatures], factory)) : null;
    this.resetParameters(options);
  }

  /**
   * Draws fresh initial values. kaiming_uniform with a = √5 gives the weight the bound
   * gain · √(3 / fanIn) = √(2 / 6) · √(3 / fanIn) = 1/√fanIn, and the bias uses the same bound.
   */
  resetParameters(options: FactoryOptions = {}): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator: options.generator });
    if (this.bias !== null) {
      const [fanIn] = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(this.bias, -bound, bound, { generator: options.generator });
    }
  }

  forward(input: Tensor): Tensor {
    return linear(input, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/** Returns its input unchanged; a placeholder where a layer is optional. */
export class Identity extends Module {
  forward(input: Tensor): Tensor {
    return input;
  }
}

/** Throws unless every named size is a non-negative integer. */
export function checkFeatures(layer: string, sizes: Record<string, number>): void {
  for (const [name, size] of Object.entries(sizes)) {
    if (!Number.isInteger(size) || size < 0) throw new ValueError(`${layer}: ${name} must be a non-negative integer, got ${size}`);
  }
}

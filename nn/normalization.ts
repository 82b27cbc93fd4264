/** LayerNorm: normalization over the trailing dims with a learned scale and shift. */
import { type Tensor, ValueError, ones, zeros } from '../index.js';
import { layerNorm } from '../ops/functional/index.js';
import { type FactoryOptions, Module } from './module.js';
import { Parameter } from './parameter.js';

export interface LayerNormOptions extends Omit<FactoryOptions, 'generator'> {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Learn a per-element scale (weight, starting at 1) and shift (bias, starting at 0); default true. */
  elementwiseAffine?: boolean;
  /** Learn the shift; only read when elementwiseAffine is true (default true). */
  bias?: boolean;
}

/** Normalizes the trailing dims `normalizedShape` of its input to zero mean and unit variance, then scales and shifts. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight: Parameter | null;
  bias: Parameter | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0 || this.normalizedShape.some((size) => !Number.isInteger(size) || size <= 0)) {
      throw new ValueError(`LayerNorm: normalizedShape must be a non-empty list of positive integers, got [${this.normalizedShape.join(', ')}]`);
    }
    this.eps = options.eps ?? 1e-5;
    this.elementwiseAffine = options.elementwiseAffine ?? true;

    const factory = { dtype: options.dtype, device: options.device };
    this.weight = this.elementwiseAffine ? new Parameter(ones(this.normalizedShape, factory)) : null;
    this.bias = this.elementwiseAffine && (options.bias ?? true) ? new Parameter(zeros(this.normalizedShape, factory)) : null;
  }

  forward(input: Tensor): Tensor {
    return layerNorm(input, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(', ')},), eps=${this.eps}, elementwise_affine=${this.elementwiseAffine}`;
  }
}

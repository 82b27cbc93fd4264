/**
 * Parameter initialisers with the formulas and defaults of `torch.nn.init` (PyTorch 2.x). Each
 * one fills its tensor in place under noGrad, draws from `generator` (the global one when
 * omitted) and returns the tensor.
 */
import { type Generator, type Tensor, ValueError, defaultGenerator, formatShape, noGrad, randn, tensor as createTensor, uniform } from '../index.js';

export interface InitOptions {
  generator?: Generator;
}

/** The nonlinearities that `calculateGain` accepts. */
export type Nonlinearity =
  | 'linear'
  | 'identity'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';

export type FanMode = 'fan_in' | 'fan_out';

/**
 * Returns `[fanIn, fanOut]` of a weight of shape (out, in, ...kernel): fanIn = in x kernel size,
 * fanOut = out x kernel size. Needs at least 2 dims.
 */
export function calculateFanInAndFanOut(tensor: Tensor): [number, number] {
  const shape = tensor.shape;
  if (shape.length < 2) {
    throw new ValueError(`calculateFanInAndFanOut: fans need a tensor with at least 2 dims (out, in, ...), got shape ${formatShape(shape)}`);
  }
  const receptiveField = shape.slice(2).reduce((product, size) => product * size, 1);
  return [shape[1] * receptiveField, shape[0] * receptiveField];
}

/**
 * Returns the gain that keeps the variance of activations stable through `nonlinearity`: 1 for
 * linear, conv and sigmoid, 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky_relu
 * (slope = `param`, default 0.01) and 3/4 for selu.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'identity':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose1d':
    case 'conv_transpose2d':
    case 'conv_transpose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope)) throw new ValueError(`calculateGain: negative slope for leaky_relu must be a finite number, got ${slope}`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new ValueError(`calculateGain: unsupported nonlinearity '${String(nonlinearity)}'; expected linear, conv*, sigmoid, tanh, relu, leaky_relu or selu`);
  }
}

/** Fills `tensor` with samples from U(low, high). */
export function uniform_(tensor: Tensor, low = 0, high = 1, options: InitOptions = {}): Tensor {
  if (!(low <= high)) throw new ValueError(`uniform_: low must not exceed high, got low=${low}, high=${high}`);
  return fill(tensor, () => uniform(tensor.shape, low, high, { dtype: tensor.dtype, device: tensor.device, generator: options.generator }));
}

/** Fills `tensor` with samples from N(mean, std²). */
export function normal_(tensor: Tensor, mean = 0, std = 1, options: InitOptions = {}): Tensor {
  if (!(std >= 0)) throw new ValueError(`normal_: std must be non-negative, got ${std}`);
  return fill(tensor, () => randn(tensor.shape, { mean, std, dtype: tensor.dtype, device: tensor.device, generator: options.generator }));
}

/** Fills `tensor` with `value`. */
export function constant_(tensor: Tensor, value: number): Tensor {
  return noGrad(() => tensor.fill_(value));
}

export function zeros_(tensor: Tensor): Tensor {
  return constant_(tensor, 0);
}

export function ones_(tensor: Tensor): Tensor {
  return constant_(tensor, 1);
}

/** Glorot uniform: U(-a, a) with a = gain · √(6 / (fanIn + fanOut)). */
export function xavierUniform_(tensor: Tensor, gain = 1, options: InitOptions = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(tensor);
  const std = fanIn + fanOut === 0 ? 0 : gain * Math.sqrt(2 / (fanIn + fanOut));
  const bound = Math.sqrt(3) * std;
  return uniform_(tensor, -bound, bound, options);
}

/** Glorot normal: N(0, std²) with std = gain · √(2 / (fanIn + fanOut)). */
export function xavierNormal_(tensor: Tensor, gain = 1, options: InitOptions = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(tensor);
  const std = fanIn + fanOut === 0 ? 0 : gain * Math.sqrt(2 / (fanIn + fanOut));
  return normal_(tensor, 0, std, options);
}

export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky_relu that follows (used only with 'leaky_relu'). */
  a?: number;
  /** 'fan_in' preserves the forward variance, 'fan_out' the backward one. */
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/** He uniform: U(-bound, bound) with bound = gain · √(3 / fan), gain from `calculateGain(nonlinearity, a)`. */
export function kaimingUniform_(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  const std = kaimingStd('kaimingUniform_', tensor, options);
  const bound = Math.sqrt(3) * std;
  return uniform_(tensor, -bound, bound, options);
}

/** He normal: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  return normal_(tensor, 0, kaimingStd('kaimingNormal_', tensor, options), options);
}

function kaimingStd(op: string, tensor: Tensor, options: KaimingOptions): number {
  const mode = options.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new ValueError(`${op}: mode must be 'fan_in' or 'fan_out', got '${String(mode)}'`);
  const [fanIn, fanOut] = calculateFanInAndFanOut(tensor);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  // A zero fan means a zero-element tensor; std 0 leaves it as the no-op PyTorch makes it.
  if (fan === 0) return 0;
  return calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) / Math.sqrt(fan);
}

export interface TruncNormalOptions extends InitOptions {
  mean?: number;
  std?: number;
  /** Lower cutoff, in the tensor's units (not in stds), as in PyTorch. */
  a?: number;
  /** Upper cutoff. */
  b?: number;
}

/**
 * Fills `tensor` with N(mean, std²) samples restricted to [a, b] (defaults mean 0, std 1, a -2,
 * b 2). Samples outside the interval are rejected and redrawn, which gives the exact truncated
 * distribution. An interval that almost no samples reach raises an error instead of looping.
 */
export function truncNormal_(tensor: Tensor, options: TruncNormalOptions = {}): Tensor {
  const { mean = 0, std = 1, a = -2, b = 2 } = options;
  if (!(std > 0) || !(a < b)) throw new ValueError(`truncNormal_: expected std > 0 and a < b, got std=${std}, a=${a}, b=${b}`);
  const maxDrawsPerElement = 1000;

  const generator = options.generator ?? defaultGenerator;
  return fill(tensor, () => {
    const values = new Float64Array(tensor.numel());
    for (let i = 0; i < values.length; i++) {
      let value = mean + std * generator.normal();
      let draws = 1;
      while (value < a || value > b) {
        if (++draws > maxDrawsPerElement) {
          throw new ValueError(
            `truncNormal_: no sample of N(${mean}, ${std}²) fell in [${a}, ${b}] after ${maxDrawsPerElement} draws; the interval is too far in the tail, so move it towards the mean`,
          );
        }
        value = mean + std * generator.normal();
      }
      values[i] = value;
    }
    return createTensor(values, { shape: tensor.shape, dtype: tensor.dtype, device: tensor.device });
  });
}

/** Copies freshly drawn values into `tensor` without recording history. */
function fill(tensor: Tensor, draw: () => Tensor): Tensor {
  return noGrad(() => tensor.copy_(draw()));
}

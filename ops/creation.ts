/** Tensor factories. Random ones draw from a seeded `Generator` (the global one unless given). */
import { getBackend } from '../core/backend.js';
import { type DType, type TypedArray, allocate, assertDType, dtypeOfArray } from '../core/dtype.js';
import { ShapeError, ValueError, formatShape } from '../core/errors.js';
import { type Generator, defaultGenerator } from '../core/random.js';
import { checkShape, numel } from '../core/shape.js';
import { type Device, Tensor } from '../core/tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

export type NestedNumbers = number | boolean | readonly NestedNumbers[];

/** Puts a freshly computed host array on the requested device and sets requiresGrad. */
function finish(data: TypedArray, shape: readonly number[], options: TensorOptions, dtype: DType): Tensor {
  const device = options.device ?? 'cpu';
  const out = getBackend(device).fromTypedArray(data, shape, dtype);
  if (options.requiresGrad) out.requiresGrad_(true);
  return out;
}

/**
 * Makes a tensor from nested arrays, a typed array (copied, kept flat unless `shape` is given)
 * or a number. Nested arrays must be rectangular.
 */
export function tensor(data: NestedNumbers | TypedArray, options: TensorOptions & { shape?: number[] } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const typed = data as TypedArray;
    const dtype = options.dtype ? assertDType(options.dtype) : dtypeOfArray(typed);
    const shape = options.shape ?? [typed.length];
    if (numel(shape) !== typed.length) {
      throw new ShapeError(`tensor: shape ${formatShape(shape)} needs ${numel(shape)} elements but the typed array has ${typed.length}`);
    }
    const copy = allocate(dtype, typed.length);
    copy.set(typed);
    return finish(copy, shape, options, dtype);
  }

  const shape = inferNestedShape(data);
  const flat: number[] = [];
  let sawBoolean = false;
  const visit = (value: NestedNumbers, depth: number, path: number[]): void => {
    if (depth === shape.length) {
      if (Array.isArray(value)) throw new ShapeError(`tensor: nested arrays are ragged: element at ${formatShape(path)} is an array but its siblings are numbers`);
      if (typeof value === 'boolean') sawBoolean = true;
      else if (typeof value !== 'number') throw new ValueError(`tensor: element at ${formatShape(path)} is ${typeof value} ${String(value)}, not a number`);
      flat.push(Number(value));
      return;
    }
    if (!Array.isArray(value) || value.length !== shape[depth]) {
      throw new ShapeError(
        `tensor: nested arrays are ragged: the array at ${formatShape(path)} has ${Array.isArray(value) ? value.length : 'no'} elements but dim ${depth} has size ${shape[depth]}; every row must have the same length`,
      );
    }
    value.forEach((item, i) => visit(item, depth + 1, [...path, i]));
  };
  visit(data, 0, []);

  const dtype = options.dtype ? assertDType(options.dtype) : sawBoolean ? 'bool' : 'float32';
  const typed = allocate(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) typed[i] = flat[i];
  return finish(typed, shape, options, dtype);
}

function inferNestedShape(data: NestedNumbers): number[] {
  const shape: number[] = [];
  let level: NestedNumbers = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  return shape;
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  const checked = checkShape(shape, 'full');
  const dtype = options.dtype ?? 'float32';
  const out = getBackend(options.device ?? 'cpu').full(checked, value, dtype);
  if (options.requiresGrad) out.requiresGrad_(true);
  return out;
}

export const zeros = (shape: readonly number[], options: TensorOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: readonly number[], options: TensorOptions = {}): Tensor => full(shape, 1, options);

function likeOptions(x: Tensor, options: TensorOptions): TensorOptions {
  return { dtype: options.dtype ?? x.dtype, device: options.device ?? x.device, requiresGrad: options.requiresGrad };
}

export const zerosLike = (x: Tensor, options: TensorOptions = {}): Tensor => full(x.shape, 0, likeOptions(x, options));
export const onesLike = (x: Tensor, options: TensorOptions = {}): Tensor => full(x.shape, 1, likeOptions(x, options));
export const fullLike = (x: Tensor, value: number, options: TensorOptions = {}): Tensor => full(x.shape, value, likeOptions(x, options));

/** Values from `start` (inclusive) to `end` (exclusive) in steps of `step`; `arange(n)` is 0..n-1. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new ValueError(`arange: step must be a finite non-zero number, got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new ValueError(`arange: start and end must be finite numbers, got start=${start}, end=${end}`);
  const count = Math.max(Math.ceil((end - start) / step), 0);
  const allIntegers = Number.isInteger(start) && Number.isInteger(step);
  const dtype = options.dtype ?? (allIntegers ? 'int32' : 'float32');
  const data = allocate(dtype, count);
  for (let i = 0; i < count; i++) data[i] = start + i * step;
  return finish(data, [count], options, dtype);
}

/** `steps` evenly spaced values from `start` to `end`, both included. */
export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ValueError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, steps);
  const delta = steps > 1 ? (end - start) / (steps - 1) : 0;
  // Fill from both ends so that the last value is exactly `end`, as NumPy does.
  for (let i = 0; i < steps; i++) data[i] = i < steps / 2 ? start + i * delta : end - (steps - 1 - i) * delta;
  return finish(data, [steps], options, dtype);
}

/** Returns the n x m identity matrix (m defaults to n). */
export function eye(n: number, m: number = n, options: TensorOptions = {}): Tensor {
  checkShape([n, m], 'eye');
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return finish(data, [n, m], options, dtype);
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return uniform(shape, 0, 1, options);
}

/** Uniform samples in [low, high). */
export function uniform(shape: readonly number[], low: number, high: number, options: RandomOptions = {}): Tensor {
  const checked = checkShape(shape, 'uniform');
  const generator = options.generator ?? defaultGenerator;
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, numel(checked));
  // A 53-bit draw just below 1 rounds up to 1 in float32. Keeping 24 random bits for float32,
  // as PyTorch's CPU uniform_ does, keeps rand() in [0, 1) after rounding.
  const draw = dtype === 'float32' ? () => Math.floor(generator.random() * FLOAT32_STEPS) / FLOAT32_STEPS : () => generator.random();
  for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * draw();
  return finish(data, checked, options, dtype);
}

const FLOAT32_STEPS = 2 ** 24;

/** Standard normal samples, times `std` plus `mean` when given. */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const checked = checkShape(shape, 'randn');
  const generator = options.generator ?? defaultGenerator;
  const dtype = options.dtype ?? 'float32';
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const data = allocate(dtype, numel(checked));
  for (let i = 0; i < data.length; i++) data[i] = mean + std * generator.normal();
  return finish(data, checked, options, dtype);
}

/** Integers drawn uniformly from [low, high), int32 by default. */
export function randint(low: number, high: number, shape: readonly number[], options: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new ValueError(`randint: expected integers with low < high, got low=${low}, high=${high}`);
  }
  const checked = checkShape(shape, 'randint');
  const generator = options.generator ?? defaultGenerator;
  const dtype = options.dtype ?? 'int32';
  const data = allocate(dtype, numel(checked));
  for (let i = 0; i < data.length; i++) data[i] = generator.randint(low, high);
  return finish(data, checked, options, dtype);
}

/** Returns a random permutation of 0..n-1 (Fisher-Yates), int32. */
export function randperm(n: number, options: RandomOptions = {}): Tensor {
  const generator = options.generator ?? defaultGenerator;
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = generator.randint(0, i + 1);
    const swap = data[i];
    data[i] = data[j];
    data[j] = swap;
  }
  return finish(data, [n], options, 'int32');
}

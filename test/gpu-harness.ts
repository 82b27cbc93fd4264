/**
 * Shared setup for the test/gpu-*.test.ts files: the gpu.js mode under test, random inputs, the
 * float64 CPU reference, and closeness checks with float32 tolerances.
 *
 * The mode comes from SINGLORA_GPU_MODE (default 'cpu'). A mode that cannot start skips the GPU
 * suites locally, but fails them when CI is set, so that a broken CI machine cannot pass by
 * running nothing.
 */
import { AssertionError } from 'node:assert/strict';

import { Generator, Tensor, randn } from '../index.js';
import { getGpuMode, setGpuLogger, setGpuMode } from '../gpu/index.js';

export const GPU_MODE = process.env.SINGLORA_GPU_MODE || 'cpu';

let modeError: Error | null | undefined;

/** Selects the mode under test once per process and returns why it cannot start, or null. */
function startMode(): Error | null {
  if (modeError !== undefined) return modeError;
  try {
    setGpuLogger(null);
    setGpuMode(GPU_MODE);
    getGpuMode();
    modeError = null;
  } catch (error) {
    modeError = error as Error;
  } finally {
    setGpuLogger(console);
  }
  return modeError;
}

/** Declares a mocha suite that runs in the mode under test, or is skipped (failed on CI) if it cannot start. */
export function describeGpu(title: string, body: () => void): void {
  describe(`${title} [gpu.js mode ${GPU_MODE}]`, function () {
    before(function () {
      const error = startMode();
      if (error === null) return;
      if (process.env.CI) throw new Error(`gpu.js mode '${GPU_MODE}' could not start, so the GPU tests cannot run: ${error.message}`);
      console.warn(`skipping '${title}': gpu.js mode '${GPU_MODE}' could not start: ${error.message}`);
      this.skip();
    });
    body();
  });
}

/** Normal samples as a float32 CPU tensor, times `scale`, from a seeded generator. */
export function sample(shape: readonly number[], seed: number, scale = 1): Tensor {
  return randn(shape, { generator: new Generator(seed), std: scale });
}

/** Samples whose magnitude is in [low, high], with random signs unless `positive`. */
export function sampleMagnitude(shape: readonly number[], seed: number, low: number, high: number, positive = false): Tensor {
  const generator = new Generator(seed);
  const count = shape.reduce((p, s) => p * s, 1);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const magnitude = low + (high - low) * generator.random();
    values[i] = positive || generator.random() < 0.5 ? magnitude : -magnitude;
  }
  return Tensor.fromTypedArray(values, shape);
}

export interface Tolerance {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance, times |expected|. */
  rtol: number;
}

/**
 * Float32 results compared with float64 ones: a few units of float32 rounding (2^-24 is 6e-8)
 * per operation, with room for ops whose GLSL builtins (exp, log, sin) are accurate to a few ulp.
 */
export const FLOAT32: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/**
 * Checks that `actual` (any device, float32) matches `expected` (float64 reference) elementwise:
 * |actual - expected| <= atol + rtol |expected|, NaN only where NaN is expected and infinities
 * equal. Reports the first mismatch with its multi-index.
 */
export function expectClose(actual: Tensor, expected: Tensor, tolerance: Tolerance, label: string): void {
  if (actual.shape.join() !== expected.shape.join()) {
    throw new AssertionError({ message: `${label}: shape [${actual.shape}] differs from the expected [${expected.shape}]`, actual: actual.shape, expected: expected.shape });
  }
  const a = actual.toTypedArray();
  const e = expected.toTypedArray();
  for (let i = 0; i < e.length; i++) {
    const x = a[i];
    const y = e[i];
    const ok = Number.isNaN(y) ? Number.isNaN(x) : !Number.isFinite(y) ? x === y : Math.abs(x - y) <= tolerance.atol + tolerance.rtol * Math.abs(y);
    if (!ok) {
      throw new AssertionError({
        message: `${label}: element ${i} (index [${unravel(i, expected.shape)}]) is ${x}, expected ${y} within atol ${tolerance.atol} + rtol ${tolerance.rtol}; shape [${expected.shape}]`,
        actual: x,
        expected: y,
      });
    }
  }
}

/** Checks integer or bool results for exact equality. */
export function expectEqual(actual: Tensor, expected: Tensor, label: string): void {
  expectClose(actual, expected, { atol: 0, rtol: 0 }, label);
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

/** How a test input is presented to an op: contiguous, or a view that kernels must read in place. */
export type ViewKind = 'contiguous' | 'transposed' | 'strided' | 'broadcast';

export const VIEW_KINDS: readonly ViewKind[] = ['contiguous', 'transposed', 'strided', 'broadcast'];

/** Returns the shape of the base tensor from which `viewOf(base, shape, kind)` makes a view of `shape`. */
export function baseShapeFor(shape: readonly number[], kind: ViewKind): number[] {
  const base = [...shape];
  if (shape.length === 0) return base;
  switch (kind) {
    case 'contiguous':
      return base;
    case 'transposed':
      if (shape.length >= 2) [base[base.length - 2], base[base.length - 1]] = [base[base.length - 1], base[base.length - 2]];
      return base;
    case 'strided':
      base[0] = 2 * shape[0] + 1;
      return base;
    case 'broadcast':
      base[0] = 1;
      return base;
  }
}

/** Makes the view of `shape` described by `kind` from a base tensor of `baseShapeFor(shape, kind)`. */
export function viewOf(base: Tensor, shape: readonly number[], kind: ViewKind): Tensor {
  if (shape.length === 0) return base;
  switch (kind) {
    case 'contiguous':
      return base;
    case 'transposed':
      return shape.length >= 2 ? base.transpose(-1, -2) : base;
    case 'strided':
      // Every second row, starting at row 1: a non-zero offset and a doubled stride.
      return base.slice(0, 1, undefined, 2);
    case 'broadcast':
      return base.expand([...shape]);
  }
}

/**
 * Runs `fn` on 'gpu' float32 leaves and on 'cpu' float64 leaves made from the same values,
 * checks the outputs, then backpropagates a random weighting of the output and checks every
 * input's gradient. Returns nothing; throws an AssertionError naming `label`.
 */
export function checkForwardBackward(
  label: string,
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  seed: number,
  tolerance: Tolerance = FLOAT32,
  gradientTolerance: Tolerance = tolerance,
): void {
  const onGpu = inputs.map((t) => t.gpu().requiresGrad_());
  const reference = inputs.map((t) => t.double().detach().requiresGrad_());
  const actual = fn(...onGpu);
  const expected = fn(...reference);
  if (actual.device !== 'gpu') throw new AssertionError({ message: `${label}: the result is on '${actual.device}', expected 'gpu'` });
  expectClose(actual, expected, tolerance, `${label} forward`);

  const weights = sample(expected.shape, seed + 1);
  actual.mul(weights.gpu()).sum().backward();
  expected.mul(weights.double()).sum().backward();
  onGpu.forEach((input, i) => {
    if (input.grad === null) throw new AssertionError({ message: `${label}: input ${i} on 'gpu' received no gradient` });
    if (input.grad.device !== 'gpu') throw new AssertionError({ message: `${label}: the gradient of input ${i} is on '${input.grad.device}', expected 'gpu'` });
    expectClose(input.grad, reference[i].grad as Tensor, gradientTolerance, `${label} gradient of input ${i}`);
  });
}

/** Fast-check settings shared by the GPU suites: few runs, because each new rank compiles kernels. */
export const RUNS = { numRuns: 12 };

/**
 * Shared pieces of the core and ops tests. Input arbitraries mix contiguous tensors with strided
 * views, and closeness assertions name the first differing element. The reference
 * implementations of broadcasting and reduction use plain index arithmetic, so that forward
 * checks do not go through the code under test.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { type Tensor, gradcheck, gradgradcheck } from '../index.js';
import { type TensorArbOptions, nonContiguousTensorArb, tensorArb } from '../testing/arbitraries.js';

/** Runs per property: enough to meet broadcasting, size-1 and strided cases, few enough to stay fast. */
export const RUNS = 25;

export function numel(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/**
 * Generates float64 inputs that require grad, with the given shape and values: half of the time
 * a contiguous tensor and half of the time a strided view (when the shape has 2 or more elements).
 */
export function inputArb(shape: readonly number[], options: TensorArbOptions = {}): fc.Arbitrary<Tensor> {
  const settings = { requiresGrad: true, ...options, shape };
  const contiguous = tensorArb(settings);
  if (numel(shape) < 2) return contiguous;
  return fc.oneof(contiguous, nonContiguousTensorArb(settings).map((sample) => sample.view));
}

/** Asserts that gradcheck passes for `fn` on every generated list of inputs. */
export function assertGradcheck(inputs: fc.Arbitrary<Tensor[]>, fn: (...xs: Tensor[]) => Tensor | Tensor[], numRuns = RUNS): void {
  fc.assert(fc.property(inputs, (xs) => gradcheck(fn, xs)), { numRuns });
}

/** Asserts that gradgradcheck passes for `fn` on every generated list of inputs. */
export function assertGradgradcheck(inputs: fc.Arbitrary<Tensor[]>, fn: (...xs: Tensor[]) => Tensor | Tensor[], numRuns = 10): void {
  fc.assert(fc.property(inputs, (xs) => gradgradcheck(fn, xs)), { numRuns });
}

/** Elements of a tensor in row-major order, as plain numbers. */
export function valuesOf(t: Tensor): number[] {
  return Array.from(t.toTypedArray());
}

export interface Tolerance {
  atol?: number;
  rtol?: number;
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| element by element (NaN matches NaN,
 * infinities must match exactly), naming the first element that differs.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance = {}, label = 'values'): void {
  const atol = tolerance.atol ?? 1e-12;
  const rtol = tolerance.rtol ?? 1e-10;
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} elements, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Number.isFinite(e) && a === e) continue;
    if (Math.abs(a - e) <= atol + rtol * Math.abs(e)) continue;
    assert.fail(`${label}: element ${i} is ${a}, expected ${e} (difference ${Math.abs(a - e)}, atol ${atol}, rtol ${rtol})`);
  }
}

// ---- reference implementations --------------------------------------------------------------

/** Row-major multi-index of flat position `flat` in `shape`. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

/** Flat row-major position of a multi-index in `shape`. */
export function ravel(index: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + index[d];
  return flat;
}

/** Returns the element of (values, shape) that broadcasting reads for output multi-index `outIndex`. */
export function broadcastRead(values: ArrayLike<number>, shape: readonly number[], outIndex: readonly number[]): number {
  const skip = outIndex.length - shape.length;
  const index = shape.map((size, d) => (size === 1 ? 0 : outIndex[d + skip]));
  return values[ravel(index, shape)];
}

/** Applies `f` elementwise to two broadcast operands, producing `outShape` in row-major order. */
export function broadcastMap(
  a: { values: ArrayLike<number>; shape: readonly number[] },
  b: { values: ArrayLike<number>; shape: readonly number[] },
  outShape: readonly number[],
  f: (x: number, y: number) => number,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < numel(outShape); i++) {
    const index = unravel(i, outShape);
    out.push(f(broadcastRead(a.values, a.shape, index), broadcastRead(b.values, b.shape, index)));
  }
  return out;
}

/**
 * Reduces `values` of `shape` over `dims` with `reducer` (which receives the list of elements of
 * one output position, in row-major order). Returns the values and the output shape.
 */
export function reduceReference(
  values: ArrayLike<number>,
  shape: readonly number[],
  dims: readonly number[],
  keepdim: boolean,
  reducer: (elements: number[]) => number,
): { values: number[]; shape: number[] } {
  const keptShape = shape.map((size, d) => (dims.includes(d) ? 1 : size));
  const groups: number[][] = Array.from({ length: numel(keptShape) }, () => []);
  for (let i = 0; i < values.length; i++) {
    const index = unravel(i, shape).map((v, d) => (dims.includes(d) ? 0 : v));
    groups[ravel(index, keptShape)].push(values[i]);
  }
  const outShape = keepdim ? keptShape : shape.filter((_, d) => !dims.includes(d));
  return { values: groups.map(reducer), shape: outShape };
}

/** Chooses a random non-empty subset of the dims of a shape, and keepdim, for reduction tests. */
export function reductionArb(shapeOptions: { minRank?: number; maxRank?: number; maxSize?: number } = {}): fc.Arbitrary<{ shape: number[]; dims: number[]; keepdim: boolean }> {
  const shapes = fc.array(fc.integer({ min: 1, max: shapeOptions.maxSize ?? 3 }), { minLength: shapeOptions.minRank ?? 1, maxLength: shapeOptions.maxRank ?? 3 });
  return shapes.chain((shape) => {
    const all = shape.map((_, d) => d);
    return fc.record({
      shape: fc.constant(shape),
      dims: fc.subarray(all, { minLength: 1 }),
      keepdim: fc.boolean(),
    });
  });
}

/** Shared pieces of the functional tests: seeded float64 tensors and an elementwise comparison. */
import assert from 'node:assert/strict';

import { Generator, Tensor, tensor } from '../index.js';

/** A float64 tensor of normal samples times `scale` plus `shift`, drawn from its own seeded generator. */
export function randomTensor(shape: number[], seed: number, options: { scale?: number; shift?: number; requiresGrad?: boolean } = {}): Tensor {
  const generator = new Generator(seed);
  const count = shape.reduce((product, size) => product * size, 1);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = generator.normal() * (options.scale ?? 1) + (options.shift ?? 0);
  return tensor(data, { shape, dtype: 'float64', requiresGrad: options.requiresGrad ?? false });
}

/** Uniform integers in [low, high) as a plain array, from a seeded generator. */
export function randomIntegers(count: number, low: number, high: number, seed: number): number[] {
  const generator = new Generator(seed);
  return Array.from({ length: count }, () => generator.randint(low, high));
}

export function valuesOf(t: Tensor): number[] {
  return Array.from(t.toTypedArray());
}

/** Asserts |actual - expected| <= atol + rtol |expected| elementwise, naming the first element that fails. */
export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, options: { atol?: number; rtol?: number; label?: string } = {}): void {
  const atol = options.atol ?? 1e-10;
  const rtol = options.rtol ?? 1e-9;
  const label = options.label === undefined ? '' : `${options.label}: `;
  assert.equal(actual.length, expected.length, `${label}lengths differ`);
  for (let i = 0; i < actual.length; i++) {
    const close = Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]);
    assert.ok(close, `${label}element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

/** Log-softmax of one row of plain numbers, shifted by the row max. */
export function referenceLogSoftmax(row: number[]): number[] {
  const max = Math.max(...row);
  const logSum = Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0)) + max;
  return row.map((x) => x - logSum);
}

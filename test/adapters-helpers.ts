/**
 * Shared pieces of the adapter tests: a one-layer model to inject into, random layer shapes
 * that cover square, out > in and in > out, and plain-JavaScript matrix arithmetic, so that
 * expected values never come from the code under test.
 */
import fc from 'fast-check';

import { Generator, type Tensor, noGrad, tensor } from '../index.js';
import type { AdapterMethod } from '../adapters/index.js';
import { getParametrizations } from '../adapters/index.js';
import type { LowRankAdapter, ParametrizationDict } from '../adapters/index.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';

export type Matrix = number[][];

/** A layer shape: weight out x in, adapter rank r with 1 <= r <= min(in, out). */
export interface LayerShape {
  inFeatures: number;
  outFeatures: number;
  rank: number;
}

/** One fixed shape per direction; every property test runs these before the random ones. */
export const SHAPE_EXAMPLES: LayerShape[] = [
  { inFeatures: 4, outFeatures: 4, rank: 2 },
  { inFeatures: 3, outFeatures: 5, rank: 2 },
  { inFeatures: 5, outFeatures: 3, rank: 3 },
];

/** Random (in, out, r) with sizes in [1, maxSize] and r in [1, min(in, out)]. */
export function layerShapeArbitrary(maxSize = 6): fc.Arbitrary<LayerShape> {
  return fc
    .record({ inFeatures: fc.integer({ min: 1, max: maxSize }), outFeatures: fc.integer({ min: 1, max: maxSize }) })
    .chain(({ inFeatures, outFeatures }) =>
      fc.integer({ min: 1, max: Math.min(inFeatures, outFeatures) }).map((rank) => ({ inFeatures, outFeatures, rank })),
    );
}

/** Square shapes only, n in [1, maxSize]. */
export function squareShapeArbitrary(maxSize = 6): fc.Arbitrary<LayerShape> {
  return fc
    .integer({ min: 1, max: maxSize })
    .chain((n) => fc.integer({ min: 1, max: n }).map((rank) => ({ inFeatures: n, outFeatures: n, rank })));
}

export const seedArbitrary = fc.integer({ min: 0, max: 2 ** 31 - 1 });

/** A model with one child Linear named `layer`, so injectAdapters can target 'layer'. */
export class OneLayer extends Module {
  layer: Linear;

  constructor(shape: { inFeatures: number; outFeatures: number }, options: { bias?: boolean; dtype?: 'float32' | 'float64'; seed?: number } = {}) {
    super();
    this.layer = new Linear(shape.inFeatures, shape.outFeatures, {
      bias: options.bias ?? true,
      dtype: options.dtype ?? 'float64',
      generator: new Generator(options.seed ?? 0),
    });
  }

  forward(x: Tensor): Tensor {
    return this.layer.call(x);
  }
}

/** Returns the adapter stacked on `module.weight` (the first one unless `index` is given). */
export function adapterOf(module: Module, index = 0): LowRankAdapter {
  const adapter = getParametrizations(module, 'weight')[index];
  if (adapter === undefined) throw new Error(`test setup: ${module.constructor.name} has no parametrization ${index} on its weight`);
  return adapter as LowRankAdapter;
}

/** Returns the frozen base weight behind a parametrized `module.weight`. */
export function originalWeight(module: Module): Parameter {
  const list = (module as Module & { parametrizations?: ParametrizationDict }).parametrizations?.get('weight');
  if (list === undefined) throw new Error(`test setup: ${module.constructor.name}.weight is not parametrized`);
  return list.original;
}

/** Every adapter method, with the parameter count it must add to an out x in layer. */
export const METHODS: { method: AdapterMethod; count: (shape: LayerShape) => number }[] = [
  { method: 'lora', count: ({ inFeatures, outFeatures, rank }) => rank * (inFeatures + outFeatures) },
  { method: 'rslora', count: ({ inFeatures, outFeatures, rank }) => rank * (inFeatures + outFeatures) },
  { method: 'dora', count: ({ inFeatures, outFeatures, rank }) => rank * (inFeatures + outFeatures) + outFeatures },
  { method: 'singlora', count: ({ inFeatures, outFeatures, rank }) => rank * Math.max(inFeatures, outFeatures) },
  { method: 'singlora-dora', count: ({ inFeatures, outFeatures, rank }) => rank * Math.max(inFeatures, outFeatures) + outFeatures },
];

/** A float64 tensor of N(0, scale^2) values from its own seeded generator. */
export function randomTensor(shape: number[], seed: number, options: { scale?: number; dtype?: 'float32' | 'float64'; requiresGrad?: boolean } = {}): Tensor {
  const generator = new Generator(seed);
  const count = shape.reduce((product, size) => product * size, 1);
  const values = Array.from({ length: count }, () => generator.normal() * (options.scale ?? 1));
  const dtype = options.dtype ?? 'float64';
  const data = dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
  return tensor(data, { shape, dtype, requiresGrad: options.requiresGrad ?? false });
}

/** Overwrites every element of a parameter with N(0, scale^2) values, outside autograd. */
export function fillRandom(t: Tensor, seed: number, scale = 1): void {
  const values = randomTensor(t.shape, seed, { scale, dtype: t.dtype === 'float32' ? 'float32' : 'float64' });
  noGrad(() => t.copy_(values));
}

// ---- plain-JavaScript matrices ---------------------------------------------------------------

export function toMatrix(t: Tensor): Matrix {
  if (t.ndim !== 2) throw new Error(`toMatrix: expected a 2-D tensor, got shape [${t.shape.join(', ')}]`);
  const [rows, cols] = t.shape;
  const values = t.toTypedArray();
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => Number(values[i * cols + j])));
}

export function matmulPlain(a: Matrix, b: Matrix): Matrix {
  const inner = b.length;
  const cols = inner === 0 ? 0 : b[0].length;
  return a.map((row) => {
    const out = new Array<number>(cols).fill(0);
    for (let k = 0; k < inner; k++) for (let j = 0; j < cols; j++) out[j] += row[k] * b[k][j];
    return out;
  });
}

export function transposePlain(a: Matrix): Matrix {
  const cols = a.length === 0 ? 0 : a[0].length;
  return Array.from({ length: cols }, (_, j) => a.map((row) => row[j]));
}

export function maxAbsDifference(a: Matrix, b: Matrix): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((value, j) => (max = Math.max(max, Math.abs(value - b[i][j])))));
  return max;
}

export function maxAbs(a: Matrix): number {
  return a.reduce((max, row) => row.reduce((m, value) => Math.max(m, Math.abs(value)), max), 0);
}

/** Determinant by Gaussian elimination with partial pivoting. */
export function determinant(a: Matrix): number {
  const m = a.map((row) => [...row]);
  const n = m.length;
  let det = 1;
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[pivot][c])) pivot = r;
    if (m[pivot][c] === 0) return 0;
    if (pivot !== c) {
      [m[pivot], m[c]] = [m[c], m[pivot]];
      det = -det;
    }
    det *= m[c][c];
    for (let r = c + 1; r < n; r++) {
      const factor = m[r][c] / m[c][c];
      for (let k = c; k < n; k++) m[r][k] -= factor * m[c][k];
    }
  }
  return det;
}

/** Draws a random n x n orthogonal matrix by Gram-Schmidt on the columns of a Gaussian matrix. */
export function randomOrthogonal(n: number, seed: number): Matrix {
  const generator = new Generator(seed);
  const columns: number[][] = [];
  while (columns.length < n) {
    const v = Array.from({ length: n }, () => generator.normal());
    // Two passes of projection keep the columns orthogonal to rounding accuracy.
    for (let pass = 0; pass < 2; pass++) {
      for (const q of columns) {
        const dot = q.reduce((sum, qi, i) => sum + qi * v[i], 0);
        for (let i = 0; i < n; i++) v[i] -= dot * q[i];
      }
    }
    const norm = Math.sqrt(v.reduce((sum, vi) => sum + vi * vi, 0));
    if (norm < 1e-6) continue;
    columns.push(v.map((vi) => vi / norm));
  }
  return transposePlain(columns);
}

/**
 * Gradients of every adapter, checked in float64 through a Linear with the adapter injected,
 * on the factored fast path (`layer.call(x)`) and on the materialised path
 * (`linear(x, layer.weight, layer.bias)`), for square, out > in and in > out layers.
 *
 * DoRA's row norm n is detached by design, so its gradient with respect to the low-rank factors
 * is not the derivative of W' = m V / ‖V‖. Those gradients are compared with central differences
 * of a plain-JavaScript reference in which n is a constant computed once, outside. The gradients
 * with respect to x and m do not pass through n, so they go through gradcheck directly.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { type Tensor, gradcheck, linear } from '../index.js';
import { type AdapterMethod, injectAdapters } from '../adapters/index.js';
import {
  type LayerShape,
  type Matrix,
  OneLayer,
  SHAPE_EXAMPLES,
  adapterOf,
  fillRandom,
  layerShapeArbitrary,
  matmulPlain,
  originalWeight,
  randomTensor,
  seedArbitrary,
  toMatrix,
  transposePlain,
} from './adapters-helpers.js';

type Path = 'factored' | 'materialised';

const BATCH = 3;
const RAMP_STEPS = 4;

/** The two ramp positions checked for SingLoRA: u = 1/2 (t = 2 of T = 4) and u = 1 (t = T). */
const RAMP_CASES = [
  { label: 'u = 1/2', step: 2, u: 0.5 },
  { label: 'u = 1', step: RAMP_STEPS, u: 1 },
];

/**
 * Builds a float64 layer with `method` injected. LoRA's B (zero at init) and DoRA's magnitude
 * (the base norms at init) get random values, so no gradient is trivially zero.
 */
function adaptedLayer(method: AdapterMethod, shape: LayerShape, seed: number, step: number) {
  const model = new OneLayer(shape, { seed });
  const adapted = injectAdapters(model, { method, rank: shape.rank, alpha: 1.5, targets: ['layer'], rampSteps: RAMP_STEPS });
  adapted.clock.setStep(step);
  const adapter = adapterOf(model.layer);
  adapter.parameters().forEach((param, i) => {
    fillRandom(param, seed + 10 + i, param.ndim === 1 ? 0.3 : 0.7);
    // Keep DoRA magnitudes away from zero, so m / n is well conditioned.
    if (param.ndim === 1) param.data = param.abs().add(0.5).detach();
  });
  const x = randomTensor([BATCH, shape.inFeatures], seed + 1, { requiresGrad: true });
  return { model, adapted, adapter, x };
}

function forwardOn(path: Path, model: OneLayer): (x: Tensor) => Tensor {
  const layer = model.layer;
  return path === 'factored' ? (x) => layer.call(x) : (x) => linear(x, layer.weight, layer.bias);
}

function checkPlainAdapter(method: AdapterMethod, path: Path, step: number): void {
  fc.assert(
    fc.property(layerShapeArbitrary(6), seedArbitrary, (shape, seed) => {
      const { model, adapter, x } = adaptedLayer(method, shape, seed, step);
      const forward = forwardOn(path, model);
      assert.ok(gradcheck((input) => forward(input), [x, ...adapter.parameters()]));
    }),
    { numRuns: 25, examples: SHAPE_EXAMPLES.map((shape) => [shape, 7]) },
  );
}

// ---- DoRA reference with the row norm held constant ------------------------------------------

/** ΔW of the adapter as plain numbers, rebuilt from its raw factors (not from deltaWeight). */
function plainDelta(method: AdapterMethod, shape: LayerShape, factors: Record<string, Matrix>, u: number): Matrix {
  const { inFeatures, outFeatures, rank } = shape;
  if (method === 'dora') {
    const scale = 1.5 / rank;
    return matmulPlain(factors.lora_B, factors.lora_A).map((row) => row.map((v) => scale * v));
  }
  const a = factors.singlora_A;
  const scale = (1.5 / rank) * u;
  return matmulPlain(a.slice(0, outFeatures), transposePlain(a.slice(0, inFeatures))).map((row) => row.map((v) => scale * v));
}

/** L = Σ g ⊙ y with y = (m / n) ⊙ (x (W0 + ΔW)^T) + b, where n is the fixed vector `norms`. */
function doraLoss(x: Matrix, w0: Matrix, delta: Matrix, magnitude: number[], norms: number[], bias: number[], g: Matrix): number {
  const v = w0.map((row, i) => row.map((w, j) => w + delta[i][j]));
  const y = matmulPlain(x, transposePlain(v));
  let loss = 0;
  y.forEach((row, i) => row.forEach((value, j) => (loss += g[i][j] * ((magnitude[j] / norms[j]) * value + bias[j]))));
  return loss;
}

function rowNormsPlain(m: Matrix): number[] {
  return m.map((row) => Math.sqrt(row.reduce((sum, v) => sum + v * v, 0)));
}

function checkDoraFactorGradients(method: 'dora' | 'singlora-dora', path: Path, step: number, u: number): void {
  fc.assert(
    fc.property(layerShapeArbitrary(6), seedArbitrary, (shape, seed) => {
      const { model, adapter, x } = adaptedLayer(method, shape, seed, step);
      const g = randomTensor([BATCH, shape.outFeatures], seed + 2);
      forwardOn(path, model)(x).mul(g).sum().backward();

      const layer = model.layer;
      const w0 = toMatrix(originalWeight(layer));
      const bias = Array.from(layer.bias!.toTypedArray(), Number);
      const named = Object.fromEntries(adapter.namedParameters());
      const magnitude = Array.from(named.lora_magnitude_vector.toTypedArray(), Number);
      const factorNames = Object.keys(named).filter((name) => name !== 'lora_magnitude_vector');
      const factors = Object.fromEntries(factorNames.map((name) => [name, toMatrix(named[name])]));
      const xPlain = toMatrix(x);
      const gPlain = toMatrix(g);

      // n is computed once at the current factors and then held fixed.
      const w = w0.map((row, i) => row.map((value, j) => value + plainDelta(method, shape, factors, u)[i][j]));
      const norms = rowNormsPlain(w);
      const loss = (f: Record<string, Matrix>): number => doraLoss(xPlain, w0, plainDelta(method, shape, f, u), magnitude, norms, bias, gPlain);

      // L is at most quadratic in each factor entry, so central differences are exact up to
      // rounding, and a large step keeps the rounding small.
      const eps = 1e-3;
      for (const name of factorNames) {
        const analytic = toMatrix(named[name].grad!);
        factors[name].forEach((row, i) =>
          row.forEach((value, j) => {
            row[j] = value + eps;
            const plus = loss(factors);
            row[j] = value - eps;
            const minus = loss(factors);
            row[j] = value;
            const numeric = (plus - minus) / (2 * eps);
            const tolerance = 1e-6 + 1e-5 * Math.abs(numeric);
            assert.ok(Math.abs(analytic[i][j] - numeric) <= tolerance, `${name}[${i}, ${j}]: autograd ${analytic[i][j]}, finite difference with n fixed ${numeric}`);
          }),
        );
      }
    }),
    { numRuns: 25, examples: SHAPE_EXAMPLES.map((shape) => [shape, 11]) },
  );
}

function checkDoraInputAndMagnitude(method: 'dora' | 'singlora-dora', path: Path, step: number): void {
  fc.assert(
    fc.property(layerShapeArbitrary(6), seedArbitrary, (shape, seed) => {
      const { model, adapter, x } = adaptedLayer(method, shape, seed, step);
      const forward = forwardOn(path, model);
      const magnitude = Object.fromEntries(adapter.namedParameters()).lora_magnitude_vector;
      assert.ok(gradcheck((input) => forward(input), [x, magnitude]));
    }),
    { numRuns: 25, examples: SHAPE_EXAMPLES.map((shape) => [shape, 13]) },
  );
}

// ---- the tests -------------------------------------------------------------------------------

const PATHS: Path[] = ['factored', 'materialised'];

describe('adapter gradients (float64 gradcheck)', () => {
  for (const path of PATHS) {
    describe(`${path} path`, () => {
      it('LoRA: x, A and B', () => checkPlainAdapter('lora', path, 0));

      it('rsLoRA: x, A and B', () => checkPlainAdapter('rslora', path, 0));

      for (const { label, step } of RAMP_CASES) {
        it(`SingLoRA at ${label}: x and A`, () => checkPlainAdapter('singlora', path, step));
      }

      it('DoRA: x and m', () => checkDoraInputAndMagnitude('dora', path, 0));

      it('DoRA: A and B with the norm held constant', () => checkDoraFactorGradients('dora', path, 0, 1));

      for (const { label, step, u } of RAMP_CASES) {
        it(`SingLoRA+DoRA at ${label}: x and m`, () => checkDoraInputAndMagnitude('singlora-dora', path, step));

        it(`SingLoRA+DoRA at ${label}: A with the norm held constant`, () => checkDoraFactorGradients('singlora-dora', path, step, u));
      }
    });
  }

  it('DoRA gradient differs from the one through a live norm', () => {
    // Guards the test above: if n were not detached, autograd would match this other derivative.
    const shape = { inFeatures: 3, outFeatures: 4, rank: 2 };
    const { model, adapter, x } = adaptedLayer('dora', shape, 5, 0);
    const g = randomTensor([BATCH, shape.outFeatures], 6);
    model.layer.call(x).mul(g).sum().backward();
    const named = Object.fromEntries(adapter.namedParameters());
    const w0 = toMatrix(originalWeight(model.layer));
    const bias = Array.from(model.layer.bias!.toTypedArray(), Number);
    const magnitude = Array.from(named.lora_magnitude_vector.toTypedArray(), Number);
    const factors = { lora_A: toMatrix(named.lora_A), lora_B: toMatrix(named.lora_B) };
    const liveLoss = (): number => {
      const delta = plainDelta('dora', shape, factors, 1);
      const v = w0.map((row, i) => row.map((w, j) => w + delta[i][j]));
      return doraLoss(toMatrix(x), w0, delta, magnitude, rowNormsPlain(v), bias, toMatrix(g));
    };
    const eps = 1e-6;
    const b = factors.lora_B;
    const original = b[0][0];
    b[0][0] = original + eps;
    const plus = liveLoss();
    b[0][0] = original - eps;
    const minus = liveLoss();
    b[0][0] = original;
    const throughNorm = (plus - minus) / (2 * eps);
    assert.ok(Math.abs(toMatrix(named.lora_B.grad!)[0][0] - throughNorm) > 1e-6, 'the DoRA gradient matches the derivative through a live norm');
  });
});

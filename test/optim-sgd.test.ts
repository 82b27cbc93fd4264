import assert from 'node:assert/strict';

import { type Tensor, tensor } from '../index.js';
import { SGD, type SGDOptions } from '../nn/optim/index.js';

// Every expected value below is worked out by hand from the update in PyTorch's SGD:
//   d = g (negated if maximize) + λθ;  b = d on the first step, else μb + (1 − τ)d;
//   d = d + μb if nesterov, else b;  θ = θ − γd.
// All runs start from θ0 = [1, -2] with lr γ = 0.1 and feed these three gradients, set directly
// on .grad so that the expected values do not depend on any loss. Float64 keeps the rounding
// error near 1e-16, far below the smallest term that a wrong rule would change (1e-3).
const THETA0 = [1, -2];
const GRADS = [
  [1, 2],
  [0.5, -1],
  [-1, 0.5],
];
const TOLERANCE = 1e-12;

function runSGD(options: Omit<SGDOptions, 'lr'>): number[][] {
  const param = tensor(THETA0, { dtype: 'float64', requiresGrad: true });
  const optimizer = new SGD([param], { lr: 0.1, ...options });
  return GRADS.map((grad) => {
    param.grad = tensor(grad, { dtype: 'float64' });
    optimizer.step();
    return param.toArray() as number[];
  });
}

function assertTrajectory(actual: number[][], expected: number[][]): void {
  expected.forEach((row, step) => {
    row.forEach((value, i) => {
      assert.ok(Math.abs(actual[step][i] - value) <= TOLERANCE, `step ${step + 1}, element ${i}: got ${actual[step][i]}, expected ${value}`);
    });
  });
}

describe('SGD', () => {
  it('plain steps follow θ − γg', () => {
    // θ1 = [1 − 0.1, −2 − 0.2]; θ2 = θ1 − 0.1·[0.5, −1]; θ3 = θ2 − 0.1·[−1, 0.5].
    assertTrajectory(runSGD({}), [
      [0.9, -2.2],
      [0.85, -2.1],
      [0.95, -2.15],
    ]);
  });

  it('momentum starts the buffer at the gradient', () => {
    // b1 = [1, 2]; b2 = 0.9·b1 + [0.5, −1] = [1.4, 0.8]; b3 = 0.9·b2 + [−1, 0.5] = [0.26, 1.22].
    assertTrajectory(runSGD({ momentum: 0.9 }), [
      [0.9, -2.2],
      [0.76, -2.28],
      [0.734, -2.402],
    ]);
  });

  it('dampening scales later gradients only', () => {
    // b1 = [1, 2] (undamped); b2 = 0.9·b1 + 0.5·[0.5, −1] = [1.15, 1.3];
    // b3 = 0.9·b2 + 0.5·[−1, 0.5] = [0.535, 1.42].
    assertTrajectory(runSGD({ momentum: 0.9, dampening: 0.5 }), [
      [0.9, -2.2],
      [0.785, -2.33],
      [0.7315, -2.472],
    ]);
  });

  it('nesterov adds μb to the gradient', () => {
    // d1 = g1 + 0.9·[1, 2] = [1.9, 3.8]; d2 = [0.5, −1] + 0.9·[1.4, 0.8] = [1.76, −0.28];
    // d3 = [−1, 0.5] + 0.9·[0.26, 1.22] = [−0.766, 1.598].
    assertTrajectory(runSGD({ momentum: 0.9, nesterov: true }), [
      [0.81, -2.38],
      [0.634, -2.352],
      [0.7106, -2.5118],
    ]);
  });

  it('weight decay adds λθ to the gradient', () => {
    // d1 = [1, 2] + 0.1·[1, −2] = [1.1, 1.8];
    // d2 = [0.5, −1] + 0.1·[0.89, −2.18] = [0.589, −1.218];
    // d3 = [−1, 0.5] + 0.1·[0.8311, −2.0582] = [−0.91689, 0.29418].
    assertTrajectory(runSGD({ weightDecay: 0.1 }), [
      [0.89, -2.18],
      [0.8311, -2.0582],
      [0.922789, -2.087618],
    ]);
  });

  it('maximize ascends the gradient', () => {
    assertTrajectory(runSGD({ maximize: true }), [
      [1.1, -1.8],
      [1.15, -1.9],
      [1.05, -1.85],
    ]);
  });

  it('maximize with weight decay still decays', () => {
    // PyTorch's implementation negates g before adding λθ: d = −g + λθ.
    // d1 = [−1, −2] + [0.1, −0.2] = [−0.9, −2.2];
    // d2 = [−0.5, 1] + 0.1·[1.09, −1.78] = [−0.391, 0.822];
    // d3 = [1, −0.5] + 0.1·[1.1291, −1.8622] = [1.11291, −0.68622].
    assertTrajectory(runSGD({ maximize: true, weightDecay: 0.1 }), [
      [1.09, -1.78],
      [1.1291, -1.8622],
      [1.017809, -1.793578],
    ]);
  });

  it('momentum with weight decay decays inside the buffer', () => {
    // d1 = [1.1, 1.8] = b1, θ1 = [0.89, −2.18];
    // d2 = [0.589, −1.218], b2 = 0.9·b1 + d2 = [1.579, 0.402], θ2 = [0.7321, −2.2202];
    // d3 = [−1, 0.5] + 0.1·θ2 = [−0.92679, 0.27798], b3 = 0.9·b2 + d3 = [0.49431, 0.63978].
    assertTrajectory(runSGD({ momentum: 0.9, weightDecay: 0.1 }), [
      [0.89, -2.18],
      [0.7321, -2.2202],
      [0.682669, -2.284178],
    ]);
  });

  it('momentum buffer is kept in state', () => {
    const param = tensor(THETA0, { dtype: 'float64', requiresGrad: true });
    const optimizer = new SGD([param], { lr: 0.1, momentum: 0.9 });
    param.grad = tensor(GRADS[0], { dtype: 'float64' });
    optimizer.step();
    param.grad = tensor(GRADS[1], { dtype: 'float64' });
    optimizer.step();

    const buffer = optimizer.state.get(param)?.momentumBuffer as Tensor;
    assert.deepEqual(buffer.shape, [2]);
    assert.ok(Math.abs(buffer.get(0) - 1.4) <= TOLERANCE, `buffer[0] = ${buffer.get(0)}`);
    assert.ok(Math.abs(buffer.get(1) - 0.8) <= TOLERANCE, `buffer[1] = ${buffer.get(1)}`);
  });

  it('no momentum keeps no state', () => {
    const param = tensor(THETA0, { dtype: 'float64', requiresGrad: true });
    const optimizer = new SGD([param], { lr: 0.1 });
    param.grad = tensor(GRADS[0], { dtype: 'float64' });
    optimizer.step();
    assert.equal(optimizer.state.size, 0);
  });

  it('float32 parameters stay float32', () => {
    const param = tensor(THETA0, { requiresGrad: true });
    const optimizer = new SGD([param], { lr: 0.1, momentum: 0.9 });
    param.grad = tensor(GRADS[0]);
    optimizer.step();
    assert.equal(param.dtype, 'float32');
    assert.equal(optimizer.state.get(param)?.momentumBuffer?.dtype, 'float32');
    assert.ok(Math.abs(param.get(0) - 0.9) < 1e-6, `θ[0] = ${param.get(0)}`);
  });

  it('steps from a real backward', () => {
    // loss = sum(θ²) has gradient 2θ, so each plain step multiplies θ by 1 − 2γ = 0.8.
    const param = tensor([1, -2], { dtype: 'float64', requiresGrad: true });
    const optimizer = new SGD([param], { lr: 0.1 });
    for (let step = 0; step < 3; step++) {
      optimizer.zeroGrad();
      param.mul(param).sum().backward();
      optimizer.step();
    }
    assert.ok(Math.abs(param.get(0) - 0.512) <= TOLERANCE, `θ[0] = ${param.get(0)}`);
    assert.ok(Math.abs(param.get(1) + 1.024) <= TOLERANCE, `θ[1] = ${param.get(1)}`);
    assert.equal(param.isLeaf, true);
    assert.equal(param.requiresGrad, true);
  });
});

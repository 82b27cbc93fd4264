import assert from 'node:assert/strict';

import { tensor } from '../index.js';
import { Adam, AdamW, type AdamOptions } from '../nn/optim/index.js';

interface ReferenceOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  decoupled: boolean;
}

const REFERENCE_DEFAULTS: ReferenceOptions = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  amsgrad: false,
  maximize: false,
  decoupled: false,
};

/**
 * Runs the Adam and AdamW pseudo-code of the PyTorch documentation element by element on plain
 * numbers, written from the formulas and independent of the tensor code:
 *   g = ∇ (negated if maximize); AdamW: θ = θ(1 − γλ), Adam: g = g + λθ;
 *   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  m̂ = m / (1 − β1^t);
 *   v̂ = v / (1 − β2^t), or v_max / (1 − β2^t) with v_max = max(v_max, v) under amsgrad;
 *   θ = θ − γ·m̂ / (sqrt(v̂) + ε).
 * Returns θ after each step.
 */
function adamReference(theta0: number[], grads: number[][], overrides: Partial<ReferenceOptions>): number[][] {
  const o = { ...REFERENCE_DEFAULTS, ...overrides };
  const theta = [...theta0];
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  const vMax = theta.map(() => 0);
  const trajectory: number[][] = [];

  grads.forEach((grad, stepIndex) => {
    const t = stepIndex + 1;
    for (let i = 0; i < theta.length; i++) {
      let g = o.maximize ? -grad[i] : grad[i];
      if (o.decoupled) theta[i] *= 1 - o.lr * o.weightDecay;
      else g += o.weightDecay * theta[i];

      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      vMax[i] = Math.max(vMax[i], v[i]);

      const mHat = m[i] / (1 - o.beta1 ** t);
      const vHat = (o.amsgrad ? vMax[i] : v[i]) / (1 - o.beta2 ** t);
      theta[i] -= (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
    trajectory.push([...theta]);
  });
  return trajectory;
}

const THETA0 = [1, -2, 0.5];
const GRADS = [
  [0.5, -4, 0.01],
  [0.3, -1, -0.02],
  [-0.2, 2, 0.03],
];
// Element 0 gets a large first gradient and small later ones, so v shrinks after step 1 and
// amsgrad's running maximum differs from v.
const SHRINKING_GRADS = [
  [10, -4, 0.01],
  [0.1, -1, -0.02],
  [0.1, 2, 0.03],
];

// Float64 rounding differences between the tensor code and the reference stay near 1e-15;
// each hyperparameter changes the trajectory by at least 1e-6 here.
const TOLERANCE = 1e-12;

function runOptimizer(kind: 'Adam' | 'AdamW', options: AdamOptions, grads = GRADS, dtype: 'float32' | 'float64' = 'float64'): number[][] {
  const param = tensor(THETA0, { dtype, requiresGrad: true });
  const optimizer = kind === 'Adam' ? new Adam([param], options) : new AdamW([param], options);
  return grads.map((grad) => {
    param.grad = tensor(grad, { dtype });
    optimizer.step();
    return param.toArray() as number[];
  });
}

function assertTrajectory(actual: number[][], expected: number[][], tolerance = TOLERANCE): void {
  expected.forEach((row, step) => {
    row.forEach((value, i) => {
      assert.ok(Math.abs(actual[step][i] - value) <= tolerance, `step ${step + 1}, element ${i}: got ${actual[step][i]}, expected ${value}`);
    });
  });
}

function maxDifference(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((row, step) => row.map((value, i) => Math.abs(value - b[step][i]))));
}

describe('Adam', () => {
  it('first step moves each element by lr', () => {
    // After one step m̂ = g and v̂ = g², so θ1 = θ0 − γ·g / (|g| + ε).
    const [theta1] = runOptimizer('Adam', { lr: 0.1 });
    assert.ok(Math.abs(theta1[0] - (1 - (0.1 * 0.5) / (0.5 + 1e-8))) <= TOLERANCE, `θ1[0] = ${theta1[0]}`);
    assert.ok(Math.abs(theta1[1] - (-2 + (0.1 * 4) / (4 + 1e-8))) <= TOLERANCE, `θ1[1] = ${theta1[1]}`);
    assert.ok(Math.abs(theta1[2] - (0.5 - (0.1 * 0.01) / (0.01 + 1e-8))) <= TOLERANCE, `θ1[2] = ${theta1[2]}`);
  });

  it('default hyperparameters match the pseudo-code', () => {
    assertTrajectory(runOptimizer('Adam', {}), adamReference(THETA0, GRADS, {}));
  });

  it('custom betas and eps match the pseudo-code', () => {
    const options = { lr: 0.05, betas: [0.5, 0.8] as const, eps: 1e-3 };
    assertTrajectory(runOptimizer('Adam', options), adamReference(THETA0, GRADS, { lr: 0.05, beta1: 0.5, beta2: 0.8, eps: 1e-3 }));
  });

  it('beta1 = 0 disables momentum', () => {
    const options = { lr: 0.05, betas: [0, 0.9] as const };
    assertTrajectory(runOptimizer('Adam', options), adamReference(THETA0, GRADS, { lr: 0.05, beta1: 0, beta2: 0.9 }));
  });

  it('weight decay is added to the gradient', () => {
    const trajectory = runOptimizer('Adam', { lr: 0.1, weightDecay: 0.5 });
    assertTrajectory(trajectory, adamReference(THETA0, GRADS, { lr: 0.1, weightDecay: 0.5 }));
    assert.ok(maxDifference(trajectory, adamReference(THETA0, GRADS, { lr: 0.1 })) > 1e-4, 'weight decay changed nothing');
  });

  it('amsgrad keeps the maximum second moment', () => {
    // With β2 = 0.5, v decays fast: v[0] falls from 50 to about 25 after step 1, while v_max stays 50.
    const trajectory = runOptimizer('Adam', { lr: 0.1, betas: [0.9, 0.5], amsgrad: true }, SHRINKING_GRADS);
    assertTrajectory(trajectory, adamReference(THETA0, SHRINKING_GRADS, { lr: 0.1, beta2: 0.5, amsgrad: true }));
    assert.ok(maxDifference(trajectory, adamReference(THETA0, SHRINKING_GRADS, { lr: 0.1, beta2: 0.5 })) > 1e-3, 'amsgrad changed nothing');
  });

  it('maximize ascends the gradient', () => {
    const trajectory = runOptimizer('Adam', { lr: 0.1, maximize: true, weightDecay: 0.1 });
    assertTrajectory(trajectory, adamReference(THETA0, GRADS, { lr: 0.1, maximize: true, weightDecay: 0.1 }));
    assert.ok(trajectory[0][0] > THETA0[0], `θ[0] went from ${THETA0[0]} to ${trajectory[0][0]}, not up its gradient`);
  });

  it('float32 parameters follow the pseudo-code', () => {
    // float32 rounding (2^-24 relative) over three steps stays far below 1e-5.
    assertTrajectory(runOptimizer('Adam', { lr: 0.1 }, GRADS, 'float32'), adamReference(THETA0, GRADS, { lr: 0.1 }), 1e-5);
  });

  it('state counts steps per parameter', () => {
    const param = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const late = tensor([3], { dtype: 'float64', requiresGrad: true });
    const optimizer = new Adam([param, late], { amsgrad: true });
    for (let step = 0; step < 3; step++) {
      param.grad = tensor([0.1, 0.2], { dtype: 'float64' });
      if (step === 2) late.grad = tensor([1], { dtype: 'float64' });
      optimizer.step();
    }

    const state = optimizer.state.get(param);
    assert.equal(state?.step, 3);
    assert.deepEqual(state?.expAvg.shape, [2]);
    assert.deepEqual(state?.expAvgSq.shape, [2]);
    assert.deepEqual(state?.maxExpAvgSq?.shape, [2]);
    assert.equal(optimizer.state.get(late)?.step, 1);
  });

  it('minimises a quadratic', () => {
    // f(x) = Σ w·(x − c)², minimised at x = c.
    const target = tensor([3, -1, 0.5, 2]);
    const weights = tensor([1, 10, 0.1, 5]);
    const x = tensor([0, 0, 0, 0], { requiresGrad: true });
    const optimizer = new Adam([x], { lr: 0.05 });
    const loss = () => x.sub(target).square().mul(weights).sum();
    const initialLoss = loss().item();

    for (let step = 0; step < 400; step++) {
      optimizer.zeroGrad();
      loss().backward();
      optimizer.step();
    }

    const finalLoss = loss().item();
    assert.ok(finalLoss < initialLoss * 1e-4, `loss went from ${initialLoss} to ${finalLoss}`);
    (x.toArray() as number[]).forEach((value, i) => {
      assert.ok(Math.abs(value - target.get(i)) < 0.05, `x[${i}] = ${value}, expected near ${target.get(i)}`);
    });
  });
});

describe('AdamW', () => {
  it('decays θ before the Adam update', () => {
    const trajectory = runOptimizer('AdamW', { lr: 0.1, weightDecay: 0.5 });
    assertTrajectory(trajectory, adamReference(THETA0, GRADS, { lr: 0.1, weightDecay: 0.5, decoupled: true }));
  });

  it('defaults to weight decay 1e-2', () => {
    const param = tensor([1], { requiresGrad: true });
    assert.equal(new AdamW([param]).defaults.weightDecay, 1e-2);
    assert.equal(new Adam([param]).defaults.weightDecay, 0);
    assertTrajectory(runOptimizer('AdamW', { lr: 0.1 }), adamReference(THETA0, GRADS, { lr: 0.1, weightDecay: 1e-2, decoupled: true }));
  });

  it('amsgrad and maximize match the pseudo-code', () => {
    const options = { lr: 0.1, weightDecay: 0.2, amsgrad: true, maximize: true };
    assertTrajectory(runOptimizer('AdamW', options, SHRINKING_GRADS), adamReference(THETA0, SHRINKING_GRADS, { ...options, decoupled: true }));
  });

  it('differs from Adam with weight decay', () => {
    // With a zero gradient AdamW only shrinks θ: θ_t = θ0·(1 − γλ)^t, because m stays 0. Adam
    // instead feeds λθ through the normalised update, which moves each element by about γ.
    const zeroGrads = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    const adamW = runOptimizer('AdamW', { lr: 0.1, weightDecay: 0.5 }, zeroGrads);
    const adam = runOptimizer('Adam', { lr: 0.1, weightDecay: 0.5 }, zeroGrads);

    adamW.forEach((row, step) => {
      row.forEach((value, i) => {
        const expected = THETA0[i] * 0.95 ** (step + 1);
        assert.ok(Math.abs(value - expected) <= TOLERANCE, `AdamW step ${step + 1}, element ${i}: got ${value}, expected ${expected}`);
      });
    });
    assert.ok(Math.abs(adam[0][0] - (1 - 0.1)) < 1e-6, `Adam θ1[0] = ${adam[0][0]}, expected about 0.9`);
    assert.ok(Math.abs(adam[0][1] - (-2 + 0.1)) < 1e-6, `Adam θ1[1] = ${adam[0][1]}, expected about -1.9`);
    assertTrajectory(adam, adamReference(THETA0, zeroGrads, { lr: 0.1, weightDecay: 0.5 }));
  });
});

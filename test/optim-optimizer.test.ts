import assert from 'node:assert/strict';

import { type Tensor, ValueError, tensor } from '../index.js';
import { Adam, AdamW, SGD } from '../nn/optim/index.js';

const TOLERANCE = 1e-12;

function float64Param(values: number[]): Tensor {
  return tensor(values, { dtype: 'float64', requiresGrad: true });
}

function setGrad(param: Tensor, values: number[]): void {
  param.grad = tensor(values, { dtype: 'float64' });
}

function assertClose(actual: number, expected: number, label: string): void {
  assert.ok(Math.abs(actual - expected) <= TOLERANCE, `${label}: got ${actual}, expected ${expected}`);
}

/** Asserts that `fn` throws a ValueError whose message contains every fragment. */
function assertValueError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ValueError, `expected a ValueError, got ${String(error)}`);
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `message "${error.message}" does not mention "${fragment}"`);
    }
    return true;
  });
}

describe('Optimizer parameter groups', () => {
  it('groups use their own lr and weight decay', () => {
    // Group a: lr 0.1 from the defaults, no decay, g = 1: θ = 1 − 0.1·t.
    // Group b: lr 0.01, λ = 0.5, g = 1: d = 1 + 0.5θ, so θ = 2 → 1.98 → 1.9601 → 1.9402995.
    const a = float64Param([1]);
    const b = float64Param([2]);
    const optimizer = new SGD([{ params: [a] }, { params: [b], lr: 0.01, weightDecay: 0.5 }], { lr: 0.1 });
    const expectedA = [0.9, 0.8, 0.7];
    const expectedB = [1.98, 1.9601, 1.9402995];

    for (let step = 0; step < 3; step++) {
      setGrad(a, [1]);
      setGrad(b, [1]);
      optimizer.step();
      assertClose(a.get(0), expectedA[step], `a after step ${step + 1}`);
      assertClose(b.get(0), expectedB[step], `b after step ${step + 1}`);
    }
  });

  it('groups take missing values from the defaults', () => {
    const a = float64Param([1]);
    const b = float64Param([1]);
    const optimizer = new Adam([{ params: [a], lr: 0.5 }, { params: [b], lr: undefined, amsgrad: true }], { lr: 0.2, betas: [0.8, 0.9] });

    assert.equal(optimizer.paramGroups[0].lr, 0.5);
    assert.equal(optimizer.paramGroups[1].lr, 0.2);
    assert.deepEqual(optimizer.paramGroups[1].betas, [0.8, 0.9]);
    assert.equal(optimizer.paramGroups[0].amsgrad, false);
    assert.equal(optimizer.paramGroups[1].amsgrad, true);
  });

  it('Adam groups step by their own lr', () => {
    // On the first step Adam moves each element by lr·g/(|g| + ε).
    const a = float64Param([1]);
    const b = float64Param([1]);
    const optimizer = new AdamW([{ params: [a] }, { params: [b], lr: 0.01, weightDecay: 0 }], { lr: 0.1, weightDecay: 0.5 });
    setGrad(a, [2]);
    setGrad(b, [2]);
    optimizer.step();

    // a: θ = 1·(1 − 0.1·0.5) − 0.1·2/(2 + 1e-8); b: θ = 1 − 0.01·2/(2 + 1e-8).
    assertClose(a.get(0), 0.95 - 0.2 / (2 + 1e-8), 'a');
    assertClose(b.get(0), 1 - 0.02 / (2 + 1e-8), 'b');
  });

  it('lr changes take effect on the next step', () => {
    const param = float64Param([1]);
    const optimizer = new SGD([param], { lr: 0.1 });
    optimizer.paramGroups[0].lr = 0;
    setGrad(param, [1]);
    optimizer.step();
    assert.equal(param.get(0), 1);
  });

  it('named groups show their name in errors', () => {
    const a = float64Param([1]);
    const b = float64Param([1]);
    const optimizer = new AdamW([{ params: [a], name: 'lora_A' }, { params: [b], name: 'lora_B', lr: 0.016 }], { lr: 0.001 });
    assert.equal(optimizer.paramGroups[1].name, 'lora_B');
    assert.equal(optimizer.stateDict().paramGroups[1].name, 'lora_B');
    assertValueError(() => new SGD([{ params: [float64Param([1])], name: 'head', lr: -1 }], { lr: 0.1 }), "parameter group 0 ('head')", 'lr -1');
  });

  it('addParamGroup adds a group used by step', () => {
    const a = float64Param([1]);
    const b = float64Param([1]);
    const optimizer = new SGD([a], { lr: 0.1 });
    optimizer.addParamGroup({ params: [b], lr: 0.5 });
    setGrad(a, [1]);
    setGrad(b, [1]);
    optimizer.step();

    assert.equal(optimizer.paramGroups.length, 2);
    assertClose(a.get(0), 0.9, 'a');
    assertClose(b.get(0), 0.5, 'b');
  });
});

describe('Optimizer step', () => {
  it('skips parameters whose grad is null', () => {
    const withGrad = float64Param([1]);
    const frozen = float64Param([5]);
    const optimizer = new Adam([withGrad, frozen], { lr: 0.1 });
    setGrad(withGrad, [1]);
    optimizer.step();

    assert.equal(frozen.get(0), 5);
    assert.equal(optimizer.state.has(frozen), false);
    assert.equal(optimizer.state.has(withGrad), true);
  });

  it('starts momentum at a late first gradient', () => {
    // b only gets a gradient on step 2, so its buffer starts there: b = 1 then 0.9·1 + 1.
    const a = float64Param([0]);
    const b = float64Param([0]);
    const optimizer = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
    setGrad(a, [1]);
    optimizer.step();
    setGrad(b, [1]);
    optimizer.step();
    optimizer.step();

    assertClose(b.get(0), -0.1 * 1 - 0.1 * 1.9, 'b');
    assertClose(a.get(0), -0.1 * 1 - 0.1 * 1.9 - 0.1 * 2.71, 'a');
  });

  it('counts steps and calls onStep after each', () => {
    const param = float64Param([1]);
    const optimizer = new SGD([param], { lr: 0.1 });
    const calls: Array<{ stepCount: number; value: number }> = [];
    optimizer.onStep((stepCount) => calls.push({ stepCount, value: param.get(0) }));

    setGrad(param, [1]);
    optimizer.step();
    optimizer.zeroGrad();
    optimizer.zeroGrad({ setToNone: false });
    optimizer.step();

    assert.equal(optimizer.stepCount, 2);
    assert.deepEqual(
      calls.map((call) => call.stepCount),
      [1, 2],
    );
    // The callback runs after the update, so it reads the updated value.
    assertClose(calls[0].value, 0.9, 'value seen by the first callback');
  });

  it('onStep handle removes the callback', () => {
    const param = float64Param([1]);
    const optimizer = new SGD([param], { lr: 0.1 });
    let calls = 0;
    const handle = optimizer.onStep(() => calls++);
    optimizer.step();
    handle.remove();
    optimizer.step();
    assert.equal(calls, 1);
    assert.equal(optimizer.stepCount, 2);
  });
});

describe('Optimizer zeroGrad', () => {
  it('sets grads to null by default', () => {
    const param = float64Param([1, 2]);
    const optimizer = new SGD([param], { lr: 0.1 });
    setGrad(param, [3, 4]);
    optimizer.zeroGrad();
    assert.equal(param.grad, null);
  });

  it('zeros grads in place when asked', () => {
    const param = float64Param([1, 2]);
    const optimizer = new SGD([param], { lr: 0.1 });
    setGrad(param, [3, 4]);
    const storage = param.grad?.storage;
    optimizer.zeroGrad({ setToNone: false });

    assert.deepEqual(param.grad?.toArray(), [0, 0]);
    assert.equal(param.grad?.storage, storage);
  });

  it('zeroed grads accumulate the next backward', () => {
    const param = float64Param([1, 2]);
    const optimizer = new SGD([param], { lr: 0.1 });
    param.mul(param).sum().backward();
    optimizer.zeroGrad({ setToNone: false });
    param.sum().backward();
    assert.deepEqual(param.grad?.toArray(), [1, 1]);
  });
});

describe('Optimizer construction errors', () => {
  it('rejects an empty parameter list', () => {
    assertValueError(() => new SGD([], { lr: 0.1 }), 'empty parameter list');
  });

  it('rejects mixed tensors and groups', () => {
    const param = float64Param([1]);
    assertValueError(() => new SGD([param, { params: [float64Param([2])] }] as unknown as Tensor[], { lr: 0.1 }), 'mixes tensors and parameter groups');
  });

  it('rejects a non-leaf tensor', () => {
    const leaf = float64Param([1]);
    assertValueError(() => new SGD([leaf.mul(2)], { lr: 0.1 }), 'params[0]', 'not a leaf', 'Mul');
  });

  it('rejects an integer tensor', () => {
    assertValueError(() => new SGD([tensor([1], { dtype: 'int32' })], { lr: 0.1 }), 'int32');
  });

  it('rejects a parameter listed twice', () => {
    const param = float64Param([1]);
    assertValueError(() => new SGD([{ params: [param] }, { params: [param] }], { lr: 0.1 }), 'params[0] in parameter group 1', 'more than once');
    assertValueError(() => new SGD([param, param], { lr: 0.1 }), 'params[1]', 'more than once');
  });

  it('rejects an unknown hyperparameter', () => {
    const group = { params: [float64Param([1])], weight_decay: 0.1 };
    assertValueError(() => new SGD([group as never], { lr: 0.1 }), "'weight_decay'", 'weightDecay');
  });

  it('rejects a missing SGD lr', () => {
    assertValueError(() => new SGD([float64Param([1])], {} as never), 'missing lr');
  });
});

describe('Optimizer hyperparameter validation', () => {
  const param = () => float64Param([1]);

  it('SGD rejects invalid values', () => {
    assertValueError(() => new SGD([param()], { lr: -0.1 }), 'SGD', 'lr', '-0.1');
    assertValueError(() => new SGD([param()], { lr: Number.NaN }), 'lr', 'NaN');
    assertValueError(() => new SGD([param()], { lr: 0.1, momentum: -0.5 }), 'momentum', '-0.5');
    assertValueError(() => new SGD([param()], { lr: 0.1, weightDecay: -1 }), 'weightDecay', '-1');
  });

  it('nesterov needs momentum and no dampening', () => {
    assertValueError(() => new SGD([param()], { lr: 0.1, nesterov: true }), 'nesterov', 'momentum 0');
    assertValueError(() => new SGD([param()], { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 }), 'nesterov', 'dampening 0.1');
  });

  it('Adam rejects invalid values', () => {
    assertValueError(() => new Adam([param()], { lr: -1 }), 'Adam', 'lr', '-1');
    assertValueError(() => new Adam([param()], { betas: [1, 0.999] }), 'beta1', '1', '[0, 1)');
    assertValueError(() => new Adam([param()], { betas: [0.9, -0.1] }), 'beta2', '-0.1');
    assertValueError(() => new Adam([param()], { betas: [0.9] as never }), 'betas', '[0.9]');
    assertValueError(() => new Adam([param()], { eps: -1e-8 }), 'eps', '-1e-8');
    assertValueError(() => new Adam([param()], { weightDecay: -0.1 }), 'weightDecay', '-0.1');
    assertValueError(() => new AdamW([param()], { weightDecay: -0.1 }), 'AdamW', 'weightDecay');
  });

  it('group values are validated with the group index', () => {
    assertValueError(() => new SGD([{ params: [param()] }, { params: [param()], lr: -2 }], { lr: 0.1 }), 'lr', '-2', 'parameter group 1');
    assertValueError(() => new SGD([{ params: [param()], nesterov: true }], { lr: 0.1 }), 'nesterov', 'parameter group 0');
  });
});

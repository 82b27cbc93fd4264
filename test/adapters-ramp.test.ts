/**
 * SingLoRA's ramp u(t) = min(t / T, 1), where t counts completed optimizer steps: forwards in
 * training mode (gradient-accumulation micro-batches), evaluation and noGrad forwards leave t
 * alone, and each `optimizer.step()` of an attached optimizer advances it by one.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { noGrad } from '../index.js';
import { AdapterClock, type SingLoRA, injectAdapters, rampValue } from '../adapters/index.js';
import { SGD } from '../nn/optim/index.js';
import { OneLayer, adapterOf, randomTensor } from './adapters-helpers.js';

function singloraModel(rampSteps: number) {
  const model = new OneLayer({ inFeatures: 4, outFeatures: 3 }, { seed: 1 });
  const adapted = injectAdapters(model, { method: 'singlora', rank: 2, targets: ['layer'], rampSteps });
  return { model, adapted, adapter: adapterOf(model.layer) as SingLoRA };
}

describe('SingLoRA ramp', () => {
  it('u is non-decreasing and in [0, 1]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 20_000 }), (rampSteps, step) => {
        const u = rampValue(step, rampSteps);
        assert.ok(u >= 0, `u(${step}) = ${u} with T = ${rampSteps}`);
        assert.ok(u <= 1, `u(${step}) = ${u} with T = ${rampSteps}`);
        assert.ok(rampValue(step + 1, rampSteps) >= u, `u decreases from t = ${step} to ${step + 1} with T = ${rampSteps}`);
      }),
    );
  });

  it('u(t) = t / T before T and 1 from T on', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 20_000 }), (rampSteps, step) => {
        assert.equal(rampValue(step, rampSteps), step >= rampSteps ? 1 : step / rampSteps);
      }),
    );
  });

  it('T = 0 gives u = 1 from the start', () => {
    const { adapter } = singloraModel(0);
    assert.equal(adapter.clock.step, 0);
    assert.equal(adapter.ramp, 1);
    assert.equal(rampValue(0, 0), 1);
  });

  it('adapters of one model share one clock', () => {
    const { adapted, adapter } = singloraModel(10);
    assert.equal(adapter.clock, adapted.clock);
    adapted.clock.setStep(5);
    assert.equal(adapter.ramp, 0.5);
  });

  it('training forwards without a step leave t unchanged', () => {
    const { model, adapted, adapter } = singloraModel(10);
    const optimizer = new SGD(adapted.trainableParameters(), { lr: 0.1 });
    adapted.attachOptimizer(optimizer);
    model.train();
    for (let k = 0; k < 4; k++) model.call(randomTensor([2, 4], k)).sum().backward();
    assert.equal(adapted.clock.step, 0);
    assert.equal(adapter.ramp, 0);
  });

  it('one optimizer step after k micro-batches advances t by 1', () => {
    const { model, adapted, adapter } = singloraModel(10);
    const optimizer = new SGD(adapted.trainableParameters(), { lr: 0.1 });
    adapted.attachOptimizer(optimizer);
    for (let step = 1; step <= 3; step++) {
      optimizer.zeroGrad();
      for (let k = 0; k < 3; k++) model.call(randomTensor([2, 4], 10 * step + k)).sum().backward();
      optimizer.step();
      assert.equal(adapted.clock.step, step);
      assert.equal(adapter.ramp, step / 10);
    }
  });

  it('first step at t = 0 leaves A unchanged', () => {
    const { model, adapted, adapter } = singloraModel(10);
    const before = Array.from(adapter.singlora_A.toTypedArray());
    const optimizer = new SGD(adapted.trainableParameters(), { lr: 0.1 });
    adapted.attachOptimizer(optimizer);
    model.call(randomTensor([2, 4], 1)).sum().backward();
    optimizer.step();
    assert.deepEqual(Array.from(adapter.singlora_A.toTypedArray()), before);
    assert.equal(adapted.clock.step, 1);
  });

  it('eval and noGrad forwards never advance t', () => {
    const { model, adapted } = singloraModel(10);
    adapted.clock.setStep(3);
    model.eval();
    model.call(randomTensor([2, 4], 1));
    model.train();
    noGrad(() => model.call(randomTensor([2, 4], 2)));
    assert.equal(adapted.clock.step, 3);
  });

  it('attachOptimizer works with any object that has onStep', () => {
    const { adapted } = singloraModel(4);
    const callbacks: (() => void)[] = [];
    adapted.attachOptimizer({ onStep: (callback: () => void) => callbacks.push(callback) });
    assert.equal(callbacks.length, 1);
    callbacks[0]();
    callbacks[0]();
    assert.equal(adapted.clock.step, 2);
  });

  it('clock rejects negative or fractional steps', () => {
    const clock = new AdapterClock();
    assert.throws(() => clock.setStep(-1), /non-negative integer, got -1/);
    assert.throws(() => clock.advance(0.5), /non-negative integer, got 0.5/);
  });

  it('rejects a negative or fractional rampSteps', () => {
    const model = new OneLayer({ inFeatures: 2, outFeatures: 2 });
    assert.throws(() => injectAdapters(model, { method: 'singlora', rank: 1, targets: ['layer'], rampSteps: -1 }), /rampSteps must be a non-negative integer/);
  });
});

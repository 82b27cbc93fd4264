import assert from 'node:assert/strict';

import { type Tensor, ValueError, tensor } from '../index.js';
import {
  CosineAnnealingLR,
  LambdaLR,
  LinearLR,
  type LRScheduler,
  SequentialLR,
  SGD,
  StepLR,
  linearWarmup,
  warmupCosine,
} from '../nn/optim/index.js';

const TOLERANCE = 1e-12;
const SQRT2 = Math.SQRT2;

function makeOptimizer(...lrs: number[]): SGD {
  const groups = lrs.map((lr) => ({ params: [tensor([0], { dtype: 'float64', requiresGrad: true })], lr }));
  return new SGD(groups, { lr: lrs[0] });
}

/** Returns the first group's lr at construction and after each of `steps` steps. */
function lrSequence(scheduler: LRScheduler, steps: number, group = 0): number[] {
  const lrs = [scheduler.optimizer.paramGroups[group].lr];
  for (let step = 0; step < steps; step++) {
    scheduler.step();
    lrs.push(scheduler.optimizer.paramGroups[group].lr);
  }
  return lrs;
}

function assertSequence(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length, 'sequence length');
  expected.forEach((value, epoch) => {
    assert.ok(Math.abs(actual[epoch] - value) <= TOLERANCE, `epoch ${epoch}: got ${actual[epoch]}, expected ${value}`);
  });
}

function assertValueError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ValueError, `expected a ValueError, got ${String(error)}`);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `message "${error.message}" does not mention "${fragment}"`);
    return true;
  });
}

describe('LinearLR', () => {
  it('ramps from startFactor to endFactor', () => {
    // lr = 0.1·(0.5 + 0.5·min(e, 4)/4).
    const scheduler = new LinearLR(makeOptimizer(0.1), { startFactor: 0.5, endFactor: 1, totalIters: 4 });
    assertSequence(lrSequence(scheduler, 5), [0.05, 0.0625, 0.075, 0.0875, 0.1, 0.1]);
  });

  it('defaults to 1/3 over 5 epochs', () => {
    // lr = 0.3·(1/3 + (2/3)·min(e, 5)/5) = 0.1 + 0.04·min(e, 5).
    assertSequence(lrSequence(new LinearLR(makeOptimizer(0.3)), 6), [0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3]);
  });

  it('decays when endFactor is smaller', () => {
    const scheduler = new LinearLR(makeOptimizer(1), { startFactor: 1, endFactor: 0.25, totalIters: 3 });
    assertSequence(lrSequence(scheduler, 4), [1, 0.75, 0.5, 0.25, 0.25]);
  });
});

describe('CosineAnnealingLR', () => {
  it('follows the half cosine', () => {
    // lr = (1 + cos(π·e/4))/2, rising again after tMax.
    const expected = [1, (2 + SQRT2) / 4, 0.5, (2 - SQRT2) / 4, 0, (2 - SQRT2) / 4, 0.5];
    assertSequence(lrSequence(new CosineAnnealingLR(makeOptimizer(1), 4), 6), expected);
  });

  it('anneals to etaMin', () => {
    const expected = [1, (2 + SQRT2) / 4, 0.5, (2 - SQRT2) / 4, 0].map((factor) => 0.2 + 0.8 * factor);
    assertSequence(lrSequence(new CosineAnnealingLR(makeOptimizer(1), 4, 0.2), 4), expected);
  });

  it('scales each group from its own lr', () => {
    const scheduler = new CosineAnnealingLR(makeOptimizer(1, 0.1), 2);
    scheduler.step();
    assertSequence(scheduler.getLastLr(), [0.5, 0.05]);
  });
});

describe('StepLR', () => {
  it('decays by gamma every stepSize epochs', () => {
    assertSequence(lrSequence(new StepLR(makeOptimizer(1), 2, 0.5), 6), [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]);
  });

  it('defaults gamma to 0.1', () => {
    assertSequence(lrSequence(new StepLR(makeOptimizer(2), 3), 6), [2, 2, 2, 0.2, 0.2, 0.2, 0.02]);
  });
});

describe('LambdaLR', () => {
  it('multiplies the base lr by the lambda', () => {
    assertSequence(lrSequence(new LambdaLR(makeOptimizer(0.6), (epoch) => 1 / (epoch + 1)), 3), [0.6, 0.3, 0.2, 0.15]);
  });

  it('takes one lambda per group', () => {
    const optimizer = makeOptimizer(0.6, 1);
    const scheduler = new LambdaLR(optimizer, [(epoch) => 1 / (epoch + 1), (epoch) => 0.5 ** epoch]);
    assertSequence(lrSequence(scheduler, 3, 1), [1, 0.5, 0.25, 0.125]);
    assertSequence(scheduler.getLastLr(), [0.15, 0.125]);
  });
});

describe('SequentialLR', () => {
  it('restarts the next scheduler at each milestone', () => {
    const optimizer = makeOptimizer(1);
    const constant = new LambdaLR(optimizer, () => 0.1);
    const decay = new StepLR(optimizer, 1, 0.5);
    const scheduler = new SequentialLR(optimizer, [constant, decay], [2]);
    assertSequence(lrSequence(scheduler, 5), [0.1, 0.1, 1, 0.5, 0.25, 0.125]);
  });

  it('shares the base lr between its schedulers', () => {
    // The first scheduler changed lr to 0.25, but the second still starts from the original 1.
    const optimizer = makeOptimizer(1);
    const first = new LambdaLR(optimizer, () => 0.25);
    const second = new CosineAnnealingLR(optimizer, 4);
    assert.deepEqual(second.baseLrs, [1]);
    assertSequence(lrSequence(new SequentialLR(optimizer, [first, second], [1]), 3), [0.25, 1, (2 + SQRT2) / 4, 0.5]);
  });
});

describe('linearWarmup', () => {
  it('reaches the base lr at step warmupSteps − 1', () => {
    // lr = 0.2·min(1, (e + 1)/4).
    assertSequence(lrSequence(linearWarmup(makeOptimizer(0.2), 4), 5), [0.05, 0.1, 0.15, 0.2, 0.2, 0.2]);
  });

  it('is constant for one warm-up step', () => {
    assertSequence(lrSequence(linearWarmup(makeOptimizer(0.2), 1), 2), [0.2, 0.2, 0.2]);
  });

  it('scales the SGD steps', () => {
    // With g = 1 each step moves θ by −lr_t: θ = −(0.05 + 0.1 + 0.15 + 0.2).
    const optimizer = makeOptimizer(0.2);
    const param = optimizer.paramGroups[0].params[0] as Tensor;
    const scheduler = linearWarmup(optimizer, 4);
    for (let step = 0; step < 4; step++) {
      param.grad = tensor([1], { dtype: 'float64' });
      optimizer.step();
      scheduler.step();
    }
    assert.ok(Math.abs(param.get(0) + 0.5) <= TOLERANCE, `θ = ${param.get(0)}`);
  });
});

describe('warmupCosine', () => {
  it('warms up then anneals to minLr', () => {
    // Warm-up 0.1·(e + 1)/2 for e < 2, then 0.01 + 0.09·(1 + cos(π·(e − 2)/4))/2.
    const expected = [0.05, 0.1, 0.1, 0.01 + (0.09 * (2 + SQRT2)) / 4, 0.055, 0.01 + (0.09 * (2 - SQRT2)) / 4, 0.01];
    assertSequence(lrSequence(warmupCosine(makeOptimizer(0.1), 2, 6, 0.01), 6), expected);
  });

  it('is the cosine alone without warm-up', () => {
    assertSequence(lrSequence(warmupCosine(makeOptimizer(1), 0, 4), 4), [1, (2 + SQRT2) / 4, 0.5, (2 - SQRT2) / 4, 0]);
  });

  it('rejects totalSteps not above warmupSteps', () => {
    assertValueError(() => warmupCosine(makeOptimizer(1), 5, 5), 'totalSteps', '5');
  });
});

describe('LRScheduler state', () => {
  it('stores initialLr in the groups', () => {
    const optimizer = makeOptimizer(0.4);
    new StepLR(optimizer, 1, 0.5).step();
    assert.equal(optimizer.paramGroups[0].initialLr, 0.4);
    assert.equal(optimizer.paramGroups[0].lr, 0.2);
  });

  it('resumes from a state dict', () => {
    const optimizer = makeOptimizer(1, 0.5);
    const scheduler = warmupCosine(optimizer, 2, 8, 0.1);
    for (let step = 0; step < 3; step++) scheduler.step();
    const savedOptimizer = JSON.parse(JSON.stringify(optimizer.stateDict()));
    const savedScheduler = JSON.parse(JSON.stringify(scheduler.stateDict()));

    const resumedOptimizer = makeOptimizer(1, 0.5);
    const resumedScheduler = warmupCosine(resumedOptimizer, 2, 8, 0.1);
    resumedOptimizer.loadStateDict(savedOptimizer);
    resumedScheduler.loadStateDict(savedScheduler);

    assert.equal(resumedScheduler.lastEpoch, 3);
    assertSequence(resumedScheduler.getLastLr(), scheduler.getLastLr());
    assertSequence(
      resumedOptimizer.paramGroups.map((group) => group.lr),
      scheduler.getLastLr(),
    );
    for (let step = 0; step < 4; step++) {
      scheduler.step();
      resumedScheduler.step();
      assertSequence(resumedScheduler.getLastLr(), scheduler.getLastLr());
    }
  });

  it('rejects a state dict for other groups', () => {
    const scheduler = new StepLR(makeOptimizer(1), 2);
    assertValueError(() => scheduler.loadStateDict({ lastEpoch: 1, baseLrs: [1, 2], lastLr: [1, 2] }), 'baseLrs', '(1)');
    assertValueError(() => scheduler.loadStateDict({ lastEpoch: -3, baseLrs: [1], lastLr: [1] }), 'lastEpoch', '-3');
  });

  it('rejects a group added after construction', () => {
    const optimizer = makeOptimizer(1);
    const scheduler = new StepLR(optimizer, 2);
    optimizer.addParamGroup({ params: [tensor([0], { requiresGrad: true })] });
    assertValueError(() => scheduler.step(), '2 parameter groups', 'made with 1');
  });
});

describe('LRScheduler argument errors', () => {
  it('rejects invalid arguments', () => {
    const optimizer = makeOptimizer(1);
    assertValueError(() => new StepLR(optimizer, 0), 'stepSize', '0');
    assertValueError(() => new StepLR(optimizer, 1.5), 'stepSize', '1.5');
    assertValueError(() => new CosineAnnealingLR(optimizer, 0), 'tMax', '0');
    assertValueError(() => new CosineAnnealingLR(optimizer, 4, Number.NaN), 'etaMin', 'NaN');
    assertValueError(() => new LinearLR(optimizer, { startFactor: 0 }), 'startFactor', '0');
    assertValueError(() => new LinearLR(optimizer, { endFactor: 1.5 }), 'endFactor', '1.5');
    assertValueError(() => new LinearLR(optimizer, { totalIters: -1 }), 'totalIters', '-1');
    assertValueError(() => new LambdaLR(makeOptimizer(1, 2), [() => 1]), '1 lrLambda functions', '2 parameter groups');
    assertValueError(() => linearWarmup(optimizer, 0), 'warmupSteps', '0');
  });

  it('SequentialLR checks schedulers and milestones', () => {
    const optimizer = makeOptimizer(1);
    const a = new StepLR(optimizer, 1);
    const b = new StepLR(optimizer, 1);
    const foreign = new StepLR(makeOptimizer(1), 1);
    assertValueError(() => new SequentialLR(optimizer, [a, b], []), 'expected 1 milestones', '[]');
    assertValueError(() => new SequentialLR(optimizer, [a, b, a], [3, 2]), 'increasing', '[3,2]');
    assertValueError(() => new SequentialLR(optimizer, [a, foreign], [2]), 'schedulers[1]', 'another optimizer');
  });
});

describe('warmupCosine resume', () => {
  it('follows the saved schedule when the new optimizer has another lr', () => {
    const original = makeOptimizer(1e-3);
    const scheduler = warmupCosine(original, 2, 10);
    for (let i = 0; i < 4; i++) scheduler.step();

    const resumed = makeOptimizer(0.5);
    const resumedScheduler = warmupCosine(resumed, 2, 10);
    resumedScheduler.loadStateDict(JSON.parse(JSON.stringify(scheduler.stateDict())));
    scheduler.step();
    resumedScheduler.step();

    assert.equal(resumedScheduler.getLastLr()[0], scheduler.getLastLr()[0]);
  });
});

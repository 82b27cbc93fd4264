import assert from 'node:assert/strict';

import fc from 'fast-check';

import { type Tensor, ValueError, tensor } from '../index.js';
import { Adam, AdamW, type OptimizerStateDict, SGD } from '../nn/optim/index.js';

type Kind = 'SGD' | 'Adam' | 'AdamW';
type FloatDType = 'float32' | 'float64';

interface Setup {
  kind: Kind;
  dtype: FloatDType;
  lr: number;
  secondLr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  maximize: boolean;
  beta1: number;
  beta2: number;
  eps: number;
  amsgrad: boolean;
}

const INITIAL_VALUES = [
  [0.5, -1, 2],
  [1, -0.25, 3, -2],
];
const SHAPES = [[3], [2, 2]];

function makeParams(dtype: FloatDType, values = INITIAL_VALUES): Tensor[] {
  return values.map((row, i) => tensor(Float64Array.from(row), { dtype, shape: SHAPES[i], requiresGrad: true }));
}

/** Builds the optimizer of `setup` with two groups, the second with its own lr. */
function makeOptimizer(setup: Setup, params: Tensor[]): SGD | Adam {
  const groups = [{ params: [params[0]] }, { params: [params[1]], lr: setup.secondLr }];
  if (setup.kind === 'SGD') {
    const nesterov = setup.nesterov && setup.momentum > 0;
    return new SGD(groups, {
      lr: setup.lr,
      momentum: setup.momentum,
      dampening: nesterov ? 0 : setup.dampening,
      nesterov,
      weightDecay: setup.weightDecay,
      maximize: setup.maximize,
    });
  }
  const options = {
    lr: setup.lr,
    betas: [setup.beta1, setup.beta2] as const,
    eps: setup.eps,
    weightDecay: setup.weightDecay,
    amsgrad: setup.amsgrad,
    maximize: setup.maximize,
  };
  return setup.kind === 'Adam' ? new Adam(groups, options) : new AdamW(groups, options);
}

/** A fresh optimizer of the same kind with other hyperparameters, which loading must replace. */
function makeBlankOptimizer(kind: Kind, params: Tensor[]): SGD | Adam {
  const groups = [{ params: [params[0]] }, { params: [params[1]] }];
  if (kind === 'SGD') return new SGD(groups, { lr: 0.123 });
  return kind === 'Adam' ? new Adam(groups) : new AdamW(groups);
}

/** Sets each parameter's grad from `grads` (null leaves the grad null) and steps. */
function runSteps(optimizer: SGD | Adam, params: Tensor[], dtype: FloatDType, grads: Array<Array<number[] | null>>): void {
  for (const stepGrads of grads) {
    params.forEach((param, i) => {
      const values = stepGrads[i];
      param.grad = values === null ? null : tensor(Float64Array.from(values), { dtype, shape: SHAPES[i] });
    });
    optimizer.step();
  }
}

function bits(param: Tensor): number[] {
  return Array.from(param.toTypedArray());
}

const setupArbitrary: fc.Arbitrary<Setup> = fc.record({
  kind: fc.constantFrom<Kind>('SGD', 'Adam', 'AdamW'),
  dtype: fc.constantFrom<FloatDType>('float32', 'float64'),
  lr: fc.double({ min: 0, max: 0.5, noNaN: true }),
  secondLr: fc.double({ min: 0, max: 0.5, noNaN: true }),
  momentum: fc.constantFrom(0, 0.5, 0.9),
  dampening: fc.double({ min: 0, max: 0.9, noNaN: true }),
  nesterov: fc.boolean(),
  weightDecay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
  maximize: fc.boolean(),
  beta1: fc.double({ min: 0, max: 0.99, noNaN: true }),
  beta2: fc.double({ min: 0, max: 0.999, noNaN: true }),
  eps: fc.double({ min: 1e-10, max: 1e-3, noNaN: true }),
  amsgrad: fc.boolean(),
});

const gradValue = fc.double({ min: -5, max: 5, noNaN: true });
const stepGradsArbitrary = fc.tuple(fc.option(fc.array(gradValue, { minLength: 3, maxLength: 3 })), fc.option(fc.array(gradValue, { minLength: 4, maxLength: 4 })));

describe('Optimizer stateDict', () => {
  it('resumes bit-identically after a JSON round trip', () => {
    fc.assert(
      fc.property(
        setupArbitrary,
        fc.array(stepGradsArbitrary, { minLength: 1, maxLength: 3 }),
        fc.array(stepGradsArbitrary, { minLength: 1, maxLength: 3 }),
        (setup, before, after) => {
          const uninterruptedParams = makeParams(setup.dtype);
          const uninterrupted = makeOptimizer(setup, uninterruptedParams);
          runSteps(uninterrupted, uninterruptedParams, setup.dtype, [...before, ...after]);

          const firstParams = makeParams(setup.dtype);
          const first = makeOptimizer(setup, firstParams);
          runSteps(first, firstParams, setup.dtype, before);
          const saved = JSON.parse(JSON.stringify(first.stateDict())) as OptimizerStateDict;

          // A new process: new parameters holding the saved values, an optimizer with other hyperparameters.
          const resumedParams = makeParams(setup.dtype, firstParams.map((param) => bits(param)));
          const resumed = makeBlankOptimizer(setup.kind, resumedParams);
          resumed.loadStateDict(saved);
          runSteps(resumed, resumedParams, setup.dtype, after);

          resumedParams.forEach((param, i) => {
            const expected = bits(uninterruptedParams[i]);
            bits(param).forEach((value, j) => assert.ok(Object.is(value, expected[j]), `param ${i}[${j}]: resumed ${value}, uninterrupted ${expected[j]}`));
          });
          // Compared as JSON, because JSON writes -0 as 0 and the resumed state went through JSON.
          assert.equal(JSON.stringify(resumed.stateDict()), JSON.stringify(uninterrupted.stateDict()));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('writes the documented layout', () => {
    const params = makeParams('float64');
    const optimizer = new Adam([{ params: [params[0]] }, { params: [params[1]], lr: 0.5 }], { lr: 0.1 });
    params[1].grad = tensor(Float64Array.from([1, 2, 3, 4]), { shape: [2, 2] });
    optimizer.step();
    const saved = optimizer.stateDict();

    assert.equal(saved.stepCount, 1);
    assert.deepEqual(Object.keys(saved.state), ['1']);
    assert.equal(saved.state['1'].step, 1);
    // m = (1 − β1)·g = 0.1·g after one step.
    const expAvg = saved.state['1'].expAvg as { shape: number[]; dtype: string; data: number[] };
    assert.deepEqual(expAvg.shape, [2, 2]);
    assert.equal(expAvg.dtype, 'float64');
    expAvg.data.forEach((value, i) => assert.ok(Math.abs(value - 0.1 * (i + 1)) < 1e-15, `expAvg[${i}] = ${value}`));
    assert.deepEqual(saved.paramGroups, [
      { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, params: [0] },
      { lr: 0.5, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, params: [1] },
    ]);
  });

  it('returns a copy of the live state', () => {
    const params = makeParams('float64');
    const optimizer = new SGD([params[0]], { lr: 0.1, momentum: 0.9 });
    params[0].grad = tensor([1, 1, 1], { dtype: 'float64' });
    optimizer.step();
    const saved = optimizer.stateDict();
    optimizer.step();
    optimizer.paramGroups[0].lr = 1;

    const buffer = saved.state['0'].momentumBuffer as { data: number[] };
    assert.deepEqual(buffer.data, [1, 1, 1]);
    assert.equal(saved.paramGroups[0].lr, 0.1);
  });

  it('restores hyperparameters and stepCount', () => {
    const source = new SGD([tensor([1], { requiresGrad: true })], { lr: 0.3, momentum: 0.5, nesterov: true });
    source.step();
    source.step();
    const target = new SGD([tensor([1], { requiresGrad: true })], { lr: 0.1 });
    target.loadStateDict(source.stateDict());

    assert.equal(target.stepCount, 2);
    assert.equal(target.paramGroups[0].lr, 0.3);
    assert.equal(target.paramGroups[0].momentum, 0.5);
    assert.equal(target.paramGroups[0].nesterov, true);
  });

  it('casts buffers to the parameter dtype', () => {
    const source = new Adam([tensor([1, 2], { dtype: 'float64', requiresGrad: true })]);
    source.paramGroups[0].params[0].grad = tensor([0.5, 0.25], { dtype: 'float64' });
    source.step();
    const param = tensor([1, 2], { requiresGrad: true });
    const target = new Adam([param]);
    target.loadStateDict(source.stateDict());

    assert.equal(target.state.get(param)?.expAvg.dtype, 'float32');
    assert.deepEqual(target.state.get(param)?.expAvg.toArray(), [Math.fround(0.05), Math.fround(0.025)]);
  });
});

describe('Optimizer loadStateDict errors', () => {
  function savedAdamState(): OptimizerStateDict {
    const params = makeParams('float64');
    const optimizer = new Adam([{ params: [params[0]] }, { params: [params[1]] }]);
    params[0].grad = tensor([1, 2, 3], { dtype: 'float64' });
    params[1].grad = tensor(Float64Array.from([1, 2, 3, 4]), { shape: [2, 2] });
    optimizer.step();
    return JSON.parse(JSON.stringify(optimizer.stateDict())) as OptimizerStateDict;
  }

  function assertLoadError(target: SGD | Adam, saved: OptimizerStateDict, ...fragments: string[]): void {
    assert.throws(
      () => target.loadStateDict(saved),
      (error: unknown) => {
        assert.ok(error instanceof ValueError, `expected a ValueError, got ${String(error)}`);
        for (const fragment of fragments) assert.ok(error.message.includes(fragment), `message "${error.message}" does not mention "${fragment}"`);
        return true;
      },
    );
  }

  it('rejects another group count', () => {
    const params = makeParams('float64');
    assertLoadError(new Adam(params), savedAdamState(), '2 parameter groups', 'has 1');
  });

  it('rejects another parameter count', () => {
    const params = makeParams('float64');
    const extra = tensor([0], { dtype: 'float64', requiresGrad: true });
    assertLoadError(new Adam([{ params: [params[0]] }, { params: [params[1], extra] }]), savedAdamState(), 'group 1 has 1 parameters', 'has 2');
  });

  it('rejects another parameter shape', () => {
    const params = [tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true }), tensor([1, 2, 3, 4], { dtype: 'float64', requiresGrad: true })];
    assertLoadError(new Adam([{ params: [params[0]] }, { params: [params[1]] }]), savedAdamState(), 'state[1].expAvg', '[2, 2]', '[4]');
  });

  it('rejects the state of another optimizer', () => {
    const params = makeParams('float64');
    assertLoadError(new SGD([{ params: [params[0]] }, { params: [params[1]] }], { lr: 0.1 }), savedAdamState(), "no 'momentum'");
  });

  it('rejects a missing buffer', () => {
    const saved = savedAdamState();
    delete saved.state['0'].expAvgSq;
    const params = makeParams('float64');
    assertLoadError(new Adam([{ params: [params[0]] }, { params: [params[1]] }]), saved, 'state[0]', "'expAvgSq'");
  });

  it('rejects NaN lost in JSON', () => {
    const saved = savedAdamState();
    (saved.state['0'].expAvg as { data: Array<number | null> }).data[1] = null;
    const params = makeParams('float64');
    assertLoadError(new Adam([{ params: [params[0]] }, { params: [params[1]] }]), saved, 'state[0].expAvg.data[1]', 'null');
  });

  it('rejects an out-of-range state key', () => {
    const saved = savedAdamState();
    saved.state['7'] = saved.state['0'];
    const params = makeParams('float64');
    assertLoadError(new Adam([{ params: [params[0]] }, { params: [params[1]] }]), saved, "'7'", '[0, 2)');
  });

  it('rejects invalid saved hyperparameters', () => {
    const saved = savedAdamState();
    saved.paramGroups[1].lr = -1;
    const params = makeParams('float64');
    assertLoadError(new Adam([{ params: [params[0]] }, { params: [params[1]] }]), saved, 'lr -1', 'saved parameter group 1');
  });

  it('leaves the optimizer unchanged on failure', () => {
    const saved = savedAdamState();
    saved.state['1'].step = Number.NaN;
    const params = makeParams('float64');
    const target = new Adam([{ params: [params[0]] }, { params: [params[1]], lr: 0.7 }]);
    assert.throws(() => target.loadStateDict(saved), ValueError);

    assert.equal(target.state.size, 0);
    assert.equal(target.stepCount, 0);
    assert.equal(target.paramGroups[1].lr, 0.7);
  });
});

import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { Function, type FunctionCtx, GradcheckError, type Tensor, ValueError, gradcheck, gradgradcheck, tensor } from '../index.js';
import { nonContiguousTensorArb, tensorArb } from '../testing/arbitraries.js';

/** exp with a wrong backward that returns g instead of g * exp(x). */
class BrokenExp extends Function {
  static override forward(_ctx: FunctionCtx, x: Tensor): Tensor {
    return x.exp();
  }

  static override backward(_ctx: FunctionCtx, g: Tensor): Tensor {
    return g;
  }
}

/** x * y whose backward swaps the two gradients. */
class SwappedMul extends Function {
  static override forward(ctx: FunctionCtx, x: Tensor, y: Tensor): Tensor {
    ctx.saveForBackward(x, y);
    return x.mul(y);
  }

  static override backward(ctx: FunctionCtx, g: Tensor): Tensor[] {
    const [x, y] = ctx.savedTensors;
    return [g.mul(x), g.mul(y)];
  }
}

/** x^3 with a correct first derivative that is not differentiable: the detach hides x from the second. */
class DetachedCube extends Function {
  static override forward(ctx: FunctionCtx, x: Tensor): Tensor {
    ctx.saveForBackward(x);
    return x.mul(x).mul(x);
  }

  static override backward(ctx: FunctionCtx, g: Tensor): Tensor {
    const [x] = ctx.savedTensors;
    return g.mul(x.detach().square()).mul(3);
  }
}

/** Identity whose backward adds a different amount each call. */
let calls = 0;
class Jittery extends Function {
  static override forward(_ctx: FunctionCtx, x: Tensor): Tensor {
    return x.clone();
  }

  static override backward(_ctx: FunctionCtx, g: Tensor): Tensor {
    calls++;
    return g.add(calls * 1e-3);
  }
}

const f64 = (values: number[] | number[][], requiresGrad = true): Tensor => tensor(values, { dtype: 'float64', requiresGrad });

describe('gradcheck', () => {
  it('passes a correct op', () => {
    assert.equal(gradcheck((x) => x.exp(), [f64([0.5, -1])]), true);
  });

  it('rejects a wrong backward, naming input, element and both values', () => {
    const x = f64([[0.5, -1], [2, 0.25]]);
    assert.throws(
      () => gradcheck((t) => BrokenExp.apply(t), [x]),
      (error: Error) => {
        assert.ok(error instanceof GradcheckError);
        assert.equal(error.inputIndex, 0);
        // The first Jacobian entry is d out[0,0] / d x[0,0]: analytic 1, numerical exp(0.5).
        assert.deepEqual(error.elementIndex, [0, 0]);
        assert.equal(error.analytic, 1);
        assert.ok(Math.abs(error.numeric - Math.exp(0.5)) < 1e-6);
        assert.match(error.message, /input 0/);
        assert.match(error.message, /element \[0, 0\]/);
        assert.match(error.message, /analytic 1/);
        assert.match(error.message, /numerical 1\.648/);
        return true;
      },
    );
  });

  it('names the second input and its label', () => {
    const x = f64([1, 2]);
    const y = f64([3, 5]);
    y.name = 'weight';
    assert.throws(
      () => gradcheck((a, b) => SwappedMul.apply(a, b), [x, y]),
      (error: Error) => error instanceof GradcheckError && error.inputIndex === 0 && /input 0/.test(error.message),
    );
    // With x not requiring grad, the check reaches y, whose gradient is also wrong.
    assert.throws(
      () => gradcheck((a, b) => SwappedMul.apply(a, b), [f64([1, 2], false), y]),
      (error: Error) => error instanceof GradcheckError && error.inputIndex === 1 && /input 1 \('weight'\)/.test(error.message),
    );
  });

  it('returns false with raiseException false', () => {
    assert.equal(gradcheck((t) => BrokenExp.apply(t), [f64([0.5])], { raiseException: false }), false);
    assert.equal(gradcheck((t) => t.exp(), [f64([0.5])], { raiseException: false }), true);
  });

  it('finds a wrong backward on random inputs', () => {
    // At 0 the broken rule happens to be right (exp'(0) = 1), so the inputs stay away from it.
    const shapes = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 });
    fc.assert(
      fc.property(tensorArb({ shape: shapes, awayFrom: [0], margin: 0.5, requiresGrad: true }), (x) => {
        assert.throws(() => gradcheck((t) => BrokenExp.apply(t), [x]), GradcheckError);
      }),
      { numRuns: 10 },
    );
  });

  it('perturbs strided inputs through their view', () => {
    fc.assert(
      fc.property(nonContiguousTensorArb({ requiresGrad: true }), ({ view }) => gradcheck((t) => t.sin().mul(t), [view])),
      { numRuns: 10 },
    );
  });

  it('checks every output of a function with several', () => {
    const x = f64([0.5, 1.5]);
    assert.equal(gradcheck((t) => [t.exp(), t.square()], [x]), true);
    assert.throws(() => gradcheck((t) => [t.exp(), BrokenExp.apply(t)], [x]), (error: Error) => error instanceof GradcheckError && error.outputIndex === 1);
  });

  it('rejects float32 and expanded inputs', () => {
    assert.throws(() => gradcheck((t) => t.exp(), [tensor([1], { requiresGrad: true })]), (error: Error) => error instanceof ValueError && /float64/.test(error.message));
    const expanded = f64([1], false).expand(3).detach().requiresGrad_();
    assert.throws(() => gradcheck((t) => t.exp(), [expanded]), (error: Error) => error instanceof ValueError && /overlapping/.test(error.message));
    assert.throws(() => gradcheck((t) => t.exp(), [f64([1], false)]), (error: Error) => error instanceof ValueError && /requires grad/.test(error.message));
  });

  it('accepts empty inputs', () => {
    assert.equal(gradcheck((t) => t.exp(), [S.zeros([3, 0], { dtype: 'float64', requiresGrad: true })]), true);
  });

  it('leaves the inputs unchanged', () => {
    const x = f64([0.5, -1, 2]);
    gradcheck((t) => t.exp(), [x]);
    assert.deepEqual(Array.from(x.toTypedArray()), [0.5, -1, 2]);
  });

  it('detects a nondeterministic backward with nondetTol', () => {
    assert.throws(() => gradcheck((t) => Jittery.apply(t), [f64([1, 2])], { nondetTol: 1e-9 }), (error: Error) => error instanceof GradcheckError && /reentrant/.test(error.message));
  });
});

describe('gradgradcheck', () => {
  it('passes a correct op', () => {
    assert.equal(gradgradcheck((x) => x.mul(x).mul(x), [f64([0.5, -1])]), true);
  });

  it('rejects a first derivative that is not differentiable', () => {
    const x = f64([0.5, -1]);
    assert.equal(gradcheck((t) => DetachedCube.apply(t), [x]), true);
    assert.throws(() => gradgradcheck((t) => DetachedCube.apply(t), [x]), GradcheckError);
    assert.equal(gradgradcheck((t) => DetachedCube.apply(t), [x], { raiseException: false }), false);
  });
});

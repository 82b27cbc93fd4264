import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { AutogradError, Function, type FunctionCtx, ShapeError, type Tensor, grad, noGrad, tensor } from '../index.js';
import { tensorArb } from '../testing/arbitraries.js';
import { RUNS, assertClose, valuesOf } from './core-helpers.js';

const f64 = (values: number[], requiresGrad = true): Tensor => tensor(values, { dtype: 'float64', requiresGrad });

describe('backward', () => {
  it('accumulates into .grad across calls', () => {
    const x = f64([1, 2, 3]);
    x.mul(x).sum().backward();
    x.mul(x).sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [4, 8, 12]);
  });

  it('runs twice with retainGraph', () => {
    const x = f64([1, 2]);
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    assertClose(valuesOf(x.grad!), [2 * Math.E, 2 * Math.E ** 2]);
  });

  it('throws on a second backward without retainGraph', () => {
    const x = f64([1, 2]);
    const y = x.mul(3).sum();
    y.backward();
    assert.throws(() => y.backward(), (error: Error) => error instanceof AutogradError && /SumBackward|MulBackward/.test(error.message) && /retainGraph/.test(error.message));
  });

  it('needs a gradient for a non-scalar output', () => {
    const x = f64([1, 2]);
    const y = x.mul(2);
    assert.throws(() => y.backward(), (error: Error) => error instanceof AutogradError && /scalar/.test(error.message) && /\[2\]/.test(error.message));
    y.backward(f64([10, 100], false));
    assert.deepEqual(valuesOf(x.grad!), [20, 200]);
  });

  it('rejects a gradient of the wrong shape', () => {
    const y = f64([1, 2]).mul(2);
    assert.throws(() => y.backward(f64([1, 2, 3], false)), (error: Error) => error instanceof ShapeError && /\[3\]/.test(error.message) && /\[2\]/.test(error.message));
  });

  it('sums both paths of a diamond', () => {
    fc.assert(
      fc.property(tensorArb({ shape: [3], requiresGrad: true }), (x) => {
        // f = 3x + x^2 uses x twice, so df/dx = 3 + 2x.
        x.mul(3).add(x.square()).sum().backward();
        assertClose(valuesOf(x.grad!), valuesOf(x).map((v) => 3 + 2 * v));
      }),
      { numRuns: RUNS },
    );
  });

  it('sums paths through a shared intermediate', () => {
    // y = 2x is used by a product and a sum: f = y*y + y, df/dx = (2y + 1) * 2.
    const x = f64([1, -2]);
    const y = x.mul(2);
    y.mul(y).add(y).sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [10, -14]);
  });

  it('survives a chain of 10,000 ops', () => {
    const x = f64([1]);
    let y = x;
    for (let i = 0; i < 10_000; i++) y = y.mul(1.0001);
    y.sum().backward();
    assertClose(valuesOf(x.grad!), [1.0001 ** 10_000], { rtol: 1e-9 });
  });

  it('fills only the requested inputs', () => {
    const a = f64([1]);
    const b = f64([2]);
    a.mul(b).sum().backward(undefined, { inputs: [a] });
    assert.deepEqual(valuesOf(a.grad!), [2]);
    assert.equal(b.grad, null);
  });

  it('leaves that do not require grad get no gradient', () => {
    const a = f64([1], false);
    const b = f64([2]);
    a.mul(b).sum().backward();
    assert.equal(a.grad, null);
    assert.deepEqual(valuesOf(b.grad!), [1]);
  });

  it('stores detached gradients', () => {
    const x = f64([1, 2]);
    x.square().sum().backward();
    assert.equal(x.grad!.requiresGrad, false);
    assert.equal(x.grad!.gradFn, null);
  });
});

describe('grad()', () => {
  it('returns gradients without touching .grad', () => {
    const x = f64([1, 2]);
    const [g] = grad(x.square().sum(), x);
    assert.deepEqual(valuesOf(g!), [2, 4]);
    assert.equal(x.grad, null);
  });

  it('gives a Hessian-vector product with createGraph', () => {
    // f(x) = |x|^4 / 4 has gradient |x|^2 x and Hessian |x|^2 I + 2 x x^T,
    // so H v = |x|^2 v + 2 (x . v) x.
    const inputs = fc.tuple(tensorArb({ shape: [3], requiresGrad: true }), tensorArb({ shape: [3] }));
    fc.assert(
      fc.property(inputs, ([x, v]) => {
        const f = x.square().sum().square().div(4);
        const [g] = grad(f, x, { createGraph: true });
        assert.equal(g!.requiresGrad, true);
        const [hv] = grad(g!.mul(v).sum(), x);
        const xs = valuesOf(x);
        const vs = valuesOf(v);
        const norm2 = xs.reduce((s, a) => s + a * a, 0);
        const dot = xs.reduce((s, a, i) => s + a * vs[i], 0);
        assertClose(valuesOf(hv!), xs.map((a, i) => norm2 * vs[i] + 2 * dot * a), { atol: 1e-10 });
      }),
      { numRuns: RUNS },
    );
  });

  it('differentiates a quadratic form twice through matmul', () => {
    // f(x) = x^T A x has Hessian A + A^T.
    const a = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    const x = f64([0.5, -1]);
    const [g] = grad(x.matmul(a.matmul(x)), x, { createGraph: true });
    const rows = [0, 1].map((i) => valuesOf(grad(g!.select(0, i), x, { retainGraph: true })[0]!));
    assert.deepEqual(rows, [[2, 5], [5, 8]]);
  });

  it('rejects an unused input unless allowUnused', () => {
    const a = f64([1]);
    const b = f64([2]);
    const y = a.mul(3).sum();
    assert.throws(() => grad(y, [a, b], { retainGraph: true }), (error: Error) => error instanceof AutogradError && /input 1/.test(error.message));
    const [ga, gb] = grad(y, [a, b], { allowUnused: true });
    assert.deepEqual(valuesOf(ga!), [3]);
    assert.equal(gb, null);
  });

  it('returns the gradient of a non-leaf input', () => {
    const x = f64([1, 2]);
    const y = x.mul(2);
    const [g] = grad(y.square().sum(), y);
    assert.deepEqual(valuesOf(g!), [4, 8]);
  });
});

describe('hooks, retainGrad, detach and noGrad', () => {
  it('a hook observes the total gradient once', () => {
    const x = f64([1, 2]);
    const seen: number[][] = [];
    x.registerHook((g) => {
      seen.push(valuesOf(g));
    });
    x.mul(2).add(x).sum().backward();
    assert.deepEqual(seen, [[3, 3]]);
    assert.deepEqual(valuesOf(x.grad!), [3, 3]);
  });

  it('a hook can replace the gradient', () => {
    const x = f64([1, 2]);
    const y = x.mul(2);
    y.registerHook((g) => g.mul(10));
    y.sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [20, 20]);
  });

  it('a removed hook is not called', () => {
    const x = f64([1]);
    let calls = 0;
    const handle = x.registerHook(() => {
      calls++;
    });
    handle.remove();
    x.mul(2).sum().backward();
    assert.equal(calls, 0);
  });

  it('retainGrad keeps a non-leaf gradient', () => {
    const x = f64([1, 2]);
    const y = x.mul(3);
    const z = x.mul(4);
    y.retainGrad();
    y.square().add(z).sum().backward();
    assert.deepEqual(valuesOf(y.grad!), [6, 12]);
    assert.equal(z.grad, null);
  });

  it('detach shares storage and cuts the graph', () => {
    const x = f64([1, 2]);
    const d = x.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.storage, x.storage);
    // Only the path through x itself carries gradient: d/dx (x * detach(x)) = detach(x).
    x.mul(d).sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [1, 2]);
  });

  it('noGrad records nothing and enableGrad turns recording back on', () => {
    const x = f64([1, 2]);
    const y = noGrad(() => x.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    const z = noGrad(() => S.enableGrad(() => x.mul(2)));
    assert.equal(z.gradFn?.name, 'Mul');
    assert.equal(S.isGradEnabled(), true);
  });

  it('noGrad restores the mode after an error', () => {
    assert.throws(() => noGrad(() => {
      throw new Error('inside');
    }));
    assert.equal(S.isGradEnabled(), true);
  });
});

describe('in-place changes of saved tensors', () => {
  it('backward names the op whose saved output changed', () => {
    const x = f64([1, 2]);
    const y = x.exp();
    const loss = y.sum();
    noGrad(() => y.add_(1));
    assert.throws(() => loss.backward(), (error: Error) => error instanceof AutogradError && /ExpBackward/.test(error.message) && /in place/.test(error.message));
  });

  it('backward names the op whose saved leaf changed through copy_', () => {
    const w = f64([1, 2]);
    const loss = w.mul(f64([3, 4], false)).square().sum();
    noGrad(() => w.copy_(f64([5, 6], false)));
    assert.throws(() => loss.backward(), (error: Error) => error instanceof AutogradError && /MulBackward/.test(error.message));
  });

  it('a change of an unsaved tensor is allowed', () => {
    // add saves nothing, so its backward does not depend on the old values.
    const x = f64([1, 2]);
    const c = f64([5, 5], false);
    const loss = x.add(c).sum();
    c.add_(1);
    loss.backward();
    assert.deepEqual(valuesOf(x.grad!), [1, 1]);
  });
});

class Cube extends Function {
  static override forward(ctx: FunctionCtx, x: Tensor): Tensor {
    ctx.saveForBackward(x);
    return x.mul(x).mul(x);
  }

  static override backward(ctx: FunctionCtx, g: Tensor): Tensor {
    const [x] = ctx.savedTensors;
    return g.mul(x.square()).mul(3);
  }
}

/** a * x with a number `a` that gets no gradient: backward returns one gradient per tensor argument. */
class Scale extends Function {
  static override forward(ctx: FunctionCtx, x: Tensor, a: number): Tensor {
    ctx.values.a = a;
    return x.mul(a);
  }

  static override backward(ctx: FunctionCtx, g: Tensor): Tensor {
    return g.mul(ctx.values.a as number);
  }
}

class WrongCount extends Function {
  static override forward(_ctx: FunctionCtx, x: Tensor): Tensor {
    return x.clone();
  }

  static override backward(_ctx: FunctionCtx, g: Tensor): Tensor[] {
    return [g, g];
  }
}

describe('custom Function', () => {
  it('computes forward without recording and backward by the user rule', () => {
    const x = f64([1, 2]);
    const y = Cube.apply(x);
    assert.equal(y.gradFn?.name, 'Cube');
    assert.deepEqual(valuesOf(y), [1, 8]);
    y.sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [3, 12]);
  });

  it('passes gradcheck and gradgradcheck', () => {
    fc.assert(
      fc.property(tensorArb({ shape: [2, 2], requiresGrad: true }), (x) => S.gradcheck((t) => Cube.apply(t), [x]) && S.gradgradcheck((t) => Cube.apply(t), [x])),
      { numRuns: 10 },
    );
  });

  it('takes non-tensor arguments', () => {
    const x = f64([1, 2]);
    Scale.apply(x, 5).sum().backward();
    assert.deepEqual(valuesOf(x.grad!), [5, 5]);
  });

  it('rejects a backward with the wrong number of gradients', () => {
    const y = WrongCount.apply(f64([1]));
    assert.throws(() => y.sum().backward(), (error: Error) => error instanceof AutogradError && /WrongCount/.test(error.message) && /2 gradients/.test(error.message));
  });
});

import assert from 'node:assert/strict';

import * as S from '../index.js';
import { type DType, type Tensor, tensor } from '../index.js';
import { assertClose, valuesOf } from './core-helpers.js';

const FLOATS: DType[] = ['float32', 'float64'];

/** Asserts that every element is finite, naming the first that is not. */
function assertFinite(t: Tensor, label: string): void {
  valuesOf(t).forEach((v, i) => assert.ok(Number.isFinite(v), `${label}: element ${i} is ${v}`));
}

describe('softmax family with extreme logits', () => {
  for (const dtype of FLOATS) {
    it(`softmax of ±1e4 logits is exact (${dtype})`, () => {
      const logits = tensor([[1e4, 0, -1e4], [-1e4, -1e4, -1e4]], { dtype });
      assertClose(valuesOf(logits.softmax(-1)), [1, 0, 0, 1 / 3, 1 / 3, 1 / 3], { atol: 1e-7 });
    });

    it(`logSoftmax of ±1e4 logits is finite and exact (${dtype})`, () => {
      const logits = tensor([[1e4, 0, -1e4]], { dtype });
      assertClose(valuesOf(logits.logSoftmax(-1)), [0, -1e4, -2e4], { atol: 0, rtol: 1e-7 });
    });

    it(`logsumexp of ±1e4 logits is finite and exact (${dtype})`, () => {
      const logits = tensor([[1e4, 0, -1e4], [-1e4, -1e4, -1e4]], { dtype });
      assertClose(valuesOf(logits.logsumexp(1)), [1e4, -1e4 + Math.log(3)], { atol: 0, rtol: 1e-7 });
    });
  }

  it('gradients at ±1e4 logits are finite', () => {
    const logits = tensor([[1e4, 0, -1e4]], { dtype: 'float64', requiresGrad: true });
    const weights = tensor([[1, 2, 3]], { dtype: 'float64' });
    logits.softmax(-1).mul(weights).sum().add(logits.logSoftmax(-1).mul(weights).sum()).add(logits.logsumexp(1).sum()).backward();
    assertFinite(logits.grad!, 'gradient');
    // softmax: y (w - y.w) = [0, 0, 0]; logSoftmax: w - y sum(w) = [-5, 2, 3]; logsumexp: y = [1, 0, 0].
    assertClose(valuesOf(logits.grad!), [-4, 2, 3], { atol: 1e-12 });
  });

  it('masked positions get zero probability', () => {
    const logits = tensor([[0, -Infinity, 1]], { dtype: 'float64' });
    const expected = [1 / (1 + Math.E), 0, Math.E / (1 + Math.E)];
    assertClose(valuesOf(logits.softmax(-1)), expected, { atol: 1e-15 });
    assertClose(valuesOf(logits.logSoftmax(-1)), expected.map(Math.log), { atol: 1e-15 });
    assertClose(valuesOf(logits.logsumexp(1)), [Math.log(1 + Math.E)], { atol: 1e-15 });
  });

  it('a fully masked row gives zeros, not NaN', () => {
    const logits = tensor([[-Infinity, -Infinity], [0, 0]]);
    assert.deepEqual(logits.softmax(-1).toArray(), [[0, 0], [0.5, 0.5]]);
    assert.deepEqual(valuesOf(logits.logSoftmax(-1)).slice(0, 2), [-Infinity, -Infinity]);
    assert.deepEqual(valuesOf(logits.logsumexp(1)), [-Infinity, Math.fround(Math.log(2))]);
  });

  it('gradients through masked positions are finite', () => {
    const logits = tensor([[0.5, -Infinity, 1]], { dtype: 'float64', requiresGrad: true });
    const target = tensor([[2]], { dtype: 'int32' });
    logits.logSoftmax(-1).gather(1, target).neg().sum().add(logits.softmax(-1).select(1, 0).sum()).backward();
    assertFinite(logits.grad!, 'gradient');
    assert.equal(logits.grad!.get(0, 1), 0);
  });
});

describe('elementwise ops at extreme inputs', () => {
  it('log of tiny float64 values', () => {
    const x = tensor([1e-300, 5e-324], { dtype: 'float64', requiresGrad: true });
    assertClose(valuesOf(x.log()), [Math.log(1e-300), Math.log(5e-324)], { rtol: 1e-15 });
    assertFinite(x.log(), 'log');
    x.log().select(0, 0).backward();
    assertClose([x.grad!.get(0)], [1e300], { rtol: 1e-15 });
  });

  for (const dtype of FLOATS) {
    it(`sigmoid and tanh saturate at ±1000 (${dtype})`, () => {
      const x = tensor([-1000, 1000], { dtype, requiresGrad: true });
      assert.deepEqual(valuesOf(x.sigmoid()), [0, 1]);
      assert.deepEqual(valuesOf(x.tanh()), [-1, 1]);
      x.sigmoid().add(x.tanh()).sum().backward();
      assert.deepEqual(valuesOf(x.grad!), [0, 0]);
    });

    it(`silu and gelu stay finite at ±1000 (${dtype})`, () => {
      const x = tensor([-1000, 1000], { dtype, requiresGrad: true });
      assertClose(valuesOf(x.silu()), [0, 1000]);
      assertClose(valuesOf(x.gelu()), [0, 1000]);
      assertClose(valuesOf(x.gelu('tanh')), [0, 1000]);
      x.silu().add(x.gelu()).add(x.gelu('tanh')).sum().backward();
      assertClose(valuesOf(x.grad!), [0, 3]);
    });
  }

  it('erf saturates', () => {
    assert.deepEqual(valuesOf(tensor([-10, 10, -Infinity, Infinity], { dtype: 'float64' }).erf()), [-1, 1, -1, 1]);
  });

  it('expm1 and log1p keep precision near 0', () => {
    const x = tensor([1e-10, -1e-12], { dtype: 'float64' });
    assertClose(valuesOf(x.expm1()), [1.00000000005e-10, -9.999999999995e-13], { rtol: 1e-14 });
    assertClose(valuesOf(x.log1p()), [9.9999999995e-11, -1.0000000000005e-12], { rtol: 1e-14 });
  });

  it('maximum, minimum and max propagate NaN', () => {
    const x = tensor([1, NaN, 3]);
    assert.ok(Number.isNaN(x.maximum(tensor([2, 2, 2])).get(1)));
    assert.ok(Number.isNaN(x.minimum(tensor([2, 2, 2])).get(1)));
    assert.ok(Number.isNaN(x.max().item()));
    assert.ok(Number.isNaN(x.min().item()));
  });
});

describe('reductions at extreme inputs', () => {
  it('cross-entropy of confident logits is finite with the right gradient', () => {
    // loss = logsumexp(z) - z[target]; its gradient is softmax(z) - onehot(target).
    const logits = tensor([[1e4, 0, -1e4], [3, 1, 2]], { dtype: 'float64', requiresGrad: true });
    const target = tensor([[2], [0]], { dtype: 'int32' });
    const loss = logits.logsumexp(1, true).sub(logits.gather(1, target)).mean();
    const row2 = [3, 1, 2].map((v) => Math.exp(v));
    const total = row2.reduce((a, b) => a + b, 0);
    assertClose([loss.item()], [(2e4 + Math.log(total) - 3) / 2], { rtol: 1e-12 });
    loss.backward();
    const expected = [1, 0, -1, row2[0] / total - 1, row2[1] / total, row2[2] / total].map((v) => v / 2);
    assertClose(valuesOf(logits.grad!), expected, { atol: 1e-12 });
  });

  it('the logSoftmax form of cross-entropy agrees', () => {
    const logits = tensor([[1e4, 0, -1e4]], { requiresGrad: true });
    const loss = logits.logSoftmax(-1).gather(1, tensor([[2]], { dtype: 'int32' })).neg().sum();
    assert.equal(loss.item(), 2e4);
    loss.backward();
    assertClose(valuesOf(logits.grad!), [1, 0, -1], { atol: 1e-6 });
  });

  it('var of values with a large offset is exact', () => {
    // A one-pass E[x^2] - E[x]^2 loses every digit here; subtracting the mean first does not.
    assert.equal(tensor([1e8 + 1, 1e8 + 2, 1e8 + 3], { dtype: 'float64' }).var().item(), 1);
    assert.equal(tensor([1e4 + 1, 1e4 + 2, 1e4 + 3]).var().item(), 1);
  });

  it('float32 sums of long rows stay accurate', () => {
    const n = 1_000_000;
    const total = S.full([n], 0.1).sum().item();
    const exact = n * Math.fround(0.1);
    assert.ok(Math.abs(total - exact) < 0.02, `sum ${total}, expected ${exact}`);
  });

  it('prod of many small factors underflows to 0 without NaN gradients', () => {
    const x = S.full([400], 0.01, { dtype: 'float64', requiresGrad: true });
    const p = x.prod();
    assert.equal(p.item(), 0);
    p.backward();
    assert.ok(valuesOf(x.grad!).every((v) => v === 0));
  });
});

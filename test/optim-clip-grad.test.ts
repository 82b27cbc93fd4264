import assert from 'node:assert/strict';

import { type Tensor, ValueError, tensor } from '../index.js';
import { clipGradNorm_, clipGradValue_ } from '../nn/optim/index.js';

const TOLERANCE = 1e-12;

/** Two float64 parameters with gradients [3, 4] and [12]: 2-norm 13, 1-norm 19, ∞-norm 12. */
function makeParams(): Tensor[] {
  const a = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
  const b = tensor([0], { dtype: 'float64', requiresGrad: true });
  a.grad = tensor([3, 4], { dtype: 'float64' });
  b.grad = tensor([12], { dtype: 'float64' });
  return [a, b];
}

function gradValues(params: Tensor[]): number[] {
  return params.flatMap((param) => param.grad?.toArray() as number[]);
}

function assertAllClose(actual: number[], expected: number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) <= TOLERANCE, `${label}[${i}]: got ${value}, expected ${expected[i]}`));
}

describe('clipGradNorm_', () => {
  it('returns the total 2-norm', () => {
    const params = makeParams();
    const total = clipGradNorm_(params, 100);
    assert.deepEqual(total.shape, []);
    assert.ok(Math.abs(total.item() - 13) <= TOLERANCE, `total = ${total.item()}`);
  });

  it('scales by maxNorm / (norm + 1e-6)', () => {
    const params = makeParams();
    clipGradNorm_(params, 6.5);
    const scale = 6.5 / (13 + 1e-6);
    assertAllClose(gradValues(params), [3 * scale, 4 * scale, 12 * scale], 'clipped grads');
  });

  it('leaves small gradients unchanged', () => {
    const params = makeParams();
    clipGradNorm_(params, 13.5);
    assert.deepEqual(gradValues(params), [3, 4, 12]);
  });

  it('supports the infinity norm', () => {
    const params = makeParams();
    const total = clipGradNorm_(params, 6, Infinity);
    assert.equal(total.item(), 12);
    const scale = 6 / (12 + 1e-6);
    assertAllClose(gradValues(params), [3 * scale, 4 * scale, 12 * scale], 'clipped grads');
  });

  it('supports 1-norms and 3-norms', () => {
    assert.ok(Math.abs(clipGradNorm_(makeParams(), 100, 1).item() - 19) <= TOLERANCE, '1-norm');
    const expected = Math.cbrt(27 + 64 + 1728);
    const total = clipGradNorm_(makeParams(), 100, 3).item();
    assert.ok(Math.abs(total - expected) <= 1e-11, `3-norm: got ${total}, expected ${expected}`);
  });

  it('skips parameters without a gradient', () => {
    const params = makeParams();
    const frozen = tensor([5], { dtype: 'float64', requiresGrad: true });
    const total = clipGradNorm_([...params, frozen], 100);
    assert.ok(Math.abs(total.item() - 13) <= TOLERANCE, `total = ${total.item()}`);
    assert.equal(frozen.grad, null);
  });

  it('returns zero without gradients', () => {
    assert.equal(clipGradNorm_([tensor([1], { requiresGrad: true })], 1).item(), 0);
  });

  it('accepts a single tensor', () => {
    const [a] = makeParams();
    assert.ok(Math.abs(clipGradNorm_(a, 1).item() - 5) <= TOLERANCE);
    assertAllClose(a.grad?.toArray() as number[], [3 / (5 + 1e-6), 4 / (5 + 1e-6)], 'clipped grad');
  });

  it('clips float32 gradients', () => {
    const param = tensor([0, 0], { requiresGrad: true });
    param.grad = tensor([3, 4]);
    const total = clipGradNorm_([param], 1);
    assert.equal(total.dtype, 'float32');
    assert.equal(param.grad.dtype, 'float32');
    assert.ok(Math.abs(param.grad.get(0) - 0.6) < 1e-6, `grad[0] = ${param.grad.get(0)}`);
  });

  it('rejects non-finite norms when asked', () => {
    const param = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
    param.grad = tensor([Number.NaN, 1], { dtype: 'float64' });
    assert.throws(() => clipGradNorm_([param], 1, 2, { errorIfNonfinite: true }), /total gradient norm of order 2 is NaN/);
    assert.ok(Number.isNaN(clipGradNorm_([param], 1).item()));
  });

  it('rejects invalid arguments', () => {
    assert.throws(() => clipGradNorm_(makeParams(), -1), (error: unknown) => error instanceof ValueError && /maxNorm .* -1/.test(error.message));
    assert.throws(() => clipGradNorm_(makeParams(), 1, 0), (error: unknown) => error instanceof ValueError && /normType .* 0/.test(error.message));
  });
});

describe('clipGradValue_', () => {
  it('clamps each element', () => {
    const params = makeParams();
    params[0].grad = tensor([-7, 2], { dtype: 'float64' });
    clipGradValue_(params, 4);
    assert.deepEqual(gradValues(params), [-4, 2, 4]);
  });

  it('rejects a negative clip value', () => {
    assert.throws(() => clipGradValue_(makeParams(), -1), (error: unknown) => error instanceof ValueError && /clipValue .* -1/.test(error.message));
  });
});

import assert from 'node:assert/strict';

import * as S from '../index.js';
import { Generator, ShapeError, Tensor, ValueError, manualSeed, tensor } from '../index.js';
import { assertClose, valuesOf } from './core-helpers.js';

describe('tensor creation', () => {
  it('tensor infers shape and dtype from nested arrays', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(x.shape, [2, 3]);
    assert.equal(x.dtype, 'float32');
    assert.equal(x.ndim, 2);
    assert.equal(x.numel(), 6);
    assert.equal(x.size(1), 3);
    assert.equal(x.size(-2), 2);
    assert.ok(x.isContiguous());
    assert.equal(tensor([true, false]).dtype, 'bool');
    assert.deepEqual(tensor(7).shape, []);
    assert.deepEqual(tensor([]).shape, [0]);
  });

  it('tensor copies a typed array and takes a shape', () => {
    const source = new Float64Array([1, 2, 3, 4]);
    const x = tensor(source, { shape: [2, 2] });
    source[0] = 100;
    assert.equal(x.dtype, 'float64');
    assert.deepEqual(x.toArray(), [[1, 2], [3, 4]]);
  });

  it('fromTypedArray wraps without copying', () => {
    const source = new Float32Array([1, 2]);
    const x = Tensor.fromTypedArray(source, [2]);
    source[1] = 5;
    assert.equal(x.get(1), 5);
  });

  it('tensor rejects ragged arrays', () => {
    assert.throws(() => tensor([[1, 2], [3]]), ShapeError);
  });

  it('full, zeros, ones and the like functions', () => {
    assert.deepEqual(S.zeros([2, 3]).toArray(), [[0, 0, 0], [0, 0, 0]]);
    assert.deepEqual(S.ones([2], { dtype: 'int32' }).toArray(), [1, 1]);
    assert.equal(S.ones([2], { dtype: 'int32' }).dtype, 'int32');
    assert.deepEqual(S.full([2, 1], 7, { dtype: 'float64' }).toArray(), [[7], [7]]);
    const base = S.zeros([3, 2], { dtype: 'float64' });
    const like = S.fullLike(base, 2);
    assert.deepEqual(like.shape, [3, 2]);
    assert.equal(like.dtype, 'float64');
    assert.deepEqual(valuesOf(S.onesLike(base)), [1, 1, 1, 1, 1, 1]);
    assert.equal(S.zerosLike(base, { dtype: 'int32' }).dtype, 'int32');
    assert.equal(S.zeros([2], { requiresGrad: true }).requiresGrad, true);
    assert.throws(() => S.zeros([2, -1]), ShapeError);
  });

  it('arange follows Python ranges', () => {
    const ints = S.arange(5);
    assert.equal(ints.dtype, 'int32');
    assert.deepEqual(ints.toArray(), [0, 1, 2, 3, 4]);
    assert.deepEqual(S.arange(2, 5).toArray(), [2, 3, 4]);
    assert.deepEqual(S.arange(5, 0, -2).toArray(), [5, 3, 1]);
    const floats = S.arange(1, 2, 0.25);
    assert.equal(floats.dtype, 'float32');
    assert.deepEqual(floats.toArray(), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(S.arange(3, 1).toArray(), []);
    assert.throws(() => S.arange(0, 1, 0), ValueError);
  });

  it('linspace includes both ends', () => {
    assert.deepEqual(S.linspace(0, 1, 5).toArray(), [0, 0.25, 0.5, 0.75, 1]);
    const x = S.linspace(-1, 0.3, 7, { dtype: 'float64' });
    assertClose(valuesOf(x), [-1, -1 + 1.3 / 6, -1 + 2.6 / 6, -1 + 3.9 / 6, -1 + 5.2 / 6, -1 + 6.5 / 6, 0.3], { atol: 1e-15 });
    assert.equal(x.get(-1), 0.3);
    assert.deepEqual(S.linspace(2, 3, 1).toArray(), [2]);
    assert.deepEqual(S.linspace(2, 3, 0).toArray(), []);
  });

  it('eye has ones on the diagonal', () => {
    assert.deepEqual(S.eye(2).toArray(), [[1, 0], [0, 1]]);
    assert.deepEqual(S.eye(2, 3).toArray(), [[1, 0, 0], [0, 1, 0]]);
    assert.deepEqual(S.eye(3, 1).toArray(), [[1], [0], [0]]);
  });
});

describe('random tensors', () => {
  it('manualSeed makes rand, randn and randint repeat', () => {
    manualSeed(1234);
    const first = [S.rand([5]), S.randn([5]), S.randint(0, 10, [5])].map(valuesOf);
    manualSeed(1234);
    const second = [S.rand([5]), S.randn([5]), S.randint(0, 10, [5])].map(valuesOf);
    assert.deepEqual(second, first);
    manualSeed(1235);
    assert.notDeepEqual(valuesOf(S.rand([5])), first[0]);
  });

  it('a Generator gives the stream of the same seed', () => {
    manualSeed(99);
    const global = valuesOf(S.randn([6], { dtype: 'float64' }));
    const own = valuesOf(S.randn([6], { dtype: 'float64', generator: new Generator(99) }));
    assert.deepEqual(own, global);
  });

  it('a Generator is independent of the global one', () => {
    const generator = new Generator(5);
    const expected = valuesOf(S.rand([4], { generator: new Generator(5) }));
    manualSeed(0);
    S.rand([10]);
    assert.deepEqual(valuesOf(S.rand([4], { generator })), expected);
  });

  it('rand is uniform in [0, 1)', () => {
    const values = valuesOf(S.rand([20_000], { generator: new Generator(1) }));
    assert.ok(values.every((v) => v >= 0 && v < 1));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    // The standard error of the mean of U(0, 1) over 20,000 draws is 0.002.
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  });

  it('float32 rand stays below 1 for the largest draw', () => {
    // The largest double below 1 rounds to exactly 1 in float32.
    class Top extends Generator {
      override random(): number {
        return 1 - 2 ** -53;
      }
    }
    assert.ok(S.rand([1], { generator: new Top() }).item() < 1);
    assert.ok(S.rand([1], { generator: new Top(), dtype: 'float64' }).item() < 1);
  });

  it('randn has mean 0 and std 1', () => {
    const values = valuesOf(S.randn([20_000], { dtype: 'float64', generator: new Generator(2) }));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(variance) - 1) < 0.03, `std ${Math.sqrt(variance)}`);
    const scaled = valuesOf(S.randn([4], { mean: 10, std: 0, generator: new Generator(2) }));
    assert.deepEqual(scaled, [10, 10, 10, 10]);
  });

  it('randint covers [low, high) and nothing else', () => {
    const values = valuesOf(S.randint(-2, 3, [2000], { generator: new Generator(3) }));
    assert.deepEqual([...new Set(values)].sort((a, b) => a - b), [-2, -1, 0, 1, 2]);
    assert.throws(() => S.randint(3, 3, [1]), ValueError);
  });

  it('randperm is a permutation', () => {
    const values = valuesOf(S.randperm(50, { generator: new Generator(4) }));
    assert.deepEqual([...values].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual(values, Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('element access', () => {
  it('item returns the value of a one-element tensor', () => {
    assert.equal(tensor(3.5).item(), 3.5);
    assert.equal(tensor([[2]]).item(), 2);
    assert.equal(tensor([1, 2, 3]).slice(0, 2).item(), 3);
    assert.throws(() => tensor([1, 2]).item(), (error: Error) => error instanceof ValueError && /\[2\]/.test(error.message));
  });

  it('toArray nests by shape and follows views', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(x.toArray(), [[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(x.T.toArray(), [[1, 4], [2, 5], [3, 6]]);
    assert.deepEqual(x.tolist(), x.toArray());
    assert.equal(tensor(4).toArray(), 4);
  });

  it('get takes negative indices', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.equal(x.get(1, -1), 6);
    assert.equal(x.get(-2, 0), 1);
    assert.throws(() => x.get(2, 0), S.IndexError);
  });

  it('toTypedArray is a fresh row-major copy', () => {
    const x = tensor([[1, 2], [3, 4]]);
    const copy = x.T.toTypedArray();
    assert.deepEqual(Array.from(copy), [1, 3, 2, 4]);
    copy[0] = 100;
    assert.equal(x.get(0, 0), 1);
  });
});

describe('printing', () => {
  it('prints a matrix in PyTorch layout', () => {
    assert.equal(String(tensor([[1, 2], [3, 4]])), 'tensor([[1., 2.],\n        [3., 4.]])');
  });

  it('prints four decimals', () => {
    assert.equal(String(tensor([0.1, 0.2])), 'tensor([0.1000, 0.2000])');
    assert.equal(String(tensor([-1.5, 2])), 'tensor([-1.5000,  2.0000])');
  });

  it('prints a 0-d tensor and a 3-d tensor', () => {
    assert.equal(String(tensor(3)), 'tensor(3.)');
    const expected = 'tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])';
    assert.equal(String(S.arange(8, undefined, 1, { dtype: 'float32' }).reshape(2, 2, 2)), expected);
  });

  it('prints scientific notation for a wide range', () => {
    assert.equal(String(tensor([1e-5, 1])), 'tensor([1.0000e-05, 1.0000e+00])');
  });

  it('prints autograd state', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    assert.equal(String(x), 'tensor([1., 2.], requires_grad=True)');
    assert.equal(String(x.mul(2)), 'tensor([2., 4.], grad_fn=<MulBackward>)');
  });

  it('prints non-default dtypes, booleans and empty tensors', () => {
    assert.equal(String(tensor([1, 2], { dtype: 'float64' })), 'tensor([1., 2.], dtype=float64)');
    assert.equal(String(tensor([1, 20], { dtype: 'int32' })), 'tensor([ 1, 20], dtype=int32)');
    assert.equal(String(tensor([true, false])), 'tensor([ True, False])');
    assert.equal(String(S.zeros([0])), 'tensor([])');
    assert.equal(String(S.zeros([2, 0])), 'tensor([], size=(2, 0))');
  });

  it('wraps long rows at 80 columns', () => {
    const expected =
      'tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n' +
      '        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n' +
      '        28., 29.])';
    assert.equal(String(S.arange(30, undefined, 1, { dtype: 'float32' })), expected);
  });

  it('summarizes more than 1000 elements', () => {
    assert.equal(String(S.arange(2000, undefined, 1, { dtype: 'float32' })), 'tensor([   0.,    1.,    2.,  ..., 1997., 1998., 1999.])');
    const rows = String(S.arange(2000, undefined, 1, { dtype: 'float32' }).reshape(1000, 2));
    assert.equal(rows, 'tensor([[   0.,    1.],\n        [   2.,    3.],\n        [   4.,    5.],\n        ...,\n        [1994., 1995.],\n        [1996., 1997.],\n        [1998., 1999.]])');
  });
});

describe('views share storage', () => {
  /** Writes through the base with copy_ and checks that the view reads the new values. */
  function assertSharesStorage(base: Tensor, view: Tensor, expectedAfter: unknown): void {
    assert.equal(view.storage, base.storage);
    base.copy_(S.arange(base.numel(), undefined, 1, { dtype: base.dtype }).reshape(base.shape).add(100));
    assert.deepEqual(view.toArray(), expectedAfter);
  }

  it('transpose', () => {
    const base = S.zeros([2, 3]);
    assertSharesStorage(base, base.transpose(0, 1), [[100, 103], [101, 104], [102, 105]]);
  });

  it('permute', () => {
    const base = S.zeros([1, 2, 2]);
    assertSharesStorage(base, base.permute(2, 0, 1), [[[100, 102]], [[101, 103]]]);
  });

  it('slice with step', () => {
    const base = S.zeros([5]);
    assertSharesStorage(base, base.slice(0, 1, undefined, 2), [101, 103]);
  });

  it('expand', () => {
    const base = S.zeros([2, 1]);
    assertSharesStorage(base, base.expand(2, 3), [[100, 100, 100], [101, 101, 101]]);
  });

  it('reshape, select, narrow, squeeze and unsqueeze', () => {
    const base = S.zeros([2, 2]);
    const views = [base.reshape(4), base.select(1, 0), base.narrow(0, 1, 1), base.narrow(0, 0, 1).squeeze(0), base.unsqueeze(0)];
    base.copy_(tensor([[1, 2], [3, 4]]));
    assert.deepEqual(views.map((v) => v.toArray()), [[1, 2, 3, 4], [1, 3], [[3, 4]], [1, 2], [[[1, 2], [3, 4]]]]);
    assert.ok(views.every((v) => v.storage === base.storage));
  });

  it('in-place writes through a view reach the base and bump its version', () => {
    const base = S.zeros([2, 3]);
    const column = base.select(1, 2);
    const before = base.version;
    column.fill_(9);
    assert.deepEqual(base.toArray(), [[0, 0, 9], [0, 0, 9]]);
    assert.equal(base.version, before + 1);
  });

  it('detach shares storage but not history', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const d = x.mul(2).detach();
    assert.equal(d.gradFn, null);
    assert.equal(d.requiresGrad, false);
  });
});

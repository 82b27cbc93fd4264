import assert from 'node:assert/strict';
import fc from 'fast-check';

import {
  DTypeError, DeviceError, Generator, IndexError, Tensor, cat, full, gather, indexAdd, indexSelect, noGrad, randint, scatterAdd, stack, tensor, zeros,
} from '../index.js';
import { GpuStorage } from '../gpu/index.js';
import { FLOAT32, RUNS, VIEW_KINDS, baseShapeFor, checkForwardBackward, describeGpu, expectClose, expectEqual, sample, viewOf } from './gpu-harness.js';

const dimSize = fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 6 }));
const shapeOf = (minRank: number, maxRank: number) => fc.array(dimSize, { minLength: minRank, maxLength: maxRank });
const seed = fc.integer({ min: 1, max: 2 ** 30 });
const viewKind = fc.constantFrom(...VIEW_KINDS);

/** Draws an int32 index tensor of `shape` with values in [-size, size) (negative ones count from the end). */
function randomIndex(shape: readonly number[], size: number, s: number): Tensor {
  return randint(-size, size, shape, { generator: new Generator(s) });
}

describeGpu('gpu data movement', () => {
  it('upload and read back every dtype', () => {
    const floats = new Float32Array([1.5, -2.25, 3e-8, 1e30, -0]);
    assert.deepEqual(Array.from(tensor(floats, { device: 'gpu' }).toTypedArray()), Array.from(floats));
    const ints = tensor([[-7, 0, 123456], [1, 2, 16777216]], { dtype: 'int32', device: 'gpu' });
    assert.ok(ints.toTypedArray() instanceof Int32Array);
    assert.deepEqual(ints.toArray(), [[-7, 0, 123456], [1, 2, 16777216]]);
    const bools = tensor([true, false, true], { device: 'gpu' });
    assert.ok(bools.toTypedArray() instanceof Uint8Array);
    assert.deepEqual(bools.toArray(), [1, 0, 1]);
    assert.ok(ints.storage instanceof GpuStorage);
    assert.equal(ints.device, 'gpu');
  });

  it('device storage get and set', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { device: 'gpu' });
    const storage = x.storage as GpuStorage;
    assert.equal(storage.length, 6);
    assert.equal(storage.dtype, 'float32');
    assert.equal(storage.get(4), 5);
    storage.set(4, -7);
    assert.deepEqual(x.toArray(), [[1, 2, 3], [4, -7, 6]]);
    assert.deepEqual(x.T.mul(2).toArray(), [[2, 8], [4, -14], [6, 12]]);
    assert.throws(() => storage.get(6), IndexError);
  });

  it('views read back in place', () => {
    const x = sample([4, 5, 3], 1);
    const onGpu = x.gpu();
    expectEqual(onGpu.permute([2, 0, 1]), x.permute([2, 0, 1]), 'permute');
    expectEqual(onGpu.slice(1, 1, 5, 2), x.slice(1, 1, 5, 2), 'slice');
    expectEqual(onGpu.select(0, 2), x.select(0, 2), 'select');
    expectEqual(onGpu.select(2, 1).unsqueeze(0).expand([3, 4, 5]), x.select(2, 1).unsqueeze(0).expand([3, 4, 5]), 'expand');
    expectEqual(onGpu.T.contiguous(), x.T.contiguous(), 'contiguous');
    assert.equal(onGpu.sum().item(), x.sum().item());
  });

  it('full and zero-size tensors', () => {
    assert.deepEqual(full([2, 3], 2.5, { device: 'gpu' }).toArray(), [[2.5, 2.5, 2.5], [2.5, 2.5, 2.5]]);
    assert.deepEqual(full([2], -Infinity, { device: 'gpu' }).toArray(), [-Infinity, -Infinity]);
    const empty = zeros([0, 3], { device: 'gpu' });
    assert.deepEqual(empty.add(1).sum(0).toArray(), [0, 0, 0]);
    assert.equal(empty.toTypedArray().length, 0);
    assert.deepEqual(tensor([1, 2], { device: 'gpu' }).sum([]).toArray(), [1, 2]);
  });

  it('float64 is rejected with a fix', () => {
    assert.throws(() => sample([2], 1).double().gpu(), (e: unknown) => e instanceof DTypeError && /float64.*\.float\(\)/.test(e.message));
    assert.throws(() => full([2], 1, { device: 'gpu', dtype: 'float64' }), DTypeError);
  });

  it('integer arithmetic is exact below 2^24', () => {
    const a = tensor([16777215, -5, 7, 100000], { dtype: 'int32' });
    const b = tensor([1, 3, -7, 99], { dtype: 'int32' });
    expectEqual(a.gpu().add(b.gpu()), a.add(b), 'add');
    expectEqual(a.gpu().sub(b.gpu()), a.sub(b), 'sub');
    expectEqual(a.gpu().mul(2), a.mul(2).float(), 'mul by scalar');
  });

  it('cross-device ops name both devices', () => {
    assert.throws(() => tensor([1]).add(tensor([1], { device: 'gpu' })), (e: unknown) => e instanceof DeviceError && /'cpu' and 'gpu'/.test(e.message));
  });
});

describeGpu('gpu indexing kernels', () => {
  it('gather forward and backward', () => {
    fc.assert(
      fc.property(shapeOf(1, 3), fc.nat(2), viewKind, seed, (shape, dimChoice, kind, s) => {
        const dim = dimChoice % shape.length;
        const x = sample(baseShapeFor(shape, kind), s);
        // The index may be smaller than x outside dim and of any size along dim.
        const indexShape = shape.map((size, d) => (d === dim ? 1 + (s % 4) : Math.max(1, size - (s % 2))));
        const index = randomIndex(indexShape, shape[dim], s);
        checkForwardBackward('gather', (a) => gather(viewOf(a, shape, kind), dim, index.to(a.device)), [x], s);
      }),
      RUNS,
    );
  });

  it('scatterAdd forward and backward with repeated indices', () => {
    fc.assert(
      fc.property(shapeOf(1, 3), fc.nat(2), seed, (shape, dimChoice, s) => {
        const dim = dimChoice % shape.length;
        const indexShape = shape.map((size, d) => (d === dim ? 2 + (s % 5) : size));
        const index = randomIndex(indexShape, shape[dim], s);
        const x = sample(shape, s);
        // src may be larger than index; only its leading block is scattered.
        const src = sample(indexShape.map((size, d) => size + (d === 0 ? 1 : 0)), s + 1);
        checkForwardBackward('scatterAdd', (a, b) => scatterAdd(a, dim, index.to(a.device), b), [x, src], s);
      }),
      RUNS,
    );
  });

  it('indexSelect and indexAdd forward and backward', () => {
    fc.assert(
      fc.property(shapeOf(1, 3), fc.nat(2), fc.integer({ min: 1, max: 7 }), viewKind, seed, (shape, dimChoice, count, kind, s) => {
        const dim = dimChoice % shape.length;
        const index = randomIndex([count], shape[dim], s);
        const x = sample(baseShapeFor(shape, kind), s);
        checkForwardBackward('indexSelect', (a) => indexSelect(viewOf(a, shape, kind), dim, index.to(a.device)), [x], s);
        const srcShape = shape.map((size, d) => (d === dim ? count : size));
        checkForwardBackward('indexAdd', (a) => indexAdd(shape, dim, index.to(a.device), a), [sample(srcShape, s + 2)], s);
      }),
      RUNS,
    );
  });

  it('out-of-range indices raise the cpu error', () => {
    const x = sample([3, 4], 1).gpu();
    for (const run of [
      () => gather(x, 1, tensor([[4]], { dtype: 'int32', device: 'gpu' })),
      () => indexSelect(x, 0, tensor([0, -4], { dtype: 'int32', device: 'gpu' })),
      () => scatterAdd(x, 0, tensor([[3]], { dtype: 'int32', device: 'gpu' }), x),
      // An index computed on the device is read back for the check.
      () => indexSelect(x, 0, tensor([5, 1], { dtype: 'int32', device: 'gpu' }).add(0)),
    ]) {
      assert.throws(run, (e: unknown) => e instanceof IndexError && /out of range/.test(e.message));
    }
  });

  it('embedding lookup with a long index', () => {
    // 6000 tokens: the index is longer than a texture row and indexAdd loops over all of it.
    const table = sample([50, 4], 3);
    const tokens = randomIndex([6000], 50, 4);
    checkForwardBackward('embedding', (w) => indexSelect(w, 0, tokens.to(w.device)), [table], 5, { atol: 1e-4, rtol: 1e-4 });
  });
});

describeGpu('gpu cat and copy', () => {
  it('cat forward and backward along each dim', () => {
    fc.assert(
      fc.property(shapeOf(1, 3), fc.nat(2), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }), seed, (shape, dimChoice, sizes, s) => {
        const dim = dimChoice % shape.length;
        const parts = sizes.map((size, i) => sample(shape.map((extent, d) => (d === dim ? size : extent)), s + i));
        checkForwardBackward(`cat dim ${dim}`, (...xs) => cat(xs, dim), parts, s);
      }),
      RUNS,
    );
  });

  it('cat of more inputs than one kernel takes', () => {
    const parts = Array.from({ length: 19 }, (_, i) => sample([2, 1 + (i % 3)], i + 1));
    checkForwardBackward('cat of 19', (...xs) => cat(xs, 1), parts, 7);
    checkForwardBackward('stack of 19', (...xs) => stack(xs.map((x) => x.sum(1)), 0), parts, 8);
  });

  it('copy_ into views of a buffer', () => {
    fc.assert(
      fc.property(shapeOf(2, 3), seed, (shape, s) => {
        const cpu = sample(shape, s);
        const onGpu = cpu.gpu();
        // Write a broadcast row into every other column of the transposed view.
        const view = (t: Tensor) => t.transpose(0, shape.length - 1).slice(-1, 0, undefined, 2);
        const src = sample([view(cpu).shape[shape.length - 1]], s + 1);
        noGrad(() => {
          view(onGpu).copy_(src.gpu());
          view(cpu).copy_(src);
        });
        expectEqual(onGpu, cpu, 'copy_');
      }),
      RUNS,
    );
  });

  it('copy_ rejects an expanded destination', () => {
    const row = sample([1, 3], 1).gpu();
    assert.throws(() => noGrad(() => row.expand([4, 3]).copy_(full([4, 3], 1, { device: 'gpu' }))), DeviceError);
  });

  it('in-place updates are seen by every view', () => {
    const x = sample([3, 4], 2);
    const onGpu = x.gpu();
    const column = onGpu.select(1, 2);
    noGrad(() => {
      onGpu.mul_(3);
      onGpu.add_(1, 0.5);
      x.mul_(3);
      x.add_(1, 0.5);
    });
    expectClose(column, x.select(1, 2), FLOAT32, 'column view after update');
    assert.equal(onGpu.version, 2);
  });
});

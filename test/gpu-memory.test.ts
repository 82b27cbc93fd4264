import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';

import { DeviceError, Generator, Tensor, ValueError, gather, linear, noGrad, randint, tensor } from '../index.js';
import { dispose, keep, memoryInfo, tidy, transferCounts } from '../gpu/index.js';
import { describeGpu, sample } from './gpu-harness.js';

/**
 * Runs a full garbage collection and lets finalizers run, so that buffers leaked by earlier
 * tests are released before a count is taken instead of during it.
 */
async function collectGarbage(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
}

describeGpu('gpu memory', () => {
  it('tidy disposes intermediates and keeps the result', () => {
    const x = tensor([1, 2, 3], { device: 'gpu' });
    const before = memoryInfo().buffers;
    const total = tidy(() => x.mul(2).add(1).square().sum());
    assert.equal(memoryInfo().buffers, before + 1);
    assert.equal(total.item(), 9 + 25 + 49);
    dispose(total);
    assert.equal(memoryInfo().buffers, before);
  });

  it('tidy keeps arrays and objects of returned tensors', () => {
    const x = tensor([1, 2], { device: 'gpu' });
    const before = memoryInfo().buffers;
    const result = tidy(() => ({ doubled: x.mul(2), parts: [x.add(1), x.neg().mul(3).div(3)] }));
    assert.equal(memoryInfo().buffers, before + 3);
    assert.deepEqual(result.parts[1].toArray(), [-1, -2]);
    dispose([result.doubled, ...result.parts]);
    assert.equal(memoryInfo().buffers, before);
  });

  it('nested tidy hands its result to the outer scope', () => {
    const before = memoryInfo().buffers;
    tidy(() => {
      const inner = tidy(() => tensor([1, 2], { device: 'gpu' }).mul(3));
      assert.equal(memoryInfo().buffers, before + 1);
      assert.deepEqual(inner.toArray(), [3, 6]);
    });
    assert.equal(memoryInfo().buffers, before);
  });

  it('keep survives tidy until dispose', () => {
    const before = memoryInfo().buffers;
    let kept: Tensor | undefined;
    tidy(() => {
      kept = keep(tensor([4, 5], { device: 'gpu' }).add(1));
    });
    assert.equal(memoryInfo().buffers, before + 1);
    assert.deepEqual(kept?.toArray(), [5, 6]);
    dispose(kept);
    assert.equal(memoryInfo().buffers, before);
  });

  it('use after dispose names the cause', () => {
    const x = tensor([1, 2], { device: 'gpu' });
    const view = x.T;
    dispose(x);
    assert.throws(() => view.add(1), (e: unknown) => e instanceof DeviceError && /disposed.*tidy/.test(e.message));
    dispose(x);
  });

  it('tidy disposes everything when fn throws', () => {
    const before = memoryInfo().buffers;
    assert.throws(() => tidy(() => {
      tensor([1], { device: 'gpu' }).add(1);
      throw new RangeError('stop');
    }), RangeError);
    assert.equal(memoryInfo().buffers, before);
  });

  it('tidy rejects an async function', () => {
    assert.throws(() => tidy(async () => 1), ValueError);
  });

  it('bytes grow with the buffer size', () => {
    const before = memoryInfo().bytes;
    const big = tensor(new Float32Array(10000), { device: 'gpu' });
    assert.ok(memoryInfo().bytes - before >= 10000 * 4, `expected at least 40000 more bytes, got ${memoryInfo().bytes - before}`);
    dispose(big);
    assert.equal(memoryInfo().bytes, before);
  });

  it('a kernel fed its own disposed output stays correct', () => {
    // The same mul kernel takes its latest output as input, at two sizes, with an earlier
    // output disposed in between: the case where gpu.js would reuse a texture of the wrong size.
    const x = tensor([1, 2, 3, 4, 5], { device: 'gpu' }).mul(2);
    const y = x.mul(3);
    dispose(x);
    const c = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], { device: 'gpu' }).mul(2);
    const z = c.mul(y.sum());
    assert.deepEqual(z.toArray(), [180, 360, 540, 720, 900, 1080, 1260, 1440, 1620]);
    assert.deepEqual(y.toArray(), [6, 12, 18, 24, 30]);
    dispose([y, c, z]);
  });

  it('one kernel serves every shape of an op', () => {
    const add = (shape: number[]) => sample(shape, shape.length).gpu().add(sample(shape, 9).gpu()).toTypedArray();
    add([3]);
    const compiled = memoryInfo().kernels;
    // Contiguous operands of any shape merge to one dim, so these reuse the kernels compiled above.
    add([5, 4]);
    add([7, 1, 3]);
    add([4097]);
    assert.equal(memoryInfo().kernels, compiled);
  });

  it('a repeated matmul shape compiles nothing', () => {
    // In GL modes matmul compiles once per input size (see RunOptions.specializeInputSizes).
    const product = () => sample([3, 4], 1).gpu().matmul(sample([4, 5], 2).gpu()).toTypedArray();
    product();
    const compiled = memoryInfo().kernels;
    product();
    product();
    assert.equal(memoryInfo().kernels, compiled);
  });

  it('200 training steps in tidy keep memory flat', async () => {
    const generator = new Generator(5);
    const weight1 = sample([16, 8], 1, 0.3).gpu().requiresGrad_();
    const bias1 = sample([16], 2, 0.1).gpu().requiresGrad_();
    const weight2 = sample([4, 16], 3, 0.3).gpu().requiresGrad_();
    const inputs = sample([32, 8], 4).gpu();
    const labels = randint(0, 4, [32, 1], { generator }).gpu();
    const params = [weight1, bias1, weight2];
    await collectGarbage();

    const step = (): number => tidy(() => {
      const hidden = linear(inputs, weight1, bias1).tanh();
      const loss = gather(linear(hidden, weight2).logSoftmax(1), 1, labels).mean().neg();
      loss.backward();
      noGrad(() => {
        for (const p of params) {
          p.sub_((p.grad as Tensor).mul(0.5));
          p.grad = null;
        }
      });
      return loss.item();
    });

    const first = step();
    const baseline = memoryInfo();
    const readsBefore = transferCounts().readbacks;
    let last = first;
    for (let i = 1; i < 200; i++) {
      last = step();
      const now = memoryInfo();
      assert.equal(now.buffers, baseline.buffers, `step ${i}: ${now.buffers} live buffers, ${baseline.buffers} after the first step`);
      assert.equal(now.bytes, baseline.bytes, `step ${i}: ${now.bytes} live bytes, ${baseline.bytes} after the first step`);
      assert.equal(now.kernels, baseline.kernels, `step ${i}: kernels were compiled again`);
    }
    // One read per step: the loss value; the parameters never leave the device.
    assert.equal(transferCounts().readbacks - readsBefore, 199);
    assert.ok(last < first * 0.5, `training did not reduce the loss: ${first} -> ${last}`);
    dispose(params);
  });
});

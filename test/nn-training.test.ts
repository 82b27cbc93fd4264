/**
 * Training-level guarantees of nn. Seeded runs repeat bit for bit, and checkpoints restore every
 * tensor exactly and reject files that do not fit. A small ViT learns real MNIST digits, and a
 * run resumed from a checkpoint plus JSON optimizer state continues as if it never stopped.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { batches, loadMnist, splitDataset, subset, type Batch, type ImageDataset } from '../data/index.js';
import {
  type DType,
  Generator,
  SafetensorsError,
  type Tensor,
  crossEntropy,
  defaultGenerator,
  loadModel,
  loadTensors,
  manualSeed,
  nn,
  noGrad,
  randn,
  saveModel,
  tensor,
} from '../node.js';

// ---- helpers ------------------------------------------------------------------------------------

/** Builds a one-layer ViT on 16 patches of 7 × 7 pixels, small enough for a step to take milliseconds. */
function smallViT(seed: number, overrides: Partial<nn.ViTConfig> = {}): nn.ViT {
  return new nn.ViT({ patchSize: 7, dModel: 16, numHeads: 2, numLayers: 1, mlpRatio: 2, generator: new Generator(seed), ...overrides });
}

function smallGPT(seed: number, dtype: DType): nn.GPT {
  return new nn.GPT({ vocabSize: 11, blockSize: 8, dModel: 16, numHeads: 2, numLayers: 2, dtype, generator: new Generator(seed) });
}

function imagesOf(batch: Batch, dtype: DType = 'float32'): Tensor {
  return tensor(batch.images, { shape: [batch.labels.length, 28, 28] }).to(dtype);
}

function labelsOf(batch: Batch): Tensor {
  return tensor(batch.labels, { dtype: 'int32' });
}

/** Copies a tensor's values in row-major order as bytes, so equal bytes mean bit-identical values. */
function bytesOf(t: Tensor): Buffer {
  const values = t.toTypedArray();
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Asserts that two modules hold the same keys, and per key the same dtype, shape and bits. */
function assertSameState(actual: nn.Module, expected: nn.Module): void {
  const actualState = actual.stateDict();
  const expectedState = expected.stateDict();
  assert.deepEqual(Object.keys(actualState), Object.keys(expectedState));
  for (const [key, want] of Object.entries(expectedState)) {
    const got = actualState[key];
    assert.equal(got.dtype, want.dtype, `${key}: dtype`);
    assert.deepEqual(got.shape, want.shape, `${key}: shape`);
    assert.ok(bytesOf(got).equals(bytesOf(want)), `${key}: values differ`);
  }
}

function snapshotState(module: nn.Module): Map<string, Buffer> {
  return new Map(Object.entries(module.stateDict()).map(([key, t]) => [key, bytesOf(t)]));
}

/** Asserts that two loss curves are the same doubles, step by step (Object.is, so -0 and 0 differ). */
function assertSameCurve(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length, 'number of steps');
  actual.forEach((loss, step) => assert.ok(Object.is(loss, expected[step]), `step ${step}: loss ${loss}, expected ${expected[step]}`));
}

/** Runs one optimizer step on a batch and returns the loss before the update. */
function trainStep(model: nn.ViT, optimizer: nn.Optimizer, batch: Batch): number {
  const loss = crossEntropy(model.call(imagesOf(batch)), labelsOf(batch));
  optimizer.zeroGrad();
  loss.backward();
  optimizer.step();
  return loss.item();
}

function accuracy(model: nn.ViT, dataset: ImageDataset): number {
  model.eval();
  let correct = 0;
  noGrad(() => {
    for (const batch of batches(dataset, 250, 0)) {
      const predictions = model.call(imagesOf(batch)).argmax(1).toTypedArray();
      batch.labels.forEach((label, i) => {
        if (predictions[i] === label) correct++;
      });
    }
  });
  model.train();
  return correct / dataset.count;
}

function mean(values: number[]): number {
  return values.reduce((total, value) => total + value, 0) / values.length;
}

let mnistTrain: ImageDataset;
let mnistTest: ImageDataset;
let fewDigits: ImageDataset;
let directory: string;

before(async () => {
  // Held-out digits for the accuracy check, and 320 training digits (ten batches of 32) for the
  // short runs. The split is seeded, so every run of the suite uses the same digits.
  ({ train: mnistTrain, test: mnistTest } = splitDataset(loadMnist(), 500, 2024));
  fewDigits = subset(mnistTrain, Array.from({ length: 320 }, (_, i) => i));
  directory = await mkdtemp(join(tmpdir(), 'singlora-nn-training-'));
});

after(async () => {
  await rm(directory, { recursive: true, force: true });
});

// ---- seeded reproducibility ---------------------------------------------------------------------

describe('seeded training', () => {
  /**
   * Ten AdamW steps of a ViT with dropout. `seed` fixes the initial weights and the batch order,
   * `dropoutSeed` the global generator that draws the dropout masks.
   */
  function lossCurve(seed: number, dropoutSeed = seed): { losses: number[]; model: nn.ViT } {
    manualSeed(dropoutSeed);
    const model = smallViT(seed, { dropout: 0.1 });
    const optimizer = new nn.AdamW(model.parameters(), { lr: 3e-3 });
    const losses = [...batches(fewDigits, 32, seed)].map((batch) => trainStep(model, optimizer, batch));
    return { losses, model };
  }

  it('same seed repeats the loss curve bit for bit', () => {
    const first = lossCurve(3);
    const second = lossCurve(3);
    assert.equal(first.losses.length, 10);
    assertSameCurve(second.losses, first.losses);
    assertSameState(second.model, first.model);
  });

  it('the curve moves during the run', () => {
    const { losses } = lossCurve(3);
    assert.equal(new Set(losses).size, losses.length, `every step should give a new loss, got ${losses.join(', ')}`);
  });

  it('another seed gives another curve', () => {
    const first = lossCurve(3).losses;
    const other = lossCurve(4).losses;
    other.forEach((loss, step) => assert.notEqual(loss, first[step], `step ${step}: seeds 3 and 4 gave the same loss ${loss}`));
  });

  it('the global seed alone changes the dropout masks', () => {
    const first = lossCurve(3, 100).losses;
    const other = lossCurve(3, 101).losses;
    // Same weights and batches, so only dropout can make the first loss differ.
    assert.notEqual(other[0], first[0]);
  });
});

// ---- checkpoint round trips ---------------------------------------------------------------------

describe('saveModel and loadModel', () => {
  const cases = [
    { name: 'GPT', dtype: 'float32', build: (seed: number) => smallGPT(seed, 'float32') },
    { name: 'GPT', dtype: 'float64', build: (seed: number) => smallGPT(seed, 'float64') },
    { name: 'ViT', dtype: 'float32', build: (seed: number) => smallViT(seed, { dtype: 'float32' }) },
    { name: 'ViT', dtype: 'float64', build: (seed: number) => smallViT(seed, { dtype: 'float64' }) },
  ] as const;

  function inputFor(model: nn.Module, dtype: DType): Tensor {
    if (model instanceof nn.GPT) return tensor([[1, 5, 0, 10, 3], [7, 7, 2, 9, 4]], { dtype: 'int32' });
    return randn([3, 28, 28], { dtype, generator: new Generator(9) });
  }

  for (const { name, dtype, build } of cases) {
    it(`${name} ${dtype} round trip is bit-exact`, async () => {
      const path = join(directory, `${name}-${dtype}.safetensors`);
      const source = build(1);
      await saveModel(source, path, { model: name });

      const target = build(2);
      const before = snapshotState(target);
      const differing = Object.entries(source.stateDict()).filter(([key, t]) => !bytesOf(t).equals(before.get(key)!));
      assert.ok(differing.length > 0, 'seeds 1 and 2 should give different weights, or the test proves nothing');

      await loadModel(target, path);
      assertSameState(target, source);

      const input = inputFor(source, dtype);
      source.eval();
      target.eval();
      assert.ok(bytesOf(target.call(input)).equals(bytesOf(source.call(input))), 'outputs differ after loading');
    });
  }

  it('keeps the dtype in the file and the metadata', async () => {
    const path = join(directory, 'dtype.safetensors');
    await saveModel(smallViT(1, { dtype: 'float64' }), path, { epochs: '3', note: 'float64 ViT' });
    const { tensors, metadata } = await loadTensors(path);
    for (const [key, t] of Object.entries(tensors)) assert.equal(t.dtype, 'float64', key);
    assert.deepEqual(metadata, { epochs: '3', note: 'float64 ViT' });
  });

  it('rejects a model with fewer layers, listing the keys', async () => {
    const path = join(directory, 'two-layers.safetensors');
    const source = smallViT(1, { numLayers: 2 });
    await saveModel(source, path);
    const target = smallViT(2, { numLayers: 1 });
    const before = snapshotState(target);
    const extraKeys = Object.keys(source.stateDict()).filter((key) => key.startsWith('blocks.1.'));
    assert.ok(extraKeys.length > 0);

    await assert.rejects(loadModel(target, path), (error: unknown) => {
      assert.ok(error instanceof nn.StateDictError, `expected a StateDictError, got ${String(error)}`);
      assert.deepEqual([...error.unexpectedKeys].sort(), [...extraKeys].sort());
      assert.deepEqual(error.missingKeys, []);
      for (const key of extraKeys) assert.ok(error.message.includes(key), `the message should name ${key}:\n${error.message}`);
      return true;
    });
    assert.deepEqual(snapshotState(target), before, 'a failed load must leave the model unchanged');
  });

  it('rejects a wider model, listing the mis-shaped keys', async () => {
    const path = join(directory, 'narrow.safetensors');
    await saveModel(smallViT(1, { dModel: 16 }), path);
    const target = smallViT(2, { dModel: 24 });

    await assert.rejects(loadModel(target, path), (error: unknown) => {
      assert.ok(error instanceof nn.StateDictError, `expected a StateDictError, got ${String(error)}`);
      const clsToken = error.mismatchedKeys.find(({ key }) => key === 'cls_token');
      assert.deepEqual(clsToken, { key: 'cls_token', expected: [1, 1, 24], got: [1, 1, 16] });
      assert.match(error.message, /cls_token: expected \[1, 1, 24\], got \[1, 1, 16\]/);
      return true;
    });
  });

  describe('truncated checkpoint files', () => {
    let bytes: Buffer;
    let dataLength: number;
    let lastTensor: string;

    before(async () => {
      const path = join(directory, 'whole.safetensors');
      await saveModel(smallViT(1), path);
      bytes = await readFile(path);

      // Reads the header independently of the decoder: an 8-byte little-endian length, then JSON.
      const headerLength = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
      dataLength = bytes.length - 8 - headerLength;
      lastTensor = Object.keys(header).find((key) => key !== '__metadata__' && header[key].data_offsets[1] === dataLength)!;
      assert.ok(lastTensor !== undefined, 'some tensor must end at the end of the file');
    });

    async function loadCut(length: number): Promise<{ path: string; error: unknown }> {
      const path = join(directory, `cut-${length}.safetensors`);
      await writeFile(path, bytes.subarray(0, length));
      const target = smallViT(2);
      const before = snapshotState(target);
      let caught: unknown;
      await loadModel(target, path).catch((error: unknown) => {
        caught = error;
      });
      assert.deepEqual(snapshotState(target), before, 'a failed load must leave the model unchanged');
      return { path, error: caught };
    }

    it('inside the length prefix', async () => {
      const { path, error } = await loadCut(5);
      assert.ok(error instanceof SafetensorsError, `expected a SafetensorsError, got ${String(error)}`);
      assert.equal(error.code, 'file-too-small');
      assert.equal(error.path, path);
      assert.match(error.message, /5 bytes.*truncated/);
    });

    it('inside the header', async () => {
      const { path, error } = await loadCut(40);
      assert.ok(error instanceof SafetensorsError, `expected a SafetensorsError, got ${String(error)}`);
      assert.equal(error.code, 'header-length-out-of-range');
      assert.equal(error.path, path);
      assert.match(error.message, /only 32 bytes follow it; the file is truncated/);
    });

    it('inside the last tensor', async () => {
      const { path, error } = await loadCut(bytes.length - 4);
      assert.ok(error instanceof SafetensorsError, `expected a SafetensorsError, got ${String(error)}`);
      assert.equal(error.code, 'offsets-out-of-range');
      assert.equal(error.path, path);
      assert.equal(error.tensor, lastTensor);
      assert.ok(error.message.includes(`"${lastTensor}"`), error.message);
      assert.ok(error.message.includes(`only ${dataLength - 4} bytes`), error.message);
    });
  });
});

// ---- learning real digits -----------------------------------------------------------------------

describe('ViT on MNIST', function () {
  // 100 steps of a one-layer, 48-wide ViT take about 4 s of CPU time.
  this.timeout(60_000);

  it('loss falls and held-out accuracy beats chance', () => {
    manualSeed(0);
    const model = smallViT(5, { dModel: 48, numHeads: 4 });
    const optimizer = new nn.AdamW(model.parameters(), { lr: 3e-3 });
    const steps = 100;
    const scheduler = nn.warmupCosine(optimizer, 10, steps);

    const losses: number[] = [];
    for (const batch of batches(mnistTrain, 32, 5)) {
      losses.push(trainStep(model, optimizer, batch));
      scheduler.step();
      if (losses.length === steps) break;
    }

    // An untrained classifier is close to uniform over 10 classes, a loss near ln 10 ≈ 2.303.
    assert.ok(Math.abs(losses[0] - Math.log(10)) < 0.5, `first loss ${losses[0]} is far from ln 10`);
    const early = mean(losses.slice(0, 10));
    const late = mean(losses.slice(-10));
    assert.ok(late < 0.6 * early, `the mean loss of the last 10 steps (${late}) should be under 0.6 times that of the first 10 (${early})`);

    // Four seeds gave 0.62-0.69, and the margin down to 0.5 leaves room for rounding changes in the kernels.
    const heldOut = accuracy(model, mnistTest);
    assert.ok(heldOut > 0.5, `held-out accuracy ${heldOut} after ${steps} steps; chance is 0.1`);
  });
});

// ---- resuming from saved state ------------------------------------------------------------------

describe('resuming training', () => {
  let trainingBatches: Batch[];

  before(() => {
    trainingBatches = [...batches(fewDigits, 32, 8)];
  });

  function freshRun(seed: number): { model: nn.ViT; optimizer: nn.AdamW; scheduler: nn.LRScheduler } {
    const model = smallViT(seed, { dropout: 0.1 });
    const optimizer = new nn.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.05 });
    const scheduler = nn.warmupCosine(optimizer, 3, trainingBatches.length);
    return { model, optimizer, scheduler };
  }

  /** Runs the given batches and returns each step's loss and learning rate. */
  function runSteps(run: ReturnType<typeof freshRun>, stepBatches: Batch[]): { losses: number[]; lrs: number[] } {
    const losses: number[] = [];
    const lrs: number[] = [];
    for (const batch of stepBatches) {
      lrs.push(run.optimizer.paramGroups[0].lr);
      losses.push(trainStep(run.model, run.optimizer, batch));
      run.scheduler.step();
    }
    return { losses, lrs };
  }

  it('continues identically after a checkpoint and JSON state', async () => {
    const half = trainingBatches.length / 2;

    manualSeed(21);
    const uninterrupted = freshRun(1);
    const whole = runSteps(uninterrupted, trainingBatches);

    manualSeed(21);
    const interrupted = freshRun(1);
    runSteps(interrupted, trainingBatches.slice(0, half));
    const path = join(directory, 'resume.safetensors');
    await saveModel(interrupted.model, path);
    const optimizerJson = JSON.stringify(interrupted.optimizer.stateDict());
    const schedulerJson = JSON.stringify(interrupted.scheduler.stateDict());
    const generatorJson = JSON.stringify(defaultGenerator.getState());

    // A new process: other initial weights and another global seed, until the saved state is loaded.
    manualSeed(999);
    const resumed = freshRun(2);
    await loadModel(resumed.model, path);
    resumed.optimizer.loadStateDict(JSON.parse(optimizerJson));
    resumed.scheduler.loadStateDict(JSON.parse(schedulerJson));
    defaultGenerator.setState(JSON.parse(generatorJson));
    const rest = runSteps(resumed, trainingBatches.slice(half));

    assertSameCurve(rest.lrs, whole.lrs.slice(half));
    assertSameCurve(rest.losses, whole.losses.slice(half));
    assertSameState(resumed.model, uninterrupted.model);
  });

  it('diverges without the optimizer state', async () => {
    const half = trainingBatches.length / 2;

    manualSeed(21);
    const uninterrupted = freshRun(1);
    const whole = runSteps(uninterrupted, trainingBatches);

    // Same weights and dropout stream at the midpoint, but Adam's moments start from zero.
    manualSeed(21);
    const interrupted = freshRun(1);
    runSteps(interrupted, trainingBatches.slice(0, half));
    const generatorState = defaultGenerator.getState();
    const schedulerState = interrupted.scheduler.stateDict();

    const restarted = freshRun(2);
    restarted.model.loadStateDict(interrupted.model.stateDict());
    restarted.scheduler.loadStateDict(schedulerState);
    restarted.optimizer.paramGroups[0].lr = interrupted.optimizer.paramGroups[0].lr;
    defaultGenerator.setState(generatorState);
    const rest = runSteps(restarted, trainingBatches.slice(half));

    // The first resumed loss is computed before any update, so it matches. Later ones must not.
    assert.ok(Object.is(rest.losses[0], whole.losses[half]));
    rest.losses.slice(1).forEach((loss, i) => assert.notEqual(loss, whole.losses[half + 1 + i], `step ${half + 1 + i}`));
  });
});

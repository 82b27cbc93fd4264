import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { type BaseModelConfig, loadBaseModel } from '../cli/base-model.js';
import { defaultBasePath, sidecarPath } from '../cli/paths.js';
import { pretrainSplit, runPretrain } from '../cli/pretrain.js';
import { evaluate } from '../cli/training.js';
import { makeTempDir } from './cli-helpers.js';

const TINY_CONFIG: BaseModelConfig = {
  imageSize: 28,
  patchSize: 7,
  inChannels: 1,
  numClasses: 5,
  dModel: 8,
  numHeads: 2,
  numLayers: 1,
  mlpRatio: 2,
  dropout: 0,
};

describe('cli pretrain', function () {
  this.timeout(60_000);
  let directory: string;

  before(() => {
    directory = makeTempDir('pretrain');
  });

  after(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  function tinyRun(name: string, seed: number): Promise<unknown> {
    return runPretrain({
      out: join(directory, name),
      seed,
      epochs: 1,
      batchSize: 32,
      lr: 3e-3,
      weightDecay: 0.01,
      testFraction: 0.2,
      trainSize: 96,
      config: TINY_CONFIG,
      device: 'cpu',
      command: `test tiny seed ${seed}`,
    });
  }

  it('same seed gives identical bytes', async () => {
    await tinyRun('first.safetensors', 7);
    await tinyRun('second.safetensors', 7);
    const first = readFileSync(join(directory, 'first.safetensors'));
    const second = readFileSync(join(directory, 'second.safetensors'));
    assert.ok(first.length > 0);
    assert.ok(first.equals(second), 'checkpoint bytes differ between two runs with seed 7');
    const descriptions = ['first', 'second'].map((name) => {
      const { checkpoint: _name, ...rest } = JSON.parse(readFileSync(sidecarPath(join(directory, `${name}.safetensors`)), 'utf8')) as Record<string, unknown>;
      return rest;
    });
    assert.deepEqual(descriptions[0], descriptions[1]);
  });

  it('another seed gives other weights', async () => {
    await tinyRun('other-seed.safetensors', 8);
    const first = readFileSync(join(directory, 'first.safetensors'));
    const other = readFileSync(join(directory, 'other-seed.safetensors'));
    assert.ok(!first.equals(other), 'seeds 7 and 8 wrote the same file');
  });

  it('tiny checkpoint loads back', async () => {
    const { model, config, metadata } = await loadBaseModel(join(directory, 'first.safetensors'));
    assert.deepEqual(config, TINY_CONFIG);
    assert.equal(metadata['seed'], '7');
    assert.equal(model.numParameters(), JSON.parse(readFileSync(sidecarPath(join(directory, 'first.safetensors')), 'utf8')).parameters);
  });

  describe('committed base model', () => {
    const path = defaultBasePath();

    it('is small', () => {
      assert.ok(statSync(path).size < 1_000_000, `${path} has ${statSync(path).size} bytes`);
    });

    it('matches its description', () => {
      const description = JSON.parse(readFileSync(sidecarPath(path), 'utf8')) as { sha256: string };
      const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
      assert.equal(sha256, description.sha256);
    });

    it('reaches its recorded test accuracy', async () => {
      const { model, metadata } = await loadBaseModel(path);
      const split = JSON.parse(metadata['split']!) as { testFraction: number; seed: number };
      const { test } = pretrainSplit(split.seed, split.testFraction);

      const evaluation = evaluate(model, test, 256, 'cpu');
      const recorded = Number(metadata['test_accuracy']);
      // A kernel that rounds differently from the one used at pretraining time can flip an
      // example whose two top logits nearly tie, so allow two of the 1,026 test digits.
      const tolerance = 2 / test.count;
      assert.ok(evaluation.accuracy >= recorded - tolerance, `accuracy ${evaluation.accuracy} below the recorded ${recorded}`);
      // Chance is 20 % for five digits; anything this low would mean a broken checkpoint or split.
      assert.ok(evaluation.accuracy > 0.9, `accuracy ${evaluation.accuracy}`);
      assert.equal(test.count, 1026, 'the 20 % test split of the 5,131 digits 0-4');
    });
  });
});

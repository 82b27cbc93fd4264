/**
 * `singlora pretrain`: trains the small ViT base model on MNIST digits 0-4 and writes it as a
 * safetensors checkpoint with its config, seed, split and test accuracy in the metadata. Every
 * source of randomness is seeded and the file contains no timestamp, so the same options reproduce
 * the file bit for bit on the same Node version.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { type ImageDataset, filterByLabels, loadMnist, splitDataset, subset } from '../data/index.js';
import { Generator, type Device } from '../index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveModel } from '../io/checkpoint.js';
import { AdamW, warmupCosine } from '../nn/optim/index.js';
import { type BaseModelConfig, METADATA_KEYS, PRETRAIN_CLASSES, buildViT } from './base-model.js';
import { sidecarPath } from './paths.js';
import type { Progress } from './progress.js';
import { evaluate, trainEpoch } from './training.js';

export interface PretrainOptions {
  /** Path of the checkpoint to write. A `.json` description is written next to it. */
  out: string;
  seed: number;
  epochs: number;
  batchSize: number;
  /** Peak learning rate of AdamW, reached after a linear warmup over 5 % of the steps, then cosine decay. */
  lr: number;
  weightDecay: number;
  /** Share of the digits 0-4 held out as the test split. */
  testFraction: number;
  /** Use only the first `trainSize` training examples (after the seeded split); all when undefined. */
  trainSize?: number;
  config: BaseModelConfig;
  device: Device;
  /** The command line recorded in the metadata; it is part of the file, so keep it free of paths and times. */
  command: string;
  progress?: Progress;
}

export const PRETRAIN_DEFAULTS = {
  seed: 0,
  epochs: 8,
  batchSize: 64,
  lr: 3e-3,
  weightDecay: 0.01,
  testFraction: 0.2,
} as const;

export interface PretrainSplit {
  train: ImageDataset;
  test: ImageDataset;
}

/** Splits the `mnist` package's digits 0-4 into the seeded train and test sets that pretraining uses. */
export function pretrainSplit(seed: number, testFraction: number): PretrainSplit {
  const digits = filterByLabels(loadMnist(), PRETRAIN_CLASSES, true);
  return splitDataset(digits, testFraction, seed);
}

export interface PretrainResult {
  testAccuracy: number;
  testLoss: number;
  epochLosses: number[];
  trainCount: number;
  testCount: number;
  parameters: number;
  /** SHA-256 of the written checkpoint, hex. */
  sha256: string;
}

/** Trains the base model, evaluates it on the held-out split and writes checkpoint and description. */
export async function runPretrain(options: PretrainOptions): Promise<PretrainResult> {
  const split = pretrainSplit(options.seed, options.testFraction);
  const train = options.trainSize === undefined ? split.train : subset(split.train, range(Math.min(options.trainSize, split.train.count)));

  const model = buildViT(options.config, { generator: new Generator(options.seed) });
  if (options.device !== 'cpu') model.to(options.device);

  const stepsPerEpoch = Math.ceil(train.count / options.batchSize);
  const totalSteps = stepsPerEpoch * options.epochs;
  const optimizer = new AdamW(model.parameters(), { lr: options.lr, weightDecay: options.weightDecay });
  const scheduler = warmupCosine(optimizer, Math.max(1, Math.round(0.05 * totalSteps)), totalSteps);

  const progress = options.progress;
  progress?.startRun(0, `pretrain ViT on digits ${PRETRAIN_CLASSES.join(',')}`, totalSteps);
  const epochLosses: number[] = [];
  let stepsDone = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const result = await trainEpoch(model, optimizer, train, {
      batchSize: options.batchSize,
      seed: options.seed + epoch,
      device: options.device,
      afterStep: () => scheduler.step(),
      onStep: (loss) => progress?.step(0, ++stepsDone, loss),
    });
    if (result.diverged) {
      throw new Error(`pretrain: the training loss became ${result.meanLoss} in epoch ${epoch + 1}; lower --lr (now ${options.lr})`);
    }
    epochLosses.push(result.meanLoss);
    progress?.log(`epoch ${epoch + 1}/${options.epochs}: mean training loss ${result.meanLoss.toFixed(4)}`);
  }

  const evaluation = evaluate(model, split.test, 256, options.device);
  progress?.finishRun(0, `test accuracy ${(100 * evaluation.accuracy).toFixed(2)} % on ${split.test.count} digits`);

  if (options.device !== 'cpu') model.to('cpu');
  const metadata = {
    [METADATA_KEYS.config]: JSON.stringify(options.config),
    [METADATA_KEYS.classes]: JSON.stringify(PRETRAIN_CLASSES),
    [METADATA_KEYS.seed]: String(options.seed),
    split: JSON.stringify({ source: split.test.source.split(',')[0], testFraction: options.testFraction, seed: options.seed }),
    [METADATA_KEYS.testAccuracy]: String(evaluation.accuracy),
    [METADATA_KEYS.command]: options.command,
  };
  await saveModel(model, options.out, metadata);

  const sha256 = createHash('sha256').update(await readFile(options.out)).digest('hex');
  const result: PretrainResult = {
    testAccuracy: evaluation.accuracy,
    testLoss: evaluation.meanLoss,
    epochLosses,
    trainCount: train.count,
    testCount: split.test.count,
    parameters: model.numParameters(),
    sha256,
  };
  const description = {
    checkpoint: options.out.split('/').pop(),
    sha256,
    config: options.config,
    classes: PRETRAIN_CLASSES,
    seed: options.seed,
    split: { testFraction: options.testFraction, trainCount: train.count, testCount: split.test.count },
    training: { optimizer: 'AdamW', lr: options.lr, weightDecay: options.weightDecay, schedule: 'linear warmup 5 %, cosine', epochs: options.epochs, batchSize: options.batchSize },
    epochLosses,
    testAccuracy: evaluation.accuracy,
    testLoss: evaluation.meanLoss,
    parameters: result.parameters,
    command: options.command,
  };
  await writeFileAtomic(sidecarPath(options.out), JSON.stringify(description, null, 2) + '\n');
  return result;
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

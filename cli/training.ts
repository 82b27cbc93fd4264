/** The training and evaluation loops shared by `pretrain` and `finetune`. */
import { type Batch, type ImageDataset, batches } from '../data/index.js';
import { type Device, type Tensor, noGrad, tensor } from '../index.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../nn/optim/index.js';
import { crossEntropy } from '../ops/functional/index.js';

/** Any module mapping images (B, H, W) to logits (B, classes), such as the ViT. */
export interface ImageClassifier extends Module {
  forward(images: Tensor): Tensor;
}

export interface EpochOptions {
  batchSize: number;
  /** Shuffle seed of this epoch; pass a different one per epoch (e.g. seed + epoch). */
  seed: number;
  device: Device;
  /** Called after every optimizer step, for example to advance a learning-rate scheduler. */
  afterStep?: () => void;
  /** Called after every optimizer step (and afterStep) with the batch loss, for progress display. */
  onStep?: (loss: number) => void;
}

export interface EpochResult {
  /** Mean training loss over the examples seen this epoch. */
  meanLoss: number;
  steps: number;
  /** True when a batch loss was NaN or infinite; the epoch stops at that batch. */
  diverged: boolean;
}

/** Converts a batch to an image tensor (B, H, W) and an int32 label tensor (B) on `device`. */
export function batchTensors(batch: Batch, height: number, width: number, device: Device): { images: Tensor; labels: Tensor } {
  const count = batch.labels.length;
  const images = tensor(batch.images, { shape: [count, height, width], device });
  const labels = tensor(batch.labels, { shape: [count], dtype: 'int32', device });
  return { images, labels };
}

/**
 * Runs one epoch of mini-batch training with cross-entropy loss. It yields to the event loop
 * after every step, so timers (progress bars) and messages from other processes are handled
 * while a long epoch runs.
 */
export async function trainEpoch(model: ImageClassifier, optimizer: Optimizer, dataset: ImageDataset, options: EpochOptions): Promise<EpochResult> {
  model.train();
  let lossSum = 0;
  let seen = 0;
  let steps = 0;

  for (const batch of batches(dataset, options.batchSize, options.seed)) {
    const { images, labels } = batchTensors(batch, dataset.height, dataset.width, options.device);
    const loss = crossEntropy(model.call(images), labels);
    const value = loss.item();

    // A non-finite loss would turn every parameter into NaN on the next step, and later
    // batches could not recover, so the run stops here and is reported as diverged.
    if (!Number.isFinite(value)) {
      return { meanLoss: value, steps, diverged: true };
    }

    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    options.afterStep?.();
    steps += 1;

    lossSum += value * batch.labels.length;
    seen += batch.labels.length;
    options.onStep?.(value);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  return { meanLoss: lossSum / seen, steps, diverged: false };
}

export interface Evaluation {
  /** Share of examples whose highest logit is at the true label, in [0, 1]. */
  accuracy: number;
  meanLoss: number;
  correct: number;
  count: number;
}

/** Computes accuracy and mean cross-entropy over `dataset` in eval mode, without building a graph. */
export function evaluate(model: ImageClassifier, dataset: ImageDataset, batchSize: number, device: Device): Evaluation {
  model.eval();
  let correct = 0;
  let lossSum = 0;

  noGrad(() => {
    // The order does not matter for the totals; seed 0 just makes the batches reproducible.
    for (const batch of batches(dataset, batchSize, 0)) {
      const { images, labels } = batchTensors(batch, dataset.height, dataset.width, device);
      const logits = model.call(images);
      lossSum += crossEntropy(logits, labels, { reduction: 'sum' }).item();

      const predicted = logits.argmax(1).cpu().toTypedArray();
      for (let i = 0; i < batch.labels.length; i++) {
        if (predicted[i] === batch.labels[i]) correct += 1;
      }
    }
  });

  model.train();
  return { accuracy: correct / dataset.count, meanLoss: lossSum / dataset.count, correct, count: dataset.count };
}

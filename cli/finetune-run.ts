/**
 * One run of the sweep: one method at one learning rate. It rebuilds the base model from the
 * checkpoint's tensors, replaces the classification head, sets up the method, trains and tests.
 */
import { type AdaptedModel, injectAdapters, loraPlusParamGroups } from '../adapters/index.js';
import type { ImageDataset } from '../data/index.js';
import { type Device, Generator, type Tensor, noGrad, tensor } from '../index.js';
import { Linear } from '../nn/linear.js';
import { AdamW, type Optimizer } from '../nn/optim/index.js';
import { type BaseModelConfig, buildViT } from './base-model.js';
import { LORA_PLUS_RATIO, type MethodName, methodInfo } from './methods.js';
import { evaluate, trainEpoch } from './training.js';

/**
 * The layers every adapter method adapts: the four attention projections (square, dModel ×
 * dModel) and both MLP layers (fc1 widens, fc2 narrows), in every Transformer block.
 */
export const ADAPTER_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc1', 'fc2'];

/** Everything the runs of one sweep share. It crosses process boundaries, so it contains plain data only. */
export interface SweepContext {
  baseConfig: BaseModelConfig;
  /** The base checkpoint's tensors as typed arrays, keyed by state-dict name. */
  baseState: Record<string, { shape: number[]; data: Float32Array }>;
  train: ImageDataset;
  test: ImageDataset;
  numClasses: number;
  device: Device;
}

export interface RunSpec {
  /** Position in the sweep, for ordering results. */
  index: number;
  method: MethodName;
  lr: number;
  rank: number;
  alpha: number;
  /** SingLoRA ramp length T in optimizer steps (ignored by the other methods). */
  rampSteps: number;
  epochs: number;
  batchSize: number;
  seed: number;
}

export interface LayerUpdate {
  layer: string;
  /** ‖W − W0‖_F / ‖W0‖_F of the effective weight after training. */
  relativeChange: number;
}

export interface RunResult {
  spec: RunSpec;
  trainableParameters: number;
  /** Parameters the adapters add (the head and full fine-tuning excluded). */
  adapterParameters: number;
  totalParameters: number;
  /** Test accuracy in [0, 1]. */
  testAccuracy: number;
  testLoss: number;
  /** Mean training loss of each epoch. */
  epochLosses: number[];
  steps: number;
  /** True when the training loss became NaN or infinite; training stopped there. */
  diverged: boolean;
  /** Relative weight change of each adapted layer, a check for update blow-up. */
  layerUpdates: LayerUpdate[];
  seconds: number;
}

/** Optimizer steps one run takes: ceil(train count / batch size) per epoch. */
export function stepsPerRun(trainCount: number, batchSize: number, epochs: number): number {
  return Math.ceil(trainCount / batchSize) * epochs;
}

/** Trains and tests one method at one learning rate; `onStep` receives the steps done and the batch loss. */
export async function runOne(context: SweepContext, spec: RunSpec, onStep?: (stepsDone: number, loss: number) => void): Promise<RunResult> {
  const started = performance.now();
  const generator = new Generator(spec.seed);

  const model = buildViT(context.baseConfig);
  model.loadStateDict(baseTensors(context));
  // A fresh head for the new classes, drawn from the run's seed, so every method and learning
  // rate starts from the same head.
  model.head = new Linear(context.baseConfig.dModel, context.numClasses, { generator });
  if (context.device !== 'cpu') model.to(context.device);

  const { optimizer, adapted } = setUpMethod(model, spec, generator);

  const epochLosses: number[] = [];
  let steps = 0;
  let diverged = false;
  for (let epoch = 0; epoch < spec.epochs && !diverged; epoch++) {
    const result = await trainEpoch(model, optimizer, context.train, {
      batchSize: spec.batchSize,
      seed: spec.seed + epoch,
      device: context.device,
      onStep: (loss) => onStep?.(++steps, loss),
    });
    epochLosses.push(result.meanLoss);
    diverged = result.diverged;
  }

  const evaluation = evaluate(model, context.test, 256, context.device);
  const report = adapted?.report();
  return {
    spec,
    trainableParameters: report?.trainableParameters ?? model.numParameters({ trainableOnly: true }),
    adapterParameters: report?.adapterParameters ?? 0,
    totalParameters: model.numParameters(),
    testAccuracy: evaluation.accuracy,
    testLoss: evaluation.meanLoss,
    epochLosses,
    steps,
    diverged,
    layerUpdates: layerUpdates(model, context),
    seconds: (performance.now() - started) / 1000,
  };
}

interface MethodSetup {
  optimizer: Optimizer;
  adapted: AdaptedModel | null;
}

/**
 * Freezes what the method does not train and builds its optimizer. Every method uses AdamW
 * without weight decay and a constant learning rate, so the sweep varies one thing only.
 */
function setUpMethod(model: ReturnType<typeof buildViT>, spec: RunSpec, generator: Generator): MethodSetup {
  const info = methodInfo(spec.method);
  if (info.adapter === null) {
    model.requiresGrad_(true);
    return { optimizer: new AdamW(model.parameters(), { lr: spec.lr, weightDecay: 0 }), adapted: null };
  }

  const adapted = injectAdapters(model, {
    method: info.adapter,
    rank: spec.rank,
    alpha: spec.alpha,
    targets: ADAPTER_TARGETS,
    rampSteps: spec.rampSteps,
    generator,
  });
  // injectAdapters freezes the whole model; the new head must learn in every method.
  model.head.requiresGrad_(true);

  // AdamW rejects keys it does not know, so LoRA+'s groups pass on their parameters and lr only.
  const groups =
    spec.method === 'loraplus'
      ? loraPlusParamGroups(adapted, { lr: spec.lr, ratio: LORA_PLUS_RATIO }).map(({ params, lr }) => ({ params, lr }))
      : [{ params: adapted.trainableParameters(), lr: spec.lr }];
  const optimizer = new AdamW(groups, { lr: spec.lr, weightDecay: 0 });
  adapted.attachOptimizer(optimizer);
  return { optimizer, adapted };
}

function baseTensors(context: SweepContext): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(context.baseState).map(([name, { shape, data }]) => [name, tensor(data, { shape })]));
}

/** ‖W − W0‖_F / ‖W0‖_F for each adapted layer, reading the effective (parametrized) weight. */
function layerUpdates(model: ReturnType<typeof buildViT>, context: SweepContext): LayerUpdate[] {
  const updates: LayerUpdate[] = [];
  noGrad(() => {
    for (const [name, module] of model.namedModules()) {
      if (!ADAPTER_TARGETS.some((target) => name.endsWith(`.${target}`))) continue;
      const base = context.baseState[`${name}.weight`];
      if (base === undefined) continue;
      const weight = (module as Linear).weight.cpu().toTypedArray();
      let difference = 0;
      let norm = 0;
      for (let i = 0; i < base.data.length; i++) {
        difference += (weight[i]! - base.data[i]!) ** 2;
        norm += base.data[i]! ** 2;
      }
      updates.push({ layer: name, relativeChange: Math.sqrt(difference / norm) });
    }
  });
  return updates;
}

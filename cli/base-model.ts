/**
 * The small Vision Transformer that `pretrain` trains on MNIST digits 0-4 and `finetune` adapts,
 * and reading it back from its safetensors checkpoint.
 */
import { loadTensors } from '../io/checkpoint.js';
import { ViT, type ViTConfig } from '../nn/models/vit.js';

/**
 * The architecture of the committed base model. 28 × 28 images cut into 7 × 7 patches give 16
 * tokens plus a class token, and dModel 32 with mlpRatio 2 makes the MLP layers 32 -> 64 (fc1,
 * out > in) and 64 -> 32 (fc2, in > out), so both non-square SingLoRA cases occur. The size keeps
 * one training step on 64 images near 0.1 s on one CPU core, which is what lets the whole demo
 * sweep finish in a few minutes.
 */
export interface BaseModelConfig {
  imageSize: number;
  patchSize: number;
  inChannels: number;
  numClasses: number;
  dModel: number;
  numHeads: number;
  numLayers: number;
  mlpRatio: number;
  dropout: number;
}

export const BASE_MODEL_CONFIG: BaseModelConfig = {
  imageSize: 28,
  patchSize: 7,
  inChannels: 1,
  numClasses: 5,
  dModel: 32,
  numHeads: 4,
  numLayers: 2,
  mlpRatio: 2,
  dropout: 0,
};

/** The MNIST digits the base model is pretrained on; `finetune` adapts it to the other five. */
export const PRETRAIN_CLASSES = [0, 1, 2, 3, 4];

/** Safetensors metadata keys written by `pretrain` and read by `finetune`. */
export const METADATA_KEYS = {
  config: 'config',
  seed: 'seed',
  testAccuracy: 'test_accuracy',
  command: 'command',
  classes: 'classes',
} as const;

export function buildViT(config: BaseModelConfig, options: Pick<ViTConfig, 'generator'> = {}): ViT {
  return new ViT({ ...config, generator: options.generator });
}

export interface LoadedBaseModel {
  model: ViT;
  config: BaseModelConfig;
  metadata: Record<string, string>;
}

/** Error for a checkpoint that cannot serve as a base model (missing or malformed config). */
export class BaseModelError extends Error {
  override name = 'BaseModelError';
}

/**
 * Reads a checkpoint written by `pretrain`: builds a ViT from the config stored in its metadata
 * and loads every tensor strictly, so a file from another architecture is rejected by name.
 */
export async function loadBaseModel(path: string): Promise<LoadedBaseModel> {
  const { tensors, metadata } = await loadTensors(path);
  const config = parseConfig(path, metadata[METADATA_KEYS.config]);
  const model = buildViT(config);
  model.loadStateDict(tensors);
  return { model, config, metadata };
}

function parseConfig(path: string, text: string | undefined): BaseModelConfig {
  if (text === undefined) {
    throw new BaseModelError(
      `checkpoint ${path}: its metadata has no '${METADATA_KEYS.config}' entry describing the ViT; ` +
        'pass a checkpoint written by `singlora pretrain`',
    );
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new BaseModelError(`checkpoint ${path}: metadata '${METADATA_KEYS.config}' is not valid JSON: ${String(cause)}`);
  }

  const config = { ...BASE_MODEL_CONFIG };
  for (const key of Object.keys(BASE_MODEL_CONFIG) as (keyof BaseModelConfig)[]) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new BaseModelError(
        `checkpoint ${path}: metadata '${METADATA_KEYS.config}' has ${key} = ${JSON.stringify(value)}, expected a number; ` +
          'pass a checkpoint written by `singlora pretrain`',
      );
    }
    config[key] = value;
  }
  return config;
}

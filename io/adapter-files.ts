/**
 * Saving and loading adapters only: `adapter_model.safetensors` and `adapter_config.json` in one
 * folder, the layout PEFT's save_pretrained writes. Both files are written atomically.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ValueError } from '../core/errors.js';
import type { Module } from '../nn/module.js';
import { AdaptedModel, rejectAdaptedModel } from '../adapters/inject.js';
import { adapterConfigJson, adapterStateDict, configFromJson, loadAdapterStateDict } from '../adapters/serialization.js';
import { writeFileAtomic } from './atomic.js';
import { loadTensors, saveTensors } from './checkpoint.js';

export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';

/** Writes the adapter `name` (the active one by default) of `adapted` into `directory`. */
export async function saveAdapter(adapted: AdaptedModel, directory: string, name = adapted.activeAdapter ?? 'default'): Promise<void> {
  await mkdir(directory, { recursive: true });
  const config = adapterConfigJson(adapted, name);
  await saveTensors(join(directory, ADAPTER_WEIGHTS_FILE), adapterStateDict(adapted, name), { format: 'pt', singlora_step: String(adapted.clock.step) });
  await writeFileAtomic(join(directory, ADAPTER_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * Reads an adapter folder and adds it to `target` (a plain model, which gets wrapped, or an
 * AdaptedModel) under `name`, restoring the SingLoRA step clock. Returns the AdaptedModel.
 * Both files are read and parsed before the model changes. If the saved tensors do not fit the
 * model, a plain `target` is restored (adapter removed, requiresGrad flags as before).
 * NOTE: an AdaptedModel `target` keeps the new, unloaded adapter in that case, because an
 * adapter cannot yet be removed on its own. Load into a fresh model to retry.
 */
export async function loadAdapter(target: Module | AdaptedModel, directory: string, name = 'default'): Promise<AdaptedModel> {
  const configPath = join(directory, ADAPTER_CONFIG_FILE);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ValueError(`loadAdapter: cannot read ${configPath}: ${(error as Error).message}; the folder must contain ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE} as written by saveAdapter`);
  }
  const { step, ...config } = configFromJson(json, configPath);
  const { tensors } = await loadTensors(join(directory, ADAPTER_WEIGHTS_FILE));

  if (target instanceof AdaptedModel) {
    target.addAdapter(name, config);
    loadAdapterStateDict(target, tensors, name);
    target.clock.setStep(step);
    return target;
  }

  rejectAdaptedModel('loadAdapter', target);
  const trainable = target.parameters().map((param) => [param, param.requiresGrad] as const);
  const adapted = new AdaptedModel(target);
  adapted.addAdapter(name, config);
  try {
    loadAdapterStateDict(adapted, tensors, name);
  } catch (error) {
    adapted.unload();
    for (const [param, requiresGrad] of trainable) param.requiresGrad_(requiresGrad);
    throw error;
  }
  adapted.clock.setStep(step);
  return adapted;
}

/**
 * Adapter weights in PEFT's key layout, so a saved LoRA or DoRA adapter loads with PEFT and a
 * SingLoRA adapter can be rebuilt in PyTorch from its documented keys:
 *
 *   base_model.model.<module path>.lora_A.weight            LoRA/DoRA A, r x in
 *   base_model.model.<module path>.lora_B.weight            LoRA/DoRA B, out x r
 *   base_model.model.<module path>.lora_magnitude_vector    DoRA magnitude m, out
 *   base_model.model.<module path>.singlora_A.weight        SingLoRA A, max(in, out) x r
 *
 * For SingLoRA, ΔW = (lora_alpha / r) · u · A[:out] @ A[:in].T with u = min(step / ramp_steps, 1),
 * and `singlora_step` in adapter_config.json records the step at which the adapter was saved.
 */
import { ValueError, formatShape } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { sameShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import type { AdapterConfig } from './config.js';
import type { AdaptedModel } from './inject.js';

export const PEFT_PREFIX = 'base_model.model.';

/** Maps our parameter names to PEFT key suffixes. */
const KEY_SUFFIX: Record<string, string> = {
  lora_A: 'lora_A.weight',
  lora_B: 'lora_B.weight',
  lora_magnitude_vector: 'lora_magnitude_vector',
  singlora_A: 'singlora_A.weight',
};

/** Returns the tensors of one adapter under PEFT-style keys (detached, on their current device). */
export function adapterStateDict(adapted: AdaptedModel, name = adapted.activeAdapter ?? 'default'): Record<string, Tensor> {
  const state: Record<string, Tensor> = {};
  for (const [path, adapter] of adapted.adapters(name)) {
    for (const [param, value] of adapter.namedParameters()) {
      const suffix = KEY_SUFFIX[param];
      if (suffix === undefined) throw new ValueError(`adapterStateDict: no key layout for parameter '${param}' of ${path}`);
      state[`${PEFT_PREFIX}${path}.${suffix}`] = value.detach();
    }
  }
  return state;
}

/** Copies tensors saved by adapterStateDict into the adapter `name`, checking every key and shape first. */
export function loadAdapterStateDict(adapted: AdaptedModel, state: Record<string, Tensor>, name = adapted.activeAdapter ?? 'default'): void {
  const current = adapterStateDict(adapted, name);
  const missing = Object.keys(current).filter((key) => !(key in state));
  const unexpected = Object.keys(state).filter((key) => !(key in current));
  const misShaped = Object.keys(current)
    .filter((key) => key in state && !sameShape(state[key].shape, current[key].shape))
    .map((key) => `${key}: expected ${formatShape(current[key].shape)}, got ${formatShape(state[key].shape)}`);
  if (missing.length + unexpected.length + misShaped.length > 0) {
    throw new ValueError(
      `loadAdapterStateDict: the saved adapter does not fit adapter '${name}'.` +
        (missing.length ? `\n  missing keys: ${missing.join(', ')}` : '') +
        (unexpected.length ? `\n  unexpected keys: ${unexpected.join(', ')}` : '') +
        (misShaped.length ? `\n  mis-shaped keys: ${misShaped.join('; ')}` : '') +
        '\nCheck that the adapter was saved from the same model architecture with the same method, rank and targets.',
    );
  }
  noGrad(() => {
    for (const [key, target] of Object.entries(current)) target.copy_(state[key].to(target.dtype).to(target.device));
  });
}

/** Builds the adapter_config.json contents: PEFT's field names, plus SingLoRA's ramp fields. */
export function adapterConfigJson(adapted: AdaptedModel, name = adapted.activeAdapter ?? 'default'): Record<string, unknown> {
  const config = adapted.config(name);
  const method = config.method;
  return {
    peft_type: method === 'singlora' || method === 'singlora-dora' ? 'SINGLORA' : 'LORA',
    method,
    r: config.rank,
    lora_alpha: config.alpha ?? config.rank,
    lora_dropout: config.dropout ?? 0,
    use_rslora: config.useRslora ?? method === 'rslora',
    use_dora: method === 'dora' || method === 'singlora-dora',
    target_modules: [...adapted.adapters(name).keys()],
    bias: 'none',
    fan_in_fan_out: false,
    ramp_steps: config.rampSteps ?? 0,
    singlora_init: config.init ?? 'uniform',
    singlora_step: adapted.clock.step,
    library: 'singlora',
  };
}

/** Rebuilds an AdapterConfig from adapter_config.json, validating the fields it reads. */
export function configFromJson(json: Record<string, unknown>, source: string): AdapterConfig & { step: number } {
  const method = json.method ?? (json.use_dora ? 'dora' : json.use_rslora ? 'rslora' : 'lora');
  const rank = json.r;
  const targets = json.target_modules;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank <= 0) throw new ValueError(`${source}: 'r' must be a positive integer, got ${JSON.stringify(rank)}`);
  if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string')) {
    throw new ValueError(`${source}: 'target_modules' must be a list of module names, got ${JSON.stringify(targets)}`);
  }
  return {
    method: method as AdapterConfig['method'],
    rank,
    alpha: typeof json.lora_alpha === 'number' ? json.lora_alpha : rank,
    dropout: typeof json.lora_dropout === 'number' ? json.lora_dropout : 0,
    useRslora: json.use_rslora === true,
    rampSteps: typeof json.ramp_steps === 'number' ? json.ramp_steps : 0,
    init: (json.singlora_init as AdapterConfig['init']) ?? 'uniform',
    // Names match a module path exactly or as its last dotted parts, as PEFT's target_modules do,
    // so both our full paths and PEFT's short names ('q_proj') load.
    targets: targets as string[],
    step: typeof json.singlora_step === 'number' ? json.singlora_step : 0,
  };
}

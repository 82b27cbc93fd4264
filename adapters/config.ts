/** Adapter configuration: which method, its hyperparameters, and which modules it targets. */
import { ValueError } from '../core/errors.js';
import type { Generator } from '../core/random.js';
import type { SingLoRAInit } from './singlora.js';

export type AdapterMethod = 'lora' | 'rslora' | 'dora' | 'singlora' | 'singlora-dora';

export const ADAPTER_METHODS: readonly AdapterMethod[] = ['lora', 'rslora', 'dora', 'singlora', 'singlora-dora'];

export interface AdapterConfig {
  method: AdapterMethod;
  rank: number;
  /** Scale numerator: ΔW is multiplied by alpha / rank (alpha / √rank for rsLoRA). Defaults to rank. */
  alpha?: number;
  /**
   * Module names to adapt: a string matches a module whose dotted name equals it or ends with
   * `.` + it (so 'q_proj' matches every layer's q_proj); a RegExp must match the whole name.
   */
  targets: (string | RegExp)[];
  /** SingLoRA ramp length T in optimizer steps; u(t) = min(t/T, 1). 0 disables the ramp. */
  rampSteps?: number;
  /** Dropout on the adapter branch's input. */
  dropout?: number;
  /** Scale by alpha / √rank; implied by method 'rslora'. */
  useRslora?: boolean;
  /** Initialisation of SingLoRA's A (see SingLoRAInit). */
  init?: SingLoRAInit;
  generator?: Generator;
}

export function validateConfig(config: AdapterConfig): void {
  if (!ADAPTER_METHODS.includes(config.method)) {
    throw new ValueError(`injectAdapters: unknown method '${String(config.method)}'; expected one of ${ADAPTER_METHODS.join(', ')}`);
  }
  if (!Number.isInteger(config.rank) || config.rank <= 0) {
    throw new ValueError(`injectAdapters: rank must be a positive integer, got ${config.rank}`);
  }
  if (config.alpha !== undefined && !Number.isFinite(config.alpha)) {
    throw new ValueError(`injectAdapters: alpha must be a finite number, got ${config.alpha}`);
  }
  if (!Array.isArray(config.targets) || config.targets.length === 0) {
    throw new ValueError("injectAdapters: targets must list at least one module name or RegExp, e.g. ['q_proj', 'v_proj']");
  }
}

/** True when the dotted module name is selected by one of the targets. */
export function matchesTarget(name: string, targets: readonly (string | RegExp)[]): boolean {
  return targets.some((target) => {
    if (typeof target === 'string') return name === target || name.endsWith(`.${target}`);
    const anchored = new RegExp(`^(?:${target.source})$`, target.flags.replace('g', ''));
    return anchored.test(name);
  });
}

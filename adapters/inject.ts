/**
 * The PEFT-like front end: `injectAdapters(model, config)` freezes the base model, puts an
 * adapter parametrization on the weight of every targeted Linear or Embedding, and returns an
 * `AdaptedModel` that manages named adapters (add, switch, enable, disable, merge, unload) and
 * the shared step clock of SingLoRA's ramp.
 */
import { ValueError } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import type { Tensor } from '../core/tensor.js';
import { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { AdapterClock } from './clock.js';
import { type AdapterConfig, matchesTarget, validateConfig } from './config.js';
import { DoRA, SingLoRADoRA } from './dora.js';
import { LoRA } from './lora.js';
import type { LowRankAdapter } from './low-rank.js';
import { type ParametrizationDict, getParametrizations, isParametrized, parametrize, removeParametrization } from './parametrize.js';
import { SingLoRA } from './singlora.js';

/** Summary of an injection: the adapted modules and the trainable share of the model. */
export interface AdapterReport {
  adapterName: string;
  method: AdapterConfig['method'];
  targetedModules: string[];
  /** Parameters this adapter adds. */
  adapterParameters: number;
  /** Parameters with requiresGrad across the whole model (all adapters, plus any unfrozen head). */
  trainableParameters: number;
  /** All parameters of the model, frozen base included. */
  totalParameters: number;
  /** trainableParameters / totalParameters. */
  trainableShare: number;
}

/** Any object with the optimizer step hook (see nn/optim). */
interface SteppingOptimizer {
  onStep(callback: () => void): unknown;
}

interface AdaptableModule extends Module {
  weight: Tensor;
}

/**
 * Returns the module's base weight W0, which is the original tensor once an earlier adapter has
 * parametrized the weight. A new adapter (DoRA's magnitude included) must start from W0, not
 * from W0 plus another adapter's update, and reading the original skips computing that update.
 */
function baseWeight(module: Module): Tensor | null {
  const list = (module as Module & { parametrizations?: ParametrizationDict }).parametrizations?.get('weight');
  if (list !== undefined) return list.original;
  return (module as unknown as Partial<AdaptableModule>).weight ?? null;
}

function weightShape(module: Module): [number, number] | null {
  const weight = baseWeight(module);
  if (weight === null || weight.ndim !== 2) return null;
  return [weight.shape[0], weight.shape[1]];
}

function buildAdapter(config: AdapterConfig, weight: Tensor, clock: AdapterClock): LowRankAdapter {
  const [outFeatures, inFeatures] = weight.shape;
  const common = {
    rank: config.rank,
    alpha: config.alpha,
    dropout: config.dropout,
    useRslora: config.useRslora ?? config.method === 'rslora',
    generator: config.generator,
    dtype: weight.dtype,
  };
  const singlora = { ...common, rampSteps: config.rampSteps ?? 0, clock, init: config.init };
  switch (config.method) {
    case 'lora':
    case 'rslora':
      return new LoRA(outFeatures, inFeatures, common);
    case 'dora':
      return new DoRA(weight, common);
    case 'singlora':
      return new SingLoRA(outFeatures, inFeatures, singlora);
    case 'singlora-dora':
      return new SingLoRADoRA(weight, singlora);
  }
}

export class AdaptedModel {
  readonly model: Module;
  /** Completed optimizer steps; drives SingLoRA's ramp for every adapter of this model. */
  readonly clock = new AdapterClock();
  private readonly configs = new Map<string, AdapterConfig>();
  /** adapter name -> module path -> adapter */
  private readonly layers = new Map<string, Map<string, LowRankAdapter>>();
  /** module path -> copy of the base weight taken at merge time, for an exact unmerge. */
  private readonly mergedBase = new Map<string, Tensor>();
  private activeName: string | null = null;
  private readonly attached = new WeakSet<object>();

  constructor(model: Module) {
    this.model = model;
  }

  /** Adds a named adapter on the targeted modules and makes it the active one. */
  addAdapter(name: string, config: AdapterConfig): AdapterReport {
    validateConfig(config);
    if (this.layers.has(name)) throw new ValueError(`addAdapter: an adapter named '${name}' already exists (adapters: ${this.adapterNames.join(', ')}); choose another name`);
    if (this.mergedBase.size > 0) throw new ValueError(`addAdapter: adapters are merged into the base weights; call unmerge() before adding '${name}'`);

    const targets = this.model.namedModules().filter(([path, module]) => path !== '' && matchesTarget(path, config.targets) && weightShape(module) !== null);
    if (targets.length === 0) {
      const candidates = this.model.namedModules().filter(([path, module]) => path !== '' && weightShape(module) !== null).map(([path]) => path);
      throw new ValueError(
        `addAdapter: no module with a 2-D weight matches targets ${config.targets.map(String).join(', ')}; modules that can be adapted: ${candidates.slice(0, 12).join(', ')}${candidates.length > 12 ? ', ...' : ''}`,
      );
    }

    // Build every adapter before changing the model, so an invalid option leaves it untouched.
    const adapters = new Map<string, LowRankAdapter>();
    for (const [path, module] of targets) {
      const weight = baseWeight(module)!.detach();
      // Adapters are created on the CPU; they must live where the weight they adapt lives.
      adapters.set(path, noGrad(() => buildAdapter(config, weight.cpu(), this.clock)).to(weight.device));
    }
    if (this.layers.size === 0) this.model.requiresGrad_(false);
    for (const [path, module] of targets) parametrize(module, 'weight', adapters.get(path)!, { unsafe: true });
    this.layers.set(name, adapters);
    this.configs.set(name, { ...config });
    this.setAdapter(name);
    return this.report(name);
  }

  /** Names of all adapters, in the order they were added. */
  get adapterNames(): string[] {
    return [...this.layers.keys()];
  }

  get activeAdapter(): string | null {
    return this.activeName;
  }

  config(name = this.requireActive()): AdapterConfig {
    const config = this.configs.get(name);
    if (config === undefined) throw new ValueError(`no adapter named '${name}'; adapters: ${this.adapterNames.join(', ') || 'none'}`);
    return config;
  }

  /** Returns the adapter modules of one adapter name, keyed by the adapted module's path. */
  adapters(name = this.requireActive()): Map<string, LowRankAdapter> {
    this.config(name);
    return this.layers.get(name)!;
  }

  /**
   * Makes `name` the only enabled and trainable adapter. Merged adapters are unmerged first (as
   * PEFT does), since the merged weight would otherwise keep the previous adapter's update.
   */
  setAdapter(name: string): void {
    this.config(name);
    if (this.isMerged) this.unmerge();
    for (const [adapterName, adapters] of this.layers) {
      for (const adapter of adapters.values()) {
        adapter.enabled = adapterName === name;
        adapter.requiresGrad_(adapterName === name);
      }
    }
    this.activeName = name;
  }

  /** Turns every adapter off, unmerging first, so the model computes with its base weights. */
  disableAdapters(): void {
    if (this.isMerged) this.unmerge();
    for (const adapters of this.layers.values()) for (const adapter of adapters.values()) adapter.enabled = false;
  }

  /** Turns the active adapter back on after disableAdapters(). */
  enableAdapters(): void {
    this.setAdapter(this.requireActive());
  }

  /** Runs `fn` with all adapters off, then re-enables those that were on (merged ones stay unmerged). */
  withAdaptersDisabled<T>(fn: () => T): T {
    const states = this.allAdapters().map((adapter) => [adapter, adapter.enabled] as const);
    this.disableAdapters();
    try {
      return fn();
    } finally {
      for (const [adapter, enabled] of states) adapter.enabled = enabled;
    }
  }

  /** Parameters that require grad: the active adapter's (and any layer the user unfroze). */
  trainableParameters(): Parameter[] {
    return this.model.parameters().filter((p) => p.requiresGrad);
  }

  /** Named parameters of one adapter, with their module paths. */
  namedAdapterParameters(name = this.requireActive()): [string, Parameter][] {
    const result: [string, Parameter][] = [];
    for (const [path, adapter] of this.adapters(name)) {
      for (const [param, value] of adapter.namedParameters()) result.push([`${path}.${param}`, value]);
    }
    return result;
  }

  report(name = this.requireActive()): AdapterReport {
    const adapters = this.adapters(name);
    const total = this.model.numParameters();
    const trainable = this.model.numParameters({ trainableOnly: true });
    return {
      adapterName: name,
      method: this.config(name).method,
      targetedModules: [...adapters.keys()],
      adapterParameters: [...adapters.values()].reduce((n, a) => n + a.adapterParameterCount, 0),
      trainableParameters: trainable,
      totalParameters: total,
      trainableShare: total === 0 ? 0 : trainable / total,
    };
  }

  /** Advances the ramp clock after every `optimizer.step()`. */
  attachOptimizer(optimizer: SteppingOptimizer): void {
    if (typeof optimizer?.onStep !== 'function') {
      throw new ValueError('attachOptimizer: expected an optimizer with an onStep(callback) method, such as nn.AdamW');
    }
    // Attaching twice would advance the ramp twice per step.
    if (this.attached.has(optimizer)) return;
    this.attached.add(optimizer);
    optimizer.onStep(() => this.clock.advance());
  }

  /**
   * Adds the enabled adapters' current update into each base weight (for inference without the
   * adapter branch). The base weights are copied first, so unmerge() restores them bit-exactly
   * even if the ramp has moved since.
   */
  merge(): void {
    noGrad(() => {
      for (const [path, module] of this.adaptedModules()) {
        if (this.mergedBase.has(path)) continue;
        const list = (module as unknown as { parametrizations: { get(n: string): { original: Parameter; forward(): Tensor } } }).parametrizations.get('weight');
        const original = list.original;
        const merged = list.forward().contiguous();
        this.mergedBase.set(path, original.clone());
        original.copy_(merged);
        for (const adapter of getParametrizations(module, 'weight') as LowRankAdapter[]) if (adapter.enabled) adapter.merged = true;
      }
    });
  }

  /** Restores the base weights saved by merge() and re-activates the adapter branches. */
  unmerge(): void {
    noGrad(() => {
      for (const [path, module] of this.adaptedModules()) {
        const base = this.mergedBase.get(path);
        if (base === undefined) continue;
        const list = (module as unknown as { parametrizations: { get(n: string): { original: Parameter } } }).parametrizations.get('weight');
        list.original.copy_(base);
        for (const adapter of getParametrizations(module, 'weight') as LowRankAdapter[]) adapter.merged = false;
      }
    });
    this.mergedBase.clear();
  }

  get isMerged(): boolean {
    return this.mergedBase.size > 0;
  }

  /**
   * Bakes the enabled adapters into the base weights, removes every adapter, and returns the
   * plain model (its weights are again ordinary Parameters, still frozen).
   */
  mergeAndUnload(): Module {
    return this.removeAdapters(true);
  }

  /** Removes every adapter and restores the original base weights. */
  unload(): Module {
    return this.removeAdapters(false);
  }

  /** Removes every parametrization, keeping its current value (`merge`) or the original weight. */
  private removeAdapters(merge: boolean): Module {
    if (this.mergedBase.size > 0) this.unmerge();
    for (const [, module] of this.adaptedModules()) removeParametrization(module, 'weight', { merge });
    this.layers.clear();
    this.configs.clear();
    this.activeName = null;
    return this.model;
  }

  private adaptedModules(): [string, Module][] {
    const paths = new Set<string>();
    for (const adapters of this.layers.values()) for (const path of adapters.keys()) paths.add(path);
    return [...paths].map((path) => [path, this.model.getSubmodule(path)]);
  }

  private allAdapters(): LowRankAdapter[] {
    return [...this.layers.values()].flatMap((adapters) => [...adapters.values()]);
  }

  private requireActive(): string {
    if (this.activeName === null) throw new ValueError('no adapter is active; add one with addAdapter(name, config)');
    return this.activeName;
  }
}

/**
 * Throws when `model` already carries adapters: a second AdaptedModel would freeze the first
 * one's parameters and stack a second update silently.
 */
export function rejectAdaptedModel(op: string, model: Module): void {
  const adapted = model.namedModules().some(([, module]) => isParametrized(module, 'weight'));
  if (adapted) {
    throw new ValueError(
      `${op}: the model already has adapters; add more with adapted.addAdapter(name, config) on the AdaptedModel that injected them, or call its unload() / mergeAndUnload() first`,
    );
  }
}

/**
 * Freezes `model`, adds one adapter (named 'default' unless `adapterName` is given) on every
 * module that `config.targets` selects, and returns the AdaptedModel that manages it.
 */
export function injectAdapters(model: Module, config: AdapterConfig & { adapterName?: string }): AdaptedModel {
  rejectAdaptedModel('injectAdapters', model);
  const adapted = new AdaptedModel(model);
  const { adapterName = 'default', ...rest } = config;
  adapted.addAdapter(adapterName, rest);
  return adapted;
}


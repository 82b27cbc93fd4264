/**
 * Learning-rate schedulers, as in `torch.optim.lr_scheduler`. A scheduler sets each parameter
 * group's `lr` from a closed-form function of the epoch (the number of `step()` calls since
 * the scheduler was made) and the group's base learning rate. Call `scheduler.step()` after
 * `optimizer.step()`.
 *
 * The base learning rate is the group's `initialLr`, which the first scheduler on an optimizer
 * copies from `lr`, so later schedulers on the same optimizer (for example the parts of a
 * SequentialLR) share one base, as PyTorch's `initial_lr` does. PyTorch computes most schedules
 * recursively from the previous lr; the closed forms here give the same sequences up to
 * floating-point rounding.
 */
import { ValueError } from '../../index.js';
import type { Optimizer } from './optimizer.js';

/** The learning rate of group `groupIndex` at `epoch`, given its base learning rate. */
export type LrFormula = (epoch: number, baseLr: number, groupIndex: number) => number;

export interface LRSchedulerStateDict {
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
}

/**
 * A scheduler driven by a formula. The subclasses below pass their closed forms; pass your own
 * formula for a custom schedule. Constructing it sets the learning rates for epoch 0.
 */
export class LRScheduler {
  readonly optimizer: Optimizer;
  /** Each group's base learning rate (its initialLr). */
  baseLrs: number[];
  /** The epoch of the current learning rates: 0 after construction, +1 per step(). */
  lastEpoch = -1;

  private lastLr: number[] = [];
  private readonly formula: LrFormula;

  constructor(optimizer: Optimizer, formula: LrFormula) {
    this.optimizer = optimizer;
    this.formula = formula;
    for (const group of optimizer.paramGroups) group.initialLr ??= group.lr;
    this.baseLrs = optimizer.paramGroups.map((group) => group.initialLr as number);
    this.step();
  }

  /** Returns each group's learning rate at `epoch`, without changing the optimizer. */
  lrAt(epoch: number): number[] {
    return this.baseLrs.map((baseLr, i) => this.formula(epoch, baseLr, i));
  }

  /** Advances one epoch and writes the new learning rates into the optimizer's groups. */
  step(): void {
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.baseLrs.length) {
      throw new ValueError(
        `${this.constructor.name}.step: the optimizer has ${groups.length} parameter groups but the scheduler was made with ${this.baseLrs.length}; create the scheduler after adding every group`,
      );
    }
    this.lastEpoch++;
    this.lastLr = this.lrAt(this.lastEpoch);
    groups.forEach((group, i) => {
      group.lr = this.lastLr[i];
    });
  }

  /** Returns the learning rates set by the latest step (or by construction). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): LRSchedulerStateDict {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  /**
   * Restores the epoch and base learning rates. As in PyTorch, the optimizer's `lr` values are
   * not written here: they come back with the optimizer's own state dict.
   */
  loadStateDict(saved: LRSchedulerStateDict): void {
    const op = `${this.constructor.name}.loadStateDict`;
    if (typeof saved !== 'object' || saved === null) throw new ValueError(`${op}: expected an object as written by stateDict(), got ${String(saved)}`);
    if (!Number.isInteger(saved.lastEpoch) || saved.lastEpoch < 0) {
      throw new ValueError(`${op}: lastEpoch must be a non-negative integer, got ${String(saved.lastEpoch)}`);
    }
    const groupCount = this.optimizer.paramGroups.length;
    for (const key of ['baseLrs', 'lastLr'] as const) {
      const values: unknown = saved[key];
      if (!Array.isArray(values) || values.length !== groupCount || !values.every((value) => typeof value === 'number' && Number.isFinite(value))) {
        throw new ValueError(`${op}: ${key} must contain one finite number per parameter group (${groupCount}), got ${JSON.stringify(values)}`);
      }
    }
    this.lastEpoch = saved.lastEpoch;
    this.baseLrs = [...saved.baseLrs];
    this.lastLr = [...saved.lastLr];
  }
}

/** lr = base · lrLambda(epoch), with one function for all groups or one per group. */
export class LambdaLR extends LRScheduler {
  constructor(optimizer: Optimizer, lrLambda: ((epoch: number) => number) | ReadonlyArray<(epoch: number) => number>) {
    const lambdas = Array.isArray(lrLambda) ? [...lrLambda] : optimizer.paramGroups.map(() => lrLambda as (epoch: number) => number);
    if (lambdas.length !== optimizer.paramGroups.length) {
      throw new ValueError(`LambdaLR: got ${lambdas.length} lrLambda functions for ${optimizer.paramGroups.length} parameter groups; pass one function, or one per group`);
    }
    super(optimizer, (epoch, baseLr, i) => baseLr * lambdas[i](epoch));
  }
}

/** lr = base · gamma^floor(epoch / stepSize): decays by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer, stepSize: number, gamma = 0.1) {
    checkPositiveInteger('StepLR', 'stepSize', stepSize);
    checkFinite('StepLR', 'gamma', gamma);
    super(optimizer, (epoch, baseLr) => baseLr * gamma ** Math.floor(epoch / stepSize));
  }
}

/**
 * lr = base · (startFactor + (endFactor − startFactor) · min(epoch, totalIters) / totalIters):
 * moves the factor linearly from startFactor to endFactor over totalIters epochs, then keeps it.
 */
export class LinearLR extends LRScheduler {
  constructor(optimizer: Optimizer, { startFactor = 1 / 3, endFactor = 1, totalIters = 5 }: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    // A zero start factor would make the first step a no-op; PyTorch rejects it too.
    if (!(startFactor > 0 && startFactor <= 1)) throw new ValueError(`LinearLR: startFactor must be in (0, 1], got ${startFactor}`);
    if (!(endFactor >= 0 && endFactor <= 1)) throw new ValueError(`LinearLR: endFactor must be in [0, 1], got ${endFactor}`);
    checkPositiveInteger('LinearLR', 'totalIters', totalIters);
    super(optimizer, (epoch, baseLr) => baseLr * (startFactor + ((endFactor - startFactor) * Math.min(epoch, totalIters)) / totalIters));
  }
}

/**
 * lr = etaMin + (base − etaMin) · (1 + cos(π · epoch / tMax)) / 2: half a cosine from base at
 * epoch 0 down to etaMin at epoch tMax. Past tMax it rises again, as PyTorch's does.
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer, tMax: number, etaMin = 0) {
    checkPositiveInteger('CosineAnnealingLR', 'tMax', tMax);
    checkFinite('CosineAnnealingLR', 'etaMin', etaMin);
    super(optimizer, (epoch, baseLr) => etaMin + ((baseLr - etaMin) * (1 + Math.cos((Math.PI * epoch) / tMax))) / 2);
  }
}

/**
 * Runs `schedulers[0]` until epoch milestones[0], then `schedulers[1]` restarted at its epoch 0,
 * and so on. Step only the SequentialLR: the schedulers given to it supply formulas and are not
 * stepped themselves.
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: readonly LRScheduler[];
  readonly milestones: readonly number[];

  constructor(optimizer: Optimizer, schedulers: readonly LRScheduler[], milestones: readonly number[]) {
    checkSequence(optimizer, schedulers, milestones);
    const parts = [...schedulers];
    const starts = [0, ...milestones];
    super(optimizer, (epoch, _baseLr, i) => {
      let part = 0;
      while (part < milestones.length && epoch >= milestones[part]) part++;
      return parts[part].lrAt(epoch - starts[part])[i];
    });
    this.schedulers = parts;
    this.milestones = [...milestones];
  }

  /** Restores the state, and gives the inner schedulers the restored base rates they compute from. */
  override loadStateDict(saved: LRSchedulerStateDict): void {
    super.loadStateDict(saved);
    for (const scheduler of this.schedulers) scheduler.baseLrs = [...this.baseLrs];
  }
}

/**
 * Ramps each group's lr linearly to its base: lr = base · min(1, (epoch + 1) / warmupSteps), so
 * the first step already moves the parameters and step warmupSteps − 1 reaches the base. This is
 * PyTorch's LinearLR(startFactor = 1/warmupSteps, endFactor = 1, totalIters = warmupSteps − 1).
 */
export function linearWarmup(optimizer: Optimizer, warmupSteps: number): LinearLR {
  checkPositiveInteger('linearWarmup', 'warmupSteps', warmupSteps);
  if (warmupSteps === 1) return new LinearLR(optimizer, { startFactor: 1, endFactor: 1, totalIters: 1 });
  return new LinearLR(optimizer, { startFactor: 1 / warmupSteps, endFactor: 1, totalIters: warmupSteps - 1 });
}

/**
 * Linear warm-up for warmupSteps steps (see linearWarmup), then cosine annealing from the base
 * lr at step warmupSteps down to minLr at step totalSteps. The same sequence as PyTorch's
 * SequentialLR([LinearLR(1/warmupSteps, 1, warmupSteps − 1), CosineAnnealingLR(totalSteps −
 * warmupSteps, minLr)], [warmupSteps]); with warmupSteps = 0 it is the cosine alone.
 */
export function warmupCosine(optimizer: Optimizer, warmupSteps: number, totalSteps: number, minLr = 0): LRScheduler {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new ValueError(`warmupCosine: warmupSteps must be a non-negative integer, got ${warmupSteps}`);
  if (!Number.isInteger(totalSteps) || totalSteps <= warmupSteps) {
    throw new ValueError(`warmupCosine: totalSteps must be an integer larger than warmupSteps (${warmupSteps}), got ${totalSteps}`);
  }
  checkFinite('warmupCosine', 'minLr', minLr);
  if (warmupSteps === 0) return new CosineAnnealingLR(optimizer, totalSteps, minLr);

  const warmup = linearWarmup(optimizer, warmupSteps);
  const cosine = new CosineAnnealingLR(optimizer, totalSteps - warmupSteps, minLr);
  return new SequentialLR(optimizer, [warmup, cosine], [warmupSteps]);
}

function checkPositiveInteger(op: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new ValueError(`${op}: ${name} must be a positive integer, got ${value}`);
}

function checkFinite(op: string, name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ValueError(`${op}: ${name} must be a finite number, got ${String(value)}`);
}

function checkSequence(optimizer: Optimizer, schedulers: readonly LRScheduler[], milestones: readonly number[]): void {
  if (!Array.isArray(schedulers) || schedulers.length === 0) throw new ValueError('SequentialLR: expected at least one scheduler');
  schedulers.forEach((scheduler, i) => {
    if (!(scheduler instanceof LRScheduler)) throw new ValueError(`SequentialLR: schedulers[${i}] is not an LRScheduler`);
    if (scheduler.optimizer !== optimizer) {
      throw new ValueError(`SequentialLR: schedulers[${i}] was made for another optimizer; build every scheduler on the optimizer passed to SequentialLR`);
    }
  });
  if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
    throw new ValueError(`SequentialLR: expected ${schedulers.length - 1} milestones for ${schedulers.length} schedulers, got ${JSON.stringify(milestones)}`);
  }
  milestones.forEach((milestone, i) => {
    const previous = i === 0 ? 0 : milestones[i - 1];
    if (!Number.isInteger(milestone) || milestone <= previous) {
      throw new ValueError(`SequentialLR: milestones must be increasing positive integers, got ${JSON.stringify(milestones)}`);
    }
  });
}

/**
 * The step counter that drives SingLoRA's ramp u(t) = min(t / T, 1). There is one clock per
 * adapted model, and t counts completed optimizer steps: forwards never advance it, so
 * gradient-accumulation micro-batches and evaluation passes all see the same u.
 */
import { ValueError } from '../core/errors.js';

export class AdapterClock {
  private steps = 0;

  /** Completed optimizer steps so far. */
  get step(): number {
    return this.steps;
  }

  /** Advances by one step; call it after each optimizer step (or let `attachOptimizer` do so). */
  advance(count = 1): void {
    if (!Number.isInteger(count) || count < 0) throw new ValueError(`AdapterClock.advance: count must be a non-negative integer, got ${count}`);
    this.steps += count;
  }

  /** Sets the step, for example when resuming from a checkpoint. */
  setStep(step: number): void {
    if (!Number.isInteger(step) || step < 0) throw new ValueError(`AdapterClock.setStep: step must be a non-negative integer, got ${step}`);
    this.steps = step;
  }
}

/** Returns the ramp value u(t) = min(t / T, 1); T = 0 means no ramp (u = 1 from the start). */
export function rampValue(step: number, rampSteps: number): number {
  if (rampSteps <= 0) return 1;
  return Math.min(step / rampSteps, 1);
}

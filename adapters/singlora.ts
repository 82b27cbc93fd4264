/**
 * SingLoRA (Bensaïd et al., 2025, arXiv 2507.05566): one factor A of shape max(in, out) x r and
 *
 *     ΔW(t) = (α/r) · u(t) · A[0:out] · A[0:in]^T        (out x in, PyTorch layout)
 *
 * with the ramp u(t) = min(t/T, 1) over completed optimizer steps. For a square weight this is
 * (α/r) u(t) A A^T, symmetric positive semi-definite for α >= 0. For a non-square weight it is the
 * leading out x in block of A A^T: when out > in, A_out is all of A and A_in its first `in` rows;
 * when in > out, the reverse. (The paper writes the row-vector layout y = xW and truncates A to
 * d_in rows; transposing that into y = x W^T gives exactly this rule in both directions.)
 *
 * Nothing is zero-initialised: u(0) = 0 makes the first forward equal the base model, and also
 * makes the first gradient of A exactly zero. A = 0 would be a stationary point.
 */
import { ValueError } from '../core/errors.js';
import { type Generator, defaultGenerator } from '../core/random.js';
import type { DType } from '../core/dtype.js';
import { randn, uniform } from '../ops/creation.js';
import { narrow } from '../ops/shape.js';
import { Parameter } from '../nn/parameter.js';
import { AdapterClock, rampValue } from './clock.js';
import { type LowRankFactors, LowRankAdapter, type LowRankOptions } from './low-rank.js';

/**
 * Initialisation of A. 'uniform' (default): U(-1/√in, 1/√in), entries of order width^(-1/2) as the
 * paper's analysis assumes. 'kaiming-r': PyTorch's kaiming_uniform_(a=√5) applied to the d x r
 * tensor, i.e. U(-1/√r, 1/√r), which is what public implementations do; it makes ‖A A^T‖ grow
 * with the width, so it needs a much smaller α. 'gaussian': N(0, 1/in).
 */
export type SingLoRAInit = 'uniform' | 'kaiming-r' | 'gaussian';

export interface SingLoRAOptions extends LowRankOptions {
  /** T in u(t) = min(t/T, 1); 0 disables the ramp. */
  rampSteps?: number;
  /** The shared step counter; adapters of one model should share one clock. */
  clock?: AdapterClock;
  init?: SingLoRAInit;
  dtype?: DType;
}

export class SingLoRA extends LowRankAdapter {
  /** A: max(in, out) x r. */
  singlora_A: Parameter;
  readonly rampSteps: number;
  readonly clock: AdapterClock;
  readonly init: SingLoRAInit;

  constructor(outFeatures: number, inFeatures: number, options: SingLoRAOptions) {
    super(outFeatures, inFeatures, options);
    const rampSteps = options.rampSteps ?? 0;
    if (!Number.isInteger(rampSteps) || rampSteps < 0) {
      throw new ValueError(`SingLoRA: rampSteps must be a non-negative integer (0 disables the ramp), got ${rampSteps}`);
    }
    this.rampSteps = rampSteps;
    this.clock = options.clock ?? new AdapterClock();
    this.init = options.init ?? 'uniform';

    const rows = Math.max(inFeatures, outFeatures);
    const generator: Generator = options.generator ?? defaultGenerator;
    const shape = [rows, this.rank];
    let a;
    switch (this.init) {
      case 'uniform': {
        const bound = 1 / Math.sqrt(inFeatures);
        a = uniform(shape, -bound, bound, { generator, dtype: options.dtype });
        break;
      }
      case 'kaiming-r': {
        const bound = 1 / Math.sqrt(this.rank);
        a = uniform(shape, -bound, bound, { generator, dtype: options.dtype });
        break;
      }
      case 'gaussian':
        a = randn(shape, { generator, dtype: options.dtype, std: 1 / Math.sqrt(inFeatures) });
        break;
      default:
        throw new ValueError(`SingLoRA: init must be 'uniform', 'kaiming-r' or 'gaussian', got '${String(this.init)}'`);
    }
    this.singlora_A = new Parameter(a);
  }

  /** The ramp value u(t) at the clock's current step. */
  get ramp(): number {
    return rampValue(this.clock.step, this.rampSteps);
  }

  factors(): LowRankFactors {
    const a = this.singlora_A;
    return {
      p: narrow(a, 0, 0, this.outFeatures),
      q: narrow(a, 0, 0, this.inFeatures),
      scale: this.baseScale * this.ramp,
    };
  }

  get adapterParameterCount(): number {
    return this.rank * Math.max(this.inFeatures, this.outFeatures);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, r=${this.rank}, alpha=${this.alpha}, ramp_steps=${this.rampSteps}, step=${this.clock.step}`;
  }
}

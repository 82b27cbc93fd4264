/**
 * The structure shared by LoRA and SingLoRA: an additive update of rank r written as
 * ΔW = s · P Q^T, with P of shape out x r and Q of shape in x r.
 *
 *   LoRA:      P = B (out x r),      Q = A^T (in x r),    s = α / r
 *   SingLoRA:  P = A[0:out] (out x r), Q = A[0:in] (in x r), s = (α / r) · u(t)
 *
 * Writing both this way gives one factored forward, x ↦ s (x Q) P^T, costing
 * O(batch · (in + out) · r), and one materialised form for merging and for non-Linear modules.
 */
import { SingloraError, ValueError } from '../core/errors.js';
import { isGradEnabled } from '../core/grad-mode.js';
import { type Generator } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { dropout } from '../ops/functional/index.js';
import { Module } from '../nn/module.js';
import type { LinearInner, Parametrization } from './parametrize.js';

/** An adapter used in a way its current state does not allow (training while merged). */
export class AdapterStateError extends SingloraError {}

export interface LowRankFactors {
  /** out x r */
  p: Tensor;
  /** in x r */
  q: Tensor;
  /** The scalar s in ΔW = s P Q^T (includes SingLoRA's ramp u(t)). */
  scale: number;
}

export interface LowRankOptions {
  rank: number;
  alpha?: number;
  /** Scale by α/√r (rsLoRA) instead of α/r. */
  useRslora?: boolean;
  /** Dropout probability on the adapter branch's input (Linear fast path only, as in PEFT). */
  dropout?: number;
  generator?: Generator;
}

export abstract class LowRankAdapter extends Module implements Parametrization {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly rank: number;
  readonly alpha: number;
  readonly useRslora: boolean;
  readonly dropoutP: number;
  /** Disabled adapters pass the weight through unchanged. */
  enabled = true;
  /** Set while the update is merged into the base weight: the branch is skipped and training is rejected. */
  merged = false;
  private readonly generator: Generator | undefined;

  constructor(outFeatures: number, inFeatures: number, options: LowRankOptions) {
    super();
    const { rank } = options;
    if (!Number.isInteger(rank) || rank <= 0) {
      throw new ValueError(`${new.target.name}: rank must be a positive integer, got ${rank}`);
    }
    const p = options.dropout ?? 0;
    if (!(p >= 0 && p < 1)) throw new ValueError(`${new.target.name}: dropout must be in [0, 1), got ${p}`);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.rank = rank;
    this.alpha = options.alpha ?? rank;
    this.useRslora = options.useRslora ?? false;
    this.dropoutP = p;
    this.generator = options.generator;
  }

  /** α/r, or α/√r with rsLoRA: the scale before any ramp. */
  get baseScale(): number {
    return this.useRslora ? this.alpha / Math.sqrt(this.rank) : this.alpha / this.rank;
  }

  /** The factors of ΔW = s P Q^T at the current step. */
  abstract factors(): LowRankFactors;

  /** ΔW (out x in), materialised. */
  deltaWeight(): Tensor {
    const { p, q, scale } = this.factors();
    return p.matmul(q.mT).mul(scale);
  }

  /** Computes the adapter branch's output for input rows x (..., in): s (x Q) P^T, shape (..., out). */
  deltaForward(x: Tensor): Tensor {
    const { p, q, scale } = this.factors();
    const input = this.dropoutP > 0 ? dropout(x, this.dropoutP, this.training, { generator: this.generator }) : x;
    return input.matmul(q).matmul(p.mT).mul(scale);
  }

  /** True when the branch contributes to the output: enabled and not already merged into the weight. */
  get active(): boolean {
    if (this.merged && this.training && isGradEnabled()) {
      throw new AdapterStateError(
        `${this.constructor.name}: the adapter is merged into the base weight, so it cannot be trained; call unmerge() first, or eval() / noGrad() for inference`,
      );
    }
    return this.enabled && !this.merged;
  }

  override forward(weight: Tensor): Tensor {
    if (!this.active) return weight;
    return weight.add(this.deltaWeight());
  }

  linearForward(x: Tensor, _weight: () => Tensor, inner: LinearInner): Tensor {
    if (!this.active) return inner(x);
    return inner(x).add(this.deltaForward(x));
  }

  /** Number of trainable values this adapter adds. */
  abstract get adapterParameterCount(): number;
}

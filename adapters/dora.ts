/**
 * DoRA (Liu et al., 2024): split the adapted weight V = W0 + ΔW into a trainable magnitude m
 * (one value per output feature) and the direction V / ‖V‖, giving W' = diag(m / n) V with
 * n_j = ‖V[j, :]‖, the norm over the input axis (one per row of the out x in weight). As in the
 * DoRA paper (section 4.3) and PEFT, n is detached: no gradient flows through the norm.
 *
 * `DoRA` uses LoRA's factors (PEFT's layout: lora_A, lora_B, lora_magnitude_vector);
 * `SingLoRADoRA` uses SingLoRA's single factor and ramp. The SingLoRA paper does not test this
 * combination; it is offered as an extension.
 */
import type { Tensor } from '../core/tensor.js';
import { noGrad } from '../core/grad-mode.js';
import { Parameter } from '../nn/parameter.js';
import { LoRA, type LoRAOptions } from './lora.js';
import type { LinearInner } from './parametrize.js';
import type { LowRankAdapter, LowRankFactors } from './low-rank.js';
import { SingLoRA, type SingLoRAOptions } from './singlora.js';

/** Row norms ‖W[j, :]‖ of an out x in weight, detached, as a (out) vector. */
function rowNorms(weight: Tensor): Tensor {
  return noGrad(() => weight.square().sum(1).sqrt());
}

/**
 * Row norms of V = W0 + s P Q^T without building V:
 * ‖V_j‖² = ‖W0_j‖² + 2 s (W0 Q)_j · P_j + s² P_j (Q^T Q) P_j^T. Costs 2·out·in·r for W0 Q.
 * NOTE: when a row of V nearly cancels, the sum loses relative accuracy by the factor
 * (‖W0_j‖² + ‖ΔW_j‖²) / ‖V_j‖², which matters in float32; the materialised norm does not.
 */
export function factoredRowNorms(w0: Tensor, { p, q, scale }: LowRankFactors): Tensor {
  return noGrad(() => {
    const base = w0.square().sum(1);
    const cross = w0.matmul(q).mul(p).sum(1).mul(2 * scale);
    const gram = p.matmul(q.mT.matmul(q)).mul(p).sum(1).mul(scale * scale);
    // Cancellation can make the sum slightly negative in float32; a norm is never below 0.
    return base.add(cross).add(gram).clamp(0).sqrt();
  });
}

/** Computes DoRA's weight for either base, with `adapter` supplying the low-rank factors. */
function doraWeight(adapter: LowRankAdapter, magnitude: Tensor, weight: Tensor): Tensor {
  const v = weight.add(adapter.deltaWeight());
  return v.mul(magnitude.div(rowNorms(v)).unsqueeze(1));
}

function doraLinear(adapter: LowRankAdapter, magnitude: Tensor, x: Tensor, weight: () => Tensor, inner: LinearInner): Tensor {
  const norms = factoredRowNorms(weight(), adapter.factors());
  return inner(x).add(adapter.deltaForward(x)).mul(magnitude.div(norms));
}

function initialMagnitude(baseWeight: Tensor): Parameter {
  return new Parameter(rowNorms(baseWeight.detach()).contiguous());
}

export class DoRA extends LoRA {
  /** m: out, initialised to the row norms of the base weight, so the first forward equals the base. */
  lora_magnitude_vector: Parameter;

  constructor(baseWeight: Tensor, options: LoRAOptions) {
    super(baseWeight.shape[0], baseWeight.shape[1], { ...options, dtype: options.dtype ?? baseWeight.dtype });
    this.lora_magnitude_vector = initialMagnitude(baseWeight);
  }

  override forward(weight: Tensor): Tensor {
    return this.active ? doraWeight(this, this.lora_magnitude_vector, weight) : weight;
  }

  override linearForward(x: Tensor, weight: () => Tensor, inner: LinearInner): Tensor {
    return this.active ? doraLinear(this, this.lora_magnitude_vector, x, weight, inner) : inner(x);
  }

  override get adapterParameterCount(): number {
    return super.adapterParameterCount + this.outFeatures;
  }
}

export class SingLoRADoRA extends SingLoRA {
  lora_magnitude_vector: Parameter;

  constructor(baseWeight: Tensor, options: SingLoRAOptions) {
    super(baseWeight.shape[0], baseWeight.shape[1], { ...options, dtype: options.dtype ?? baseWeight.dtype });
    this.lora_magnitude_vector = initialMagnitude(baseWeight);
  }

  override forward(weight: Tensor): Tensor {
    return this.active ? doraWeight(this, this.lora_magnitude_vector, weight) : weight;
  }

  override linearForward(x: Tensor, weight: () => Tensor, inner: LinearInner): Tensor {
    return this.active ? doraLinear(this, this.lora_magnitude_vector, x, weight, inner) : inner(x);
  }

  override get adapterParameterCount(): number {
    return super.adapterParameterCount + this.outFeatures;
  }
}

/** Inverted dropout, as torch.nn.functional.dropout. */
import { getBackend } from '../../core/backend.js';
import { ValueError } from '../../core/errors.js';
import { type Generator, defaultGenerator } from '../../core/random.js';
import { Tensor } from '../../core/tensor.js';
import { mul } from '../elementwise.js';
import { assertFloating } from '../util.js';

export interface DropoutOptions {
  /** Source of the mask; the global generator (reseeded by manualSeed) when omitted. */
  generator?: Generator;
}

/**
 * Zeroes each element with probability `p` and scales the kept ones by `1 / (1 - p)`, so the
 * expected value is unchanged and evaluation needs no rescaling. Returns `input` itself when
 * not training or when p is 0; p = 1 gives zeros. The gradient is masked and scaled the same way.
 */
export function dropout(input: Tensor, p = 0.5, training = true, options: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`dropout: probability p must lie in [0, 1], got ${p}`);
  assertFloating('dropout', input);
  if (!training || p === 0) return input;

  const generator = options.generator ?? defaultGenerator;
  const keepProbability = 1 - p;
  const scale = p === 1 ? 0 : 1 / keepProbability;
  const mask = input.dtype === 'float64' ? new Float64Array(input.numel()) : new Float32Array(input.numel());
  for (let i = 0; i < mask.length; i++) {
    if (generator.random() < keepProbability) mask[i] = scale;
  }
  return mul(input, getBackend(input.device).fromTypedArray(mask, input.shape, input.dtype));
}

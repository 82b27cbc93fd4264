/** Dropout: random zeroing during training, identity in evaluation mode. */
import { type Generator, type Tensor, ValueError } from '../index.js';
import { dropout } from '../ops/functional/index.js';
import { Module } from './module.js';

export interface DropoutOptions {
  /** Source of the masks; the global generator when omitted. */
  generator?: Generator;
}

/**
 * In training mode, zeroes each element with probability `p` and scales the rest by 1 / (1 - p).
 * After `eval()` it returns its input unchanged.
 */
export class Dropout extends Module {
  readonly p: number;
  readonly generator: Generator | undefined;

  constructor(p = 0.5, options: DropoutOptions = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError(`Dropout: probability p must lie in [0, 1], got ${p}`);
    this.p = p;
    this.generator = options.generator;
  }

  forward(input: Tensor): Tensor {
    return dropout(input, this.p, this.training, { generator: this.generator });
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

/** Activation modules: elementwise nonlinearities with no parameters. */
import { type Tensor, ValueError } from '../index.js';
import { Module } from './module.js';

export class ReLU extends Module {
  forward(input: Tensor): Tensor {
    return input.relu();
  }
}

export type GELUApproximation = 'none' | 'tanh';

/** x Φ(x), exact with erf ('none', the default) or with PyTorch's tanh approximation. */
export class GELU extends Module {
  readonly approximate: GELUApproximation;

  constructor(options: { approximate?: GELUApproximation } = {}) {
    super();
    const approximate = options.approximate ?? 'none';
    if (approximate !== 'none' && approximate !== 'tanh') {
      throw new ValueError(`GELU: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
    }
    this.approximate = approximate;
  }

  forward(input: Tensor): Tensor {
    return input.gelu(this.approximate);
  }

  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/** x σ(x), also called swish. */
export class SiLU extends Module {
  forward(input: Tensor): Tensor {
    return input.silu();
  }
}

export class Tanh extends Module {
  forward(input: Tensor): Tensor {
    return input.tanh();
  }
}

export class Sigmoid extends Module {
  forward(input: Tensor): Tensor {
    return input.sigmoid();
  }
}

/**
 * User-defined differentiable ops, in the shape of `torch.autograd.Function`: subclass with a
 * static `forward(ctx, ...args)` that computes the result (recording is off inside it) and a
 * static `backward(ctx, grad)` that returns one gradient per tensor argument, then call
 * `MyOp.apply(...args)`.
 *
 *   class Cube extends Function {
 *     static override forward(ctx: FunctionCtx, x: Tensor) { ctx.saveForBackward(x); return x.pow(3); }
 *     static override backward(ctx: FunctionCtx, g: Tensor) { const [x] = ctx.savedTensors; return [g.mul(x.square()).mul(3)]; }
 *   }
 *
 * Writing backward with tensor ops makes it differentiable, so second derivatives work too.
 */
import { record } from './autograd.js';
import { AutogradError, SingloraError } from './errors.js';
import { noGrad } from './grad-mode.js';
import { Tensor } from './tensor.js';

/** Context shared by one call's forward and backward. */
export class FunctionCtx {
  private saved: Tensor[] = [];
  /** Free-form storage for non-tensor values that backward needs (shapes, flags). */
  readonly values: Record<string, unknown> = {};
  /** Per tensor argument: whether backward needs to produce its gradient. */
  needsInputGrad: boolean[] = [];

  saveForBackward(...tensors: Tensor[]): void {
    this.saved = tensors;
  }

  get savedTensors(): Tensor[] {
    return this.saved;
  }
}

// Named Function after PyTorch; inside this module it shadows the global Function constructor.
export class Function {
  static forward(_ctx: FunctionCtx, ..._args: unknown[]): Tensor {
    throw new SingloraError(`${this.name}.forward is not implemented; subclasses of Function must define static forward(ctx, ...args)`);
  }

  static backward(_ctx: FunctionCtx, _grad: Tensor): Tensor | null | (Tensor | null)[] {
    throw new SingloraError(`${this.name}.backward is not implemented; subclasses of Function must define static backward(ctx, grad)`);
  }

  /** Runs forward without recording, then records one node whose backward is the user's. */
  static apply(this: typeof Function, ...args: unknown[]): Tensor {
    const ctx = new FunctionCtx();
    const tensorArgs = args.filter((a): a is Tensor => a instanceof Tensor);
    ctx.needsInputGrad = tensorArgs.map((t) => t.requiresGrad);
    const result = noGrad(() => this.forward(ctx, ...args));
    if (!(result instanceof Tensor)) {
      throw new SingloraError(`${this.name}.forward must return a Tensor, got ${typeof result}`);
    }
    // The output must be a fresh tensor object: attaching a node to an input would rewrite its history.
    const output = tensorArgs.includes(result) ? result.detach() : result;
    const name = this.name;
    return record(name, tensorArgs, output, (g) => {
      const grads = this.backward(ctx, g);
      const list = Array.isArray(grads) ? grads : [grads];
      if (list.length !== tensorArgs.length) {
        throw new AutogradError(`${name}.backward returned ${list.length} gradients but forward received ${tensorArgs.length} tensor arguments; return one per tensor (null where there is none)`);
      }
      return list;
    }, ctx.savedTensors);
  }
}

/**
 * Parametrizations in the manner of torch.nn.utils.parametrize: after
 * `parametrize(module, 'weight', p)`, reading `module.weight` returns `p(original)`, where the
 * original tensor now lives at `module.parametrizations.weight.original`. Several
 * parametrizations stack (each one receives the previous one's output), every parameter shows
 * up in `namedParameters()`, and `removeParametrization` either bakes the current value in
 * (`merge: true`) or restores the original.
 *
 * A parametrization may also offer `linearForward`, which computes `x @ p(W)^T` without building
 * `p(W)`. When every parametrization of a Linear's weight offers it, the Linear uses that path:
 * for a rank-r adapter it costs O(batch (in + out) r) instead of O(out in r) per forward.
 */
import { ShapeError, ValueError, formatShape } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { sameShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { linear } from '../ops/matmul.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';

/** Computes `x @ W^T` for the weight built so far (one step of the fast path's chain). */
export type LinearInner = (x: Tensor) => Tensor;

export interface Parametrization extends Module {
  /** Maps the incoming tensor (the original, or the previous parametrization's output) to a new one. */
  forward(weight: Tensor): Tensor;
  /**
   * Returns `x @ forward(W)^T`, where `inner(x)` is `x @ W^T` and `weight()` builds W if needed.
   * Optional; without it the Linear falls back to materialising the weight.
   */
  linearForward?(x: Tensor, weight: () => Tensor, inner: LinearInner): Tensor;
}

/** The stack of parametrizations of one tensor, and the original tensor they start from. */
export class ParametrizationList extends Module {
  original: Parameter;
  private readonly stack: Parametrization[] = [];

  constructor(original: Parameter) {
    super();
    this.original = original;
  }

  append(p: Parametrization): void {
    // Children are named '0', '1', ... as in PyTorch, e.g. `parametrizations.weight.0.lora_A`.
    (this as unknown as Record<string, Module>)[String(this.stack.length)] = p;
    this.stack.push(p);
  }

  get items(): readonly Parametrization[] {
    return this.stack;
  }

  /** Applies every parametrization in order to the original. */
  override forward(): Tensor {
    let value: Tensor = this.original;
    for (const p of this.stack) value = p.call(value);
    return value;
  }

  /** True when every parametrization can compute a Linear's output in factored form. */
  supportsLinearFastPath(): boolean {
    return this.stack.every((p) => typeof p.linearForward === 'function');
  }

  /** `x @ W'^T` for the parametrized weight W', chaining each parametrization's factored form. */
  linearForward(x: Tensor): Tensor {
    let inner: LinearInner = (z) => linear(z, this.original);
    let weight: () => Tensor = () => this.original;
    for (const p of this.stack) {
      const previousInner = inner;
      const previousWeight = weight;
      let built: Tensor | null = null;
      inner = (z) => p.linearForward!(z, previousWeight, previousInner);
      weight = () => (built ??= p.call(previousWeight()));
    }
    return inner(x);
  }
}

/** Holds one ParametrizationList per parametrized tensor name: `module.parametrizations.weight`. */
export class ParametrizationDict extends Module {
  override forward(): never {
    throw new ValueError('ParametrizationDict is a container and has no forward');
  }

  get(name: string): ParametrizationList | undefined {
    const value = (this as unknown as Record<string, unknown>)[name];
    return value instanceof ParametrizationList ? value : undefined;
  }

  set(name: string, list: ParametrizationList): void {
    (this as unknown as Record<string, unknown>)[name] = list;
  }

  delete(name: string): void {
    delete (this as unknown as Record<string, unknown>)[name];
  }

  names(): string[] {
    return Object.keys(this).filter((key) => (this as unknown as Record<string, unknown>)[key] instanceof ParametrizationList);
  }
}

type ParametrizedModule = Module & { parametrizations?: ParametrizationDict; forward: (...args: never[]) => unknown };

function record(module: Module): Record<string, unknown> {
  return module as unknown as Record<string, unknown>;
}

export function isParametrized(module: Module, tensorName?: string): boolean {
  const dict = (module as ParametrizedModule).parametrizations;
  if (!(dict instanceof ParametrizationDict)) return false;
  return tensorName === undefined ? dict.names().length > 0 : dict.get(tensorName) !== undefined;
}

/** Returns the parametrizations stacked on `module[tensorName]` (empty when there are none). */
export function getParametrizations(module: Module, tensorName: string): readonly Parametrization[] {
  return (module as ParametrizedModule).parametrizations?.get(tensorName)?.items ?? [];
}

/**
 * Makes `module[tensorName]` computed by `p` from the original tensor. Unless `unsafe`, checks
 * that `p` keeps the shape and dtype, since the module's forward was written for them.
 */
export function parametrize(module: Module, tensorName: string, p: Parametrization, options: { unsafe?: boolean } = {}): void {
  const target = module as ParametrizedModule;
  let dict = target.parametrizations;
  let list = dict?.get(tensorName);
  const original = list === undefined ? record(module)[tensorName] : list.original;
  if (!(original instanceof Parameter)) {
    throw new ValueError(
      `parametrize: ${module.constructor.name} has no parameter '${tensorName}' to parametrize (found ${original === undefined ? 'nothing' : typeof original}); parametrize a Parameter such as 'weight'`,
    );
  }

  // Check before changing the module, so a rejected parametrization leaves it as it was.
  if (!options.unsafe) {
    const current = list;
    checkKeepsShapeAndDtype(p, tensorName, noGrad(() => (current === undefined ? original : current.forward())));
  }

  if (list === undefined) {
    list = new ParametrizationList(original);
    if (!(dict instanceof ParametrizationDict)) {
      dict = new ParametrizationDict();
      target.parametrizations = dict;
    }
    dict.set(tensorName, list);
    // Replace the data property by an accessor: the module walk skips accessors, so the original
    // is found only once, under parametrizations.<name>.original.
    delete record(module)[tensorName];
    const installed = list;
    Object.defineProperty(module, tensorName, {
      configurable: true,
      enumerable: false,
      get: () => installed.forward(),
      set: () => {
        throw new ValueError(`${module.constructor.name}.${tensorName} is parametrized; assign to parametrizations.${tensorName}.original instead`);
      },
    });
    installLinearFastPath(module, tensorName);
  }
  list.append(p);
}

/** Throws a ShapeError naming both shapes and dtypes unless `p` maps `before` to a tensor like it. */
function checkKeepsShapeAndDtype(p: Parametrization, tensorName: string, before: Tensor): void {
  let after: Tensor;
  try {
    after = noGrad(() => p.call(before));
  } catch (error) {
    // Name the parametrization and the tensor: the inner error only names the failing op.
    throw new ShapeError(
      `parametrize: ${p.constructor.name} failed on '${tensorName}' of shape ${formatShape(before.shape)} ${before.dtype}: ${(error as Error).message}`,
    );
  }
  if (!sameShape(before.shape, after.shape) || before.dtype !== after.dtype) {
    throw new ShapeError(
      `parametrize: the parametrization ${p.constructor.name} changes '${tensorName}' from ${formatShape(before.shape)} ${before.dtype} ` +
        `to ${formatShape(after.shape)} ${after.dtype}; it must keep shape and dtype (pass { unsafe: true } to skip this check)`,
    );
  }
}

/**
 * Removes all parametrizations of `module[tensorName]`. With `merge: true` (the default, like
 * PyTorch's leave_parametrized) the tensor keeps its current parametrized value; with false it
 * gets the original back. Either way the original Parameter object is reused, so optimizers and
 * references to it stay valid.
 */
export function removeParametrization(module: Module, tensorName: string, options: { merge?: boolean } = {}): void {
  const target = module as ParametrizedModule;
  const list = target.parametrizations?.get(tensorName);
  if (list === undefined) {
    throw new ValueError(`removeParametrization: ${module.constructor.name}.${tensorName} is not parametrized`);
  }
  const original = list.original;
  if (options.merge ?? true) {
    const value = noGrad(() => list.forward().detach());
    noGrad(() => original.copy_(value));
  }
  delete record(module)[tensorName];
  record(module)[tensorName] = original;
  target.parametrizations!.delete(tensorName);
  if (target.parametrizations!.names().length === 0) delete record(module).parametrizations;
  if (tensorName === 'weight') delete record(module).forward;
}

interface LinearLike {
  weight: Tensor;
  bias: Tensor | null | undefined;
}

/** Gives a parametrized Linear a forward that uses the factored path whenever the stack supports it. */
function installLinearFastPath(module: Module, tensorName: string): void {
  if (tensorName !== 'weight' || !(module instanceof Linear)) return;
  const target = module as ParametrizedModule & LinearLike;
  const list = target.parametrizations!.get('weight')!;
  record(module).forward = (x: Tensor): Tensor => {
    if (!list.supportsLinearFastPath()) return linear(x, target.weight, target.bias);
    const out = list.linearForward(x);
    return target.bias === null || target.bias === undefined ? out : out.add(target.bias);
  };
}

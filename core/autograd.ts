/**
 * Reverse-mode automatic differentiation over a dynamic graph.
 *
 * Each op that receives an input requiring grad gives its output a `Node`: the inputs, a backward
 * function that maps the output's gradient to one gradient per input, and the tensors it saved.
 * Backward functions are written with ordinary tensor ops, so running them with recording on
 * (`createGraph: true`) builds a graph of the gradient itself, which is how second derivatives,
 * Hessian-vector products and gradgradcheck work.
 */
import { isGradEnabled, setGradEnabled } from './grad-mode.js';
import { AutogradError, ShapeError, formatShape } from './errors.js';
import type { BackwardOptions, Tensor, VersionCounter } from './tensor.js';
import { sameShape } from './shape.js';

export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

interface SavedTensor {
  tensor: Tensor;
  counter: VersionCounter;
  version: number;
}

export class Node {
  /** Op name shown in printing and errors, e.g. `Mul` prints as `grad_fn=<MulBackward>`. */
  readonly name: string;
  /** The op's tensor inputs, in the order the backward function returns their gradients. */
  readonly inputs: readonly Tensor[];
  private backwardFn: BackwardFn | null;
  private saved: SavedTensor[];

  constructor(name: string, inputs: readonly Tensor[], backwardFn: BackwardFn, saved: readonly Tensor[]) {
    this.name = name;
    this.inputs = inputs;
    this.backwardFn = backwardFn;
    this.saved = saved.map((tensor) => ({ tensor, counter: tensor._version, version: tensor._version.value }));
  }

  /** Returns one gradient (or null) per input for the given gradient of the output. */
  apply(grad: Tensor): (Tensor | null)[] {
    if (this.backwardFn === null) {
      throw new AutogradError(
        `${this.name}Backward: the graph was already freed by an earlier backward(); ` +
          `pass { retainGraph: true } to the first backward() call if you need to backward through the same graph twice`,
      );
    }
    for (const { tensor, counter, version } of this.saved) {
      if (counter.value !== version) {
        throw new AutogradError(
          `${this.name}Backward: a tensor of shape ${formatShape(tensor.shape)} that this op saved for backward was modified in place ` +
            `(version ${counter.value}, expected ${version}); use an out-of-place op (for example x.add(y) instead of x.add_(y)) or clone() the tensor before changing it`,
        );
      }
    }
    const grads = this.backwardFn(grad);
    if (grads.length !== this.inputs.length) {
      throw new AutogradError(`${this.name}Backward returned ${grads.length} gradients for ${this.inputs.length} inputs`);
    }
    return grads;
  }

  /** Drops the backward function and saved tensors so their memory can be reclaimed. */
  release(): void {
    this.backwardFn = null;
    this.saved = [];
  }

  get released(): boolean {
    return this.backwardFn === null;
  }
}

/**
 * Attaches a backward node to `output` when recording is on and some input requires grad, and
 * returns `output`. `saved` lists the tensors the backward function reads, so that an in-place
 * change to any of them is caught instead of silently giving a wrong gradient.
 */
export function record(name: string, inputs: readonly Tensor[], output: Tensor, backwardFn: BackwardFn, saved: readonly Tensor[] = []): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t._requiresGrad)) return output;
  output._gradFn = new Node(name, inputs, backwardFn, saved);
  output._requiresGrad = true;
  return output;
}

// The ops that the engine needs (ones for the seed gradient, add for accumulation) are set by
// ops/methods.ts. Importing them here directly would make core depend on ops at load time.
interface EngineOps {
  onesLike(t: Tensor): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
}
let engineOps: EngineOps | null = null;

/** @internal */
export function setEngineOps(ops: EngineOps): void {
  engineOps = ops;
}

function ops(): EngineOps {
  if (engineOps === null) throw new AutogradError('autograd engine used before ops were loaded; import from the package entry point');
  return engineOps;
}

/**
 * Computes gradients of `outputs` and accumulates them into `.grad` of the leaves (or of
 * `options.inputs` only). The entry point behind `Tensor.backward`.
 */
export function backward(outputs: Tensor[], gradOutputs: Tensor[] | undefined, options: BackwardOptions = {}): void {
  const seeds = seedGradients(outputs, gradOutputs, 'backward');
  const only = options.inputs === undefined ? null : new Set(options.inputs);
  runEngine(outputs, seeds, {
    retainGraph: options.retainGraph ?? options.createGraph ?? false,
    createGraph: options.createGraph ?? false,
    onLeafGradient: (tensor, grad) => {
      if (only !== null && !only.has(tensor)) return;
      accumulateGrad(tensor, grad, options.createGraph ?? false);
    },
    onGradient: (tensor, grad) => {
      if (only !== null ? only.has(tensor) && !tensor.isLeaf : tensor._retainsGrad) {
        accumulateGrad(tensor, grad, options.createGraph ?? false);
      }
    },
  });
}

export interface GradOptions {
  gradOutputs?: Tensor[];
  retainGraph?: boolean;
  createGraph?: boolean;
  /** Return null for an input that the outputs do not depend on, instead of throwing. */
  allowUnused?: boolean;
}

/**
 * Returns the gradients of `outputs` with respect to `inputs` without touching any `.grad`, as
 * `torch.autograd.grad` does. With `createGraph: true` the results are differentiable.
 */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  const outputList = Array.isArray(outputs) ? outputs : [outputs];
  const inputList = Array.isArray(inputs) ? inputs : [inputs];
  for (const [i, input] of inputList.entries()) {
    if (!input._requiresGrad) {
      throw new AutogradError(`grad: input ${i} (shape ${formatShape(input.shape)}) does not require grad; call requiresGrad_() on it before building the graph`);
    }
  }

  const seeds = seedGradients(outputList, options.gradOutputs, 'grad');
  const wanted = new Set(inputList);
  const captured = new Map<Tensor, Tensor>();
  const capture = (tensor: Tensor, g: Tensor): void => {
    if (!wanted.has(tensor)) return;
    const previous = captured.get(tensor);
    captured.set(tensor, previous === undefined ? g : ops().add(previous, g));
  };
  runEngine(outputList, seeds, {
    retainGraph: options.retainGraph ?? options.createGraph ?? false,
    createGraph: options.createGraph ?? false,
    onLeafGradient: capture,
    onGradient: (tensor, g) => {
      if (!tensor.isLeaf) capture(tensor, g);
    },
  });

  return inputList.map((input, i) => {
    const g = captured.get(input);
    if (g !== undefined) return g;
    if (options.allowUnused) return null;
    throw new AutogradError(`grad: input ${i} (shape ${formatShape(input.shape)}) was not used to compute the outputs; pass { allowUnused: true } to get null for it`);
  });
}

function seedGradients(outputs: Tensor[], gradOutputs: Tensor[] | undefined, op: string): Tensor[] {
  return outputs.map((output, i) => {
    if (!output._requiresGrad) {
      throw new AutogradError(
        `${op}: output ${i} does not require grad and has no grad_fn; make sure a leaf it depends on has requiresGrad set and that it was not computed inside noGrad()`,
      );
    }
    const given = gradOutputs?.[i];
    if (given === undefined) {
      if (output.numel() !== 1) {
        throw new AutogradError(
          `${op}: gradient can be implicitly created only for scalar outputs, but output ${i} has shape ${formatShape(output.shape)}; ` +
            `reduce it to a scalar (for example .sum()) or pass a gradient tensor of the same shape`,
        );
      }
      return ops().onesLike(output);
    }
    if (!sameShape(given.shape, output.shape)) {
      throw new ShapeError(`${op}: gradient ${i} has shape ${formatShape(given.shape)} but the output has shape ${formatShape(output.shape)}; they must match`);
    }
    if (given.dtype !== output.dtype) {
      throw new AutogradError(`${op}: gradient ${i} is ${given.dtype} but the output is ${output.dtype}; convert it with .to('${output.dtype}') so that .grad keeps the dtype of its tensor`);
    }
    return given;
  });
}

interface EngineHooks {
  retainGraph: boolean;
  createGraph: boolean;
  onLeafGradient(tensor: Tensor, grad: Tensor): void;
  onGradient(tensor: Tensor, grad: Tensor): void;
}

/**
 * Walks the graph in reverse topological order, so that every tensor's gradient is complete
 * (all its consumers have contributed) before its own node runs.
 */
function runEngine(outputs: Tensor[], seeds: Tensor[], hooks: EngineHooks): void {
  const order = topologicalOrder(outputs);
  const grads = new Map<Tensor, Tensor>();
  outputs.forEach((output, i) => addGradient(grads, output, seeds[i]));

  const previousMode = setGradEnabled(hooks.createGraph);
  try {
    for (let i = order.length - 1; i >= 0; i--) {
      const tensor = order[i];
      let g = grads.get(tensor);
      if (g === undefined) continue;
      grads.delete(tensor);

      for (const hook of tensor._hooks) {
        const replaced = hook(g);
        if (replaced === undefined) continue;
        if (!sameShape(replaced.shape, tensor.shape) || replaced.dtype !== tensor.dtype) {
          throw new AutogradError(
            `a gradient hook returned a tensor of shape ${formatShape(replaced.shape)} ${replaced.dtype} for a tensor of shape ${formatShape(tensor.shape)} ${tensor.dtype}; hooks must return a gradient of the same shape and dtype`,
          );
        }
        g = replaced;
      }

      const node = tensor._gradFn;
      if (node === null) {
        hooks.onLeafGradient(tensor, g);
        continue;
      }
      hooks.onGradient(tensor, g);

      const inputGrads = node.apply(g);
      node.inputs.forEach((input, k) => {
        const inputGrad = inputGrads[k];
        if (inputGrad === null || !input._requiresGrad) return;
        if (!sameShape(inputGrad.shape, input.shape)) {
          throw new AutogradError(
            `${node.name}Backward returned a gradient of shape ${formatShape(inputGrad.shape)} for input ${k} of shape ${formatShape(input.shape)}; ` +
              `a custom backward must return gradients shaped like its inputs`,
          );
        }
        addGradient(grads, input, inputGrad);
      });
      if (!hooks.retainGraph) node.release();
    }
  } finally {
    setGradEnabled(previousMode);
  }
}

function addGradient(grads: Map<Tensor, Tensor>, tensor: Tensor, g: Tensor): void {
  const previous = grads.get(tensor);
  grads.set(tensor, previous === undefined ? g : ops().add(previous, g));
}

function accumulateGrad(tensor: Tensor, g: Tensor, createGraph: boolean): void {
  const value = createGraph ? g : g.detach();
  tensor.grad = tensor.grad === null ? value : ops().add(tensor.grad, value);
  if (!createGraph) tensor.grad = tensor.grad.detach();
}

/** Returns every tensor reachable from `outputs` through grad nodes, inputs before users. */
function topologicalOrder(outputs: Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // An explicit stack instead of recursion: a long training graph can be deeper than the JS stack.
  const stack: { tensor: Tensor; expanded: boolean }[] = outputs.map((tensor) => ({ tensor, expanded: false }));
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (top.expanded) {
      order.push(top.tensor);
      continue;
    }
    if (visited.has(top.tensor)) continue;
    visited.add(top.tensor);
    stack.push({ tensor: top.tensor, expanded: true });
    const node = top.tensor._gradFn;
    if (node === null) continue;
    for (const input of node.inputs) {
      if (input._requiresGrad && !visited.has(input)) stack.push({ tensor: input, expanded: false });
    }
  }
  return order;
}

export { isGradEnabled };

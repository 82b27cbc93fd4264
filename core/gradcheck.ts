/**
 * Gradient verification: compares the Jacobian that autograd computes with one from central
 * finite differences, `(f(x + eps) - f(x - eps)) / (2 eps)`, in float64. The public API that the
 * library's own tests use and that users can call on their ops, modules and custom Functions.
 */
import { grad } from './autograd.js';
import { SingloraError, ValueError, formatShape } from './errors.js';
import { enableGrad, noGrad } from './grad-mode.js';
import { Generator } from './random.js';
import { Tensor } from './tensor.js';
import type { TypedArray } from './dtype.js';

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  /** Absolute tolerance: pass when |analytic - numeric| <= atol + rtol * |numeric|. */
  atol?: number;
  rtol?: number;
  /** Return false instead of throwing a GradcheckError on mismatch. */
  raiseException?: boolean;
  /** Check that two backward passes give the same Jacobian within this tolerance. */
  nondetTol?: number;
}

/** Thrown when analytic and numerical gradients disagree; the message locates the first mismatch. */
export class GradcheckError extends SingloraError {
  constructor(
    message: string,
    readonly inputIndex: number,
    readonly elementIndex: number[],
    readonly outputIndex: number,
    readonly analytic: number,
    readonly numeric: number,
  ) {
    super(message);
  }
}

type Fn = (...inputs: Tensor[]) => Tensor | Tensor[];

function asList(result: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(result) ? result : [result];
}

function checkInputs(op: string, inputs: Tensor[]): void {
  inputs.forEach((input, i) => {
    if (!(input instanceof Tensor)) throw new ValueError(`${op}: input ${i} is not a Tensor`);
    if (!input.requiresGrad) return;
    if (input.dtype !== 'float64') {
      throw new ValueError(
        `${op}: input ${i} is ${input.dtype}; finite differences need float64 to be accurate, so pass input.double().requiresGrad_() (or detach().double())`,
      );
    }
    if (input.device !== 'cpu') throw new ValueError(`${op}: input ${i} is on '${input.device}'; gradcheck perturbs inputs on the CPU, so move it with .cpu()`);
    // An empty tensor has zero strides from contiguousStrides but no elements to overlap.
    if (input.numel() > 0 && input.strides.some((s, d) => s === 0 && input.shape[d] > 1)) {
      throw new ValueError(
        `${op}: input ${i} of shape ${formatShape(input.shape)} has overlapping memory (stride 0 from expand); perturbing one element would change several, so pass input.contiguous()`,
      );
    }
  });
}

/** Lists the storage offsets of every element of a view, in row-major order of the view. */
function elementOffsets(t: Tensor): number[] {
  const shape = t.shape;
  const strides = t.strides;
  const offsets: number[] = [];
  const index = new Array<number>(shape.length).fill(0);
  const count = t.numel();
  for (let n = 0; n < count; n++) {
    let offset = t.offset;
    for (let d = 0; d < shape.length; d++) offset += index[d] * strides[d];
    offsets.push(offset);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return offsets;
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

function flatValues(outputs: Tensor[]): Float64Array[] {
  return outputs.map((o) => Float64Array.from(o.toTypedArray()));
}

/**
 * Checks the gradients of `fn` at `inputs` against finite differences, for every input that
 * requires grad and every output. Returns true, or throws a GradcheckError naming the input,
 * the element, the output and both values.
 */
export function gradcheck(fn: Fn, inputs: Tensor[], options: GradcheckOptions = {}): boolean {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const raise = options.raiseException ?? true;
  checkInputs('gradcheck', inputs);

  const differentiable = inputs.map((t, i) => ({ t, i })).filter(({ t }) => t.requiresGrad);
  if (differentiable.length === 0) throw new ValueError('gradcheck: no input requires grad; call requiresGrad_() on the inputs to check');

  const outputs = asList(fn(...inputs));
  const analytic = analyticJacobians(outputs, differentiable.map(({ t }) => t));
  if (options.nondetTol !== undefined) {
    const again = analyticJacobians(asList(fn(...inputs)), differentiable.map(({ t }) => t));
    compareJacobians('gradcheck (reentrant)', again, analytic, differentiable, outputs, options.nondetTol, 0, raise, 'second backward', 'first backward');
  }
  const numeric = numericJacobians(fn, inputs, differentiable.map(({ t }) => t), eps);
  return compareJacobians('gradcheck', analytic, numeric, differentiable, outputs, atol, rtol, raise, 'analytic', 'numerical');
}

/**
 * Jacobians by reverse mode: one backward per output element, each giving one row of
 * d output / d input for every input. Indexed [output][input][outputElement][inputElement].
 */
function analyticJacobians(outputs: Tensor[], inputs: Tensor[]): Float64Array[][][] {
  return outputs.map((output) => {
    const rows = inputs.map(() => [] as Float64Array[]);
    const count = output.numel();
    for (let j = 0; j < count; j++) {
      if (!output.requiresGrad) {
        inputs.forEach((input, k) => rows[k].push(new Float64Array(input.numel())));
        continue;
      }
      const seed = new Float64Array(count);
      seed[j] = 1;
      const seedTensor = Tensor.fromTypedArray(output.dtype === 'float64' ? seed : Float32Array.from(seed), output.shape);
      const grads = grad([output], inputs, { gradOutputs: [seedTensor], retainGraph: true, allowUnused: true });
      grads.forEach((g, k) => rows[k].push(g === null ? new Float64Array(inputs[k].numel()) : Float64Array.from(g.toTypedArray())));
    }
    return rows;
  });
}

/** Jacobians by central differences, perturbing each input element in place through its view. */
function numericJacobians(fn: Fn, allInputs: Tensor[], inputs: Tensor[], eps: number): Float64Array[][][] {
  const baseline = noGrad(() => asList(fn(...allInputs)));
  const result: Float64Array[][][] = baseline.map((o) => inputs.map((input) => {
    const rows: Float64Array[] = [];
    for (let j = 0; j < o.numel(); j++) rows.push(new Float64Array(input.numel()));
    return rows;
  }));

  inputs.forEach((input, k) => {
    const storage = input.storage as TypedArray;
    elementOffsets(input).forEach((offset, e) => {
      const original = storage[offset];
      storage[offset] = original + eps;
      const plus = flatValues(noGrad(() => asList(fn(...allInputs))));
      storage[offset] = original - eps;
      const minus = flatValues(noGrad(() => asList(fn(...allInputs))));
      storage[offset] = original;
      plus.forEach((values, o) => {
        for (let j = 0; j < values.length; j++) result[o][k][j][e] = (values[j] - minus[o][j]) / (2 * eps);
      });
    });
  });
  return result;
}

function compareJacobians(
  op: string,
  actual: Float64Array[][][],
  expected: Float64Array[][][],
  differentiable: { t: Tensor; i: number }[],
  outputs: Tensor[],
  atol: number,
  rtol: number,
  raise: boolean,
  actualName: string,
  expectedName: string,
): boolean {
  for (let o = 0; o < actual.length; o++) {
    for (let k = 0; k < differentiable.length; k++) {
      const { t: input, i: inputIndex } = differentiable[k];
      for (let j = 0; j < actual[o][k].length; j++) {
        for (let e = 0; e < input.numel(); e++) {
          const a = actual[o][k][j][e];
          const n = expected[o][k][j][e];
          if (Math.abs(a - n) <= atol + rtol * Math.abs(n) && !(Number.isNaN(a) !== Number.isNaN(n))) continue;
          if (!raise) return false;
          const label = input.name === undefined ? `input ${inputIndex}` : `input ${inputIndex} ('${input.name}')`;
          const element = unravel(e, input.shape);
          const outputElement = unravel(j, outputs[o].shape);
          throw new GradcheckError(
            `${op}: Jacobian mismatch for output ${o} element ${formatShape(outputElement)} with respect to ${label} element ${formatShape(element)} ` +
              `(input shape ${formatShape(input.shape)}): ${actualName} ${a}, ${expectedName} ${n}, difference ${Math.abs(a - n)} exceeds atol ${atol} + rtol ${rtol} * |${expectedName}|`,
            inputIndex,
            element,
            o,
            a,
            n,
          );
        }
      }
    }
  }
  return true;
}

export interface GradgradcheckOptions extends GradcheckOptions {
  /** Gradients of the outputs to backpropagate; random float64 values when omitted. */
  gradOutputs?: Tensor[];
  seed?: number;
}

/**
 * Checks second derivatives: builds the gradient of `fn` with `createGraph: true` and gradchecks
 * that gradient as a function of the inputs and of the output gradients.
 */
export function gradgradcheck(fn: Fn, inputs: Tensor[], options: GradgradcheckOptions = {}): boolean {
  checkInputs('gradgradcheck', inputs);
  const differentiable = inputs.filter((t) => t.requiresGrad);
  const outputs = asList(fn(...inputs));
  const generator = new Generator(options.seed ?? 0);
  const gradOutputs =
    options.gradOutputs ??
    outputs.map((o) => {
      const values = new Float64Array(o.numel());
      for (let i = 0; i < values.length; i++) values[i] = generator.normal();
      return Tensor.fromTypedArray(values, o.shape).requiresGrad_(true);
    });

  // gradcheck evaluates its function under noGrad for the finite differences, but the first
  // derivative is itself computed by a backward pass, which needs recording on.
  const firstDerivative = (...args: Tensor[]): Tensor[] => enableGrad(() => {
    const xs = args.slice(0, inputs.length);
    const gs = args.slice(inputs.length);
    const ys = asList(fn(...xs));
    const wanted = xs.filter((t) => t.requiresGrad);
    return grad(ys, wanted, { gradOutputs: gs, createGraph: true, allowUnused: true }).map(
      (g, k) => g ?? Tensor.fromTypedArray(new Float64Array(wanted[k].numel()), wanted[k].shape),
    );
  });
  if (differentiable.length === 0) throw new ValueError('gradgradcheck: no input requires grad');
  return gradcheck(firstDerivative, [...inputs, ...gradOutputs], options);
}

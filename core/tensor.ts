/**
 * The Tensor: an ndarray view (shape, strides, offset over a storage buffer) plus what autograd
 * needs (requiresGrad, grad, the node that made it). Ops live in `ops/` and are attached as
 * methods by `ops/methods.ts`, so this file holds only state, views and the autograd entry points.
 */
import ndarray from 'ndarray';

import { backward as runBackward } from './autograd.js';
import type { Node } from './autograd.js';
import { type DType, type TypedArray, dtypeOfArray } from './dtype.js';
import { AutogradError, IndexError, ValueError, formatShape } from './errors.js';
import { contiguousStrides, isContiguous, numel } from './shape.js';
import { formatTensor } from './print.js';

export type Device = 'cpu' | 'gpu';

/**
 * Storage that lives off the JavaScript heap (a GPU texture or array). ndarray accepts any object
 * with `get`, `set` and `length`, so device tensors keep the same view type as CPU tensors; the
 * GPU backend reads elements through `get` only when a tensor is copied back.
 */
export interface DeviceStorage extends ndarray.GenericArray<number> {
  readonly device: Device;
  readonly dtype: DType;
  dispose(): void;
}

export type StorageData = TypedArray | DeviceStorage;

/** Counts in-place writes to one storage buffer; views of the buffer share the counter. */
export interface VersionCounter {
  value: number;
}

export type GradHook = (grad: Tensor) => Tensor | void;

export interface BackwardOptions {
  retainGraph?: boolean;
  createGraph?: boolean;
  /** Accumulate gradients only into these tensors instead of every leaf. */
  inputs?: Tensor[];
}

export class Tensor {
  /** The strided view over the storage: shape, stride and offset in elements. */
  nd: ndarray.NdArray<StorageData>;
  dtype: DType;
  device: Device;

  /** Gradient accumulated by `backward()`; only leaves (and tensors that call retainGrad) get one. */
  grad: Tensor | null = null;

  /** @internal The node that produced this tensor, or null for a leaf. */
  _gradFn: Node | null = null;
  /** @internal */
  _requiresGrad = false;
  /** @internal */
  _retainsGrad = false;
  /** @internal */
  _hooks: GradHook[] = [];
  /** @internal */
  _version: VersionCounter;
  /** Optional label shown in gradcheck and error messages. */
  name: string | undefined;

  constructor(nd: ndarray.NdArray<StorageData>, dtype: DType, device: Device, version?: VersionCounter) {
    this.nd = nd;
    this.dtype = dtype;
    this.device = device;
    this._version = version ?? { value: 0 };
  }

  /** Wraps a contiguous typed array as a tensor of the given shape, without copying. */
  static fromTypedArray(data: TypedArray, shape: readonly number[], dtype: DType = dtypeOfArray(data)): Tensor {
    if (numel(shape) !== data.length) {
      throw new ValueError(`Tensor.fromTypedArray: shape ${formatShape(shape)} needs ${numel(shape)} elements but the array has ${data.length}`);
    }
    return new Tensor(ndarray(data, [...shape], contiguousStrides(shape), 0), dtype, 'cpu');
  }

  /** Makes a view of the same storage with new shape, strides and offset (no copy). */
  view_(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    return new Tensor(ndarray(this.nd.data, [...shape], [...strides], offset), this.dtype, this.device, this._version);
  }

  get shape(): number[] {
    return this.nd.shape.slice();
  }

  get ndim(): number {
    return this.nd.shape.length;
  }

  get strides(): number[] {
    return this.nd.stride.slice();
  }

  get offset(): number {
    return this.nd.offset;
  }

  /** The storage buffer: a typed array on the CPU, a DeviceStorage elsewhere. */
  get storage(): StorageData {
    return this.nd.data;
  }

  /** A detached view of the values, as PyTorch's `.data`. */
  get data(): Tensor {
    return this.detach();
  }

  /**
   * Replaces the values (and possibly dtype and device) while keeping this tensor object, so that
   * references held by optimizers and modules stay valid; `module.to('gpu')` uses it. No history
   * is recorded, as with PyTorch's `param.data = ...`.
   */
  set data(source: Tensor) {
    this.nd = source.nd;
    this.dtype = source.dtype;
    this.device = source.device;
    this._version = source._version;
  }

  numel(): number {
    return numel(this.nd.shape);
  }

  /** Returns the size of one dim, or the whole shape when no dim is given (PyTorch's `size()`). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number[] | number {
    if (dim === undefined) return this.shape;
    const rank = this.ndim;
    if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
      throw new IndexError(`size: dim ${dim} is out of range for shape ${formatShape(this.shape)}`);
    }
    return this.nd.shape[dim < 0 ? dim + rank : dim];
  }

  isContiguous(): boolean {
    return isContiguous(this.nd.shape, this.nd.stride);
  }

  isFloatingPoint(): boolean {
    return this.dtype === 'float32' || this.dtype === 'float64';
  }

  // ---- autograd state -------------------------------------------------------------------

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }

  set requiresGrad(flag: boolean) {
    this.requiresGrad_(flag);
  }

  /** Sets requiresGrad on a leaf in place and returns the tensor, as in PyTorch. */
  requiresGrad_(flag = true): this {
    if (!flag && this._gradFn !== null) {
      throw new AutogradError(
        `requiresGrad_(false) on a tensor produced by ${this._gradFn.name}: only leaves can change it; use detach() to get a tensor without history`,
      );
    }
    if (flag && !this.isFloatingPoint()) {
      throw new AutogradError(`requiresGrad_: only floating tensors can require gradients, but this tensor is ${this.dtype}; convert it with .to('float32') first`);
    }
    this._requiresGrad = flag;
    return this;
  }

  /** The autograd node that produced this tensor (null for leaves). */
  get gradFn(): Node | null {
    return this._gradFn;
  }

  /** A leaf was made by the user rather than by a recorded op. */
  get isLeaf(): boolean {
    return this._gradFn === null;
  }

  /** Asks backward() to keep this non-leaf tensor's gradient in `.grad`. */
  retainGrad(): this {
    if (!this._requiresGrad) throw new AutogradError('retainGrad: the tensor does not require grad, so it will never receive a gradient');
    this._retainsGrad = true;
    return this;
  }

  /**
   * Registers a function called with this tensor's gradient during backward; if it returns a
   * tensor, that tensor replaces the gradient. Returns a handle whose `remove()` unregisters it.
   */
  registerHook(hook: GradHook): { remove(): void } {
    if (!this._requiresGrad) throw new AutogradError('registerHook: cannot register a hook on a tensor that does not require grad');
    this._hooks.push(hook);
    return {
      remove: () => {
        this._hooks = this._hooks.filter((h) => h !== hook);
      },
    };
  }

  /** Computes gradients of this tensor with respect to the graph leaves and adds them to `.grad`. */
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    runBackward([this], gradient === undefined ? undefined : [gradient], options);
  }

  /** Returns a tensor that shares storage but has no history and does not require grad. */
  detach(): Tensor {
    return new Tensor(this.nd, this.dtype, this.device, this._version);
  }

  /** Detaches this tensor from the graph in place, making it a leaf. */
  detach_(): this {
    this._gradFn = null;
    this._requiresGrad = false;
    return this;
  }

  /** @internal Marks an in-place write, so that backward can detect stale saved tensors. */
  _bumpVersion(): void {
    this._version.value++;
  }

  /** The number of in-place writes to this tensor's storage so far. */
  get version(): number {
    return this._version.value;
  }

  // ---- element access -------------------------------------------------------------------

  /** Reads one element by multi-index (negative indices count from the end). */
  get(...index: number[]): number {
    this.assertOnCpu('get');
    return this.nd.get(...this.checkIndex(index, 'get'));
  }

  /** Returns the value of a one-element tensor as a JavaScript number. */
  item(): number {
    if (this.numel() !== 1) {
      throw new ValueError(`item: only one-element tensors can be converted to a number, but shape is ${formatShape(this.shape)}; index or reduce it first`);
    }
    // With one element every multi-index is all zeros, so the element sits at the view's offset.
    const cpu = this.device === 'cpu' ? this : this.cpu();
    return (cpu.nd.data as TypedArray)[cpu.nd.offset];
  }

  /** Returns the elements as nested JavaScript arrays (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const values = this.toTypedArray();
    const shape = this.shape;
    if (shape.length === 0) return values[0];
    const build = (dim: number, start: number): NestedArray[] => {
      const stride = numel(shape.slice(dim + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < shape[dim]; i++) {
        out.push(dim === shape.length - 1 ? values[start + i] : build(dim + 1, start + i * stride));
      }
      return out;
    };
    return build(0, 0);
  }

  /** Alias of toArray(), named as in PyTorch. */
  tolist(): NestedArray {
    return this.toArray();
  }

  /** Returns a new contiguous typed array with the elements in row-major order. */
  toTypedArray(): TypedArray {
    const cpu = this.device === 'cpu' ? this : this.cpu();
    return copyToContiguous(cpu);
  }

  toString(): string {
    return formatTensor(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return formatTensor(this);
  }

  private checkIndex(index: number[], op: string): number[] {
    const shape = this.nd.shape;
    if (index.length !== shape.length) {
      throw new IndexError(`${op}: expected ${shape.length} indices for shape ${formatShape(shape)}, got ${index.length}`);
    }
    return index.map((i, d) => {
      if (!Number.isInteger(i) || i < -shape[d] || i >= shape[d]) {
        throw new IndexError(`${op}: index ${i} is out of range for dim ${d} of size ${shape[d]}`);
      }
      return i < 0 ? i + shape[d] : i;
    });
  }

  private assertOnCpu(op: string): void {
    if (this.device !== 'cpu') {
      throw new ValueError(`${op}: the tensor is on '${this.device}'; call .cpu() first to read elements`);
    }
  }
}

/** Copies a CPU tensor's elements into a fresh row-major typed array of the same dtype. */
export function copyToContiguous(tensor: Tensor): TypedArray {
  const nd = tensor.nd;
  const source = nd.data as TypedArray;
  const size = numel(nd.shape);
  const Constructor = source.constructor as new (length: number) => TypedArray;

  if (isContiguous(nd.shape, nd.stride)) {
    return source.slice(nd.offset, nd.offset + size) as TypedArray;
  }

  const out = new Constructor(size);
  const shape = nd.shape;
  const strides = nd.stride;
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  const inner = rank === 0 ? 1 : shape[rank - 1];
  const innerStride = rank === 0 ? 0 : strides[rank - 1];
  let position = nd.offset;
  let written = 0;
  while (written < size) {
    for (let j = 0, p = position; j < inner; j++, p += innerStride) out[written++] = source[p];
    // Advance the multi-index over every dim but the last, carrying like an odometer.
    let d = rank - 2;
    for (; d >= 0; d--) {
      index[d]++;
      position += strides[d];
      if (index[d] < shape[d]) break;
      position -= strides[d] * shape[d];
      index[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

export type NestedArray = number | NestedArray[];

// Filled in by ops/methods.ts: moving to another device needs the backend registry.
export interface Tensor {
  cpu(): Tensor;
}

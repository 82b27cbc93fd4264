/**
 * fast-check arbitraries for property tests of tensor code: shapes, tensors whose values avoid
 * the kinks of non-differentiable ops, broadcastable shape pairs, non-contiguous views and
 * matmul operand shapes. The library's own tests use them, and users can import them from
 * `singlora/testing` to check their ops, modules and custom Functions the same way:
 *
 *   import fc from 'fast-check';
 *   import { gradcheck } from 'singlora';
 *   import { tensorArb } from 'singlora/testing';
 *
 *   fc.assert(fc.property(tensorArb({ requiresGrad: true }), (x) => gradcheck((t) => t.tanh(), [x])));
 *
 * Generated tensors are mutable (backward writes `.grad`, in-place ops change storage), so each
 * one carries fast-check's clone method, and fast-check copies a value before it hands the value
 * out a second time. They also print with full precision, shape, strides and offset in
 * counterexample reports.
 */
import fc from 'fast-check';

import { type DType, Tensor, ValueError } from '../index.js';
import { type TypedArray, allocate } from '../core/dtype.js';
import { isContiguous, numel } from '../core/shape.js';

// ---- shapes ---------------------------------------------------------------------------------

export interface ShapeArbOptions {
  /** Minimum number of dims (default 0, a scalar). */
  minRank?: number;
  /** Maximum number of dims (default 3). */
  maxRank?: number;
  /** Smallest size of a dim (default 1; pass 0 to include empty tensors). */
  minSize?: number;
  /** Largest size of a dim (default 4). Gradient checks cost one forward pass per element, so keep it small. */
  maxSize?: number;
}

/**
 * Generates shapes: lists of `minRank..maxRank` sizes, each in `minSize..maxSize`. Shrinks
 * toward fewer and smaller dims.
 *
 * @example
 *   fc.assert(fc.property(shapeArb({ minRank: 1, maxSize: 3 }), (shape) => zeros(shape).numel() === shape.reduce((a, b) => a * b, 1)));
 */
export function shapeArb(options: ShapeArbOptions = {}): fc.Arbitrary<number[]> {
  const { minRank, maxRank, minSize, maxSize } = resolveShapeOptions('shapeArb', options);
  return fc.array(fc.integer({ min: minSize, max: maxSize }), { minLength: minRank, maxLength: maxRank });
}

function resolveShapeOptions(op: string, options: ShapeArbOptions): Required<ShapeArbOptions> {
  const resolved = { minRank: options.minRank ?? 0, maxRank: options.maxRank ?? 3, minSize: options.minSize ?? 1, maxSize: options.maxSize ?? 4 };
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 0) throw new ValueError(`${op}: ${key} must be a non-negative integer, got ${value}`);
  }
  if (resolved.minRank > resolved.maxRank) throw new ValueError(`${op}: minRank ${resolved.minRank} is greater than maxRank ${resolved.maxRank}`);
  if (resolved.minSize > resolved.maxSize) throw new ValueError(`${op}: minSize ${resolved.minSize} is greater than maxSize ${resolved.maxSize}`);
  return resolved;
}

// ---- element values -------------------------------------------------------------------------

export interface ValueArbOptions {
  /** Element type (default 'float64', the dtype that gradcheck needs). */
  dtype?: DType;
  /** Smallest value (default -3, or `margin` with `positive`). */
  min?: number;
  /** Largest value (default 3). */
  max?: number;
  /**
   * Points to keep away from, where the op under test has a kink or a pole: 0 for relu, abs,
   * sign and reciprocal, the bounds of clamp. Finite differences that straddle a kink measure
   * neither one-sided derivative, so gradient checks fail there even for a correct backward.
   */
  awayFrom?: readonly number[];
  /** Smallest distance from every `awayFrom` point (default 0.1); keep it well above gradcheck's eps. */
  margin?: number;
  /** Only values at least `margin` above 0, for log, sqrt, rsqrt and the bases of pow (default false). */
  positive?: boolean;
  /**
   * Smallest distance between any two elements of one tensor, for max, min and maximum, whose
   * gradient jumps where elements tie. Unset by default (values may repeat).
   */
  separation?: number;
  /** Call requiresGrad_() on the generated tensor (floating dtypes only; default false). */
  requiresGrad?: boolean;
}

export interface TensorArbOptions extends ValueArbOptions {
  /** A fixed shape, or an arbitrary of shapes (default `shapeArb()`). */
  shape?: readonly number[] | fc.Arbitrary<number[]>;
}

interface ResolvedValueOptions {
  dtype: DType;
  min: number;
  max: number;
  /** Closed intervals that make up the allowed values, in increasing order. */
  allowed: [number, number][];
  separation: number | undefined;
  requiresGrad: boolean;
}

function resolveValueOptions(op: string, options: ValueArbOptions): ResolvedValueOptions {
  const dtype = options.dtype ?? 'float64';
  const margin = options.margin ?? 0.1;
  if (!(margin >= 0)) throw new ValueError(`${op}: margin must be non-negative, got ${margin}`);
  const positive = options.positive ?? false;
  const min = positive ? Math.max(options.min ?? margin, margin) : (options.min ?? -3);
  const max = options.max ?? 3;
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new ValueError(`${op}: min and max must be finite with min <= max, got min=${min}, max=${max}${positive ? ' (positive raises min to margin)' : ''}`);
  }
  const separation = options.separation;
  if (separation !== undefined && !(separation > 0)) throw new ValueError(`${op}: separation must be positive, got ${separation}`);
  const requiresGrad = options.requiresGrad ?? false;
  if (requiresGrad && dtype !== 'float32' && dtype !== 'float64') {
    throw new ValueError(`${op}: requiresGrad needs a floating dtype, got ${dtype}`);
  }

  const allowed = allowedIntervals(min, max, options.awayFrom ?? [], margin);
  if (allowed.length === 0) {
    throw new ValueError(
      `${op}: no value in [${min}, ${max}] is at least ${margin} away from every point of ${JSON.stringify(options.awayFrom)}; widen the range or lower the margin`,
    );
  }
  return { dtype, min, max, allowed, separation, requiresGrad };
}

/** Removes the open interval (p - margin, p + margin) around each point from [min, max]. */
function allowedIntervals(min: number, max: number, points: readonly number[], margin: number): [number, number][] {
  let intervals: [number, number][] = [[min, max]];
  for (const point of points) {
    const next: [number, number][] = [];
    for (const [low, high] of intervals) {
      if (point + margin <= low || point - margin >= high) {
        next.push([low, high]);
        continue;
      }
      if (point - margin >= low) next.push([low, point - margin]);
      if (point + margin <= high) next.push([point + margin, high]);
    }
    intervals = next;
  }
  // A single point (zero-length interval) is allowed but would have no probability mass; keep it
  // only when it is all that remains, so that min === max still works.
  const wide = intervals.filter(([low, high]) => high > low);
  return wide.length > 0 ? wide : intervals;
}

/** Moves `value` to the nearest allowed value, which lies on the edge of an excluded zone. */
function projectToAllowed(value: number, allowed: readonly [number, number][]): number {
  let best = value;
  let bestDistance = Infinity;
  for (const [low, high] of allowed) {
    const candidate = Math.min(Math.max(value, low), high);
    const distance = Math.abs(candidate - value);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Maps a position in [0, total allowed length] onto the allowed intervals, skipping the gaps. */
function positionToValue(position: number, allowed: readonly [number, number][]): number {
  let rest = position;
  for (const [low, high] of allowed) {
    if (rest <= high - low) return low + rest;
    rest -= high - low;
  }
  return allowed[allowed.length - 1][1];
}

const GRID_STEPS = 2 ** 30;

/**
 * Draws from a grid of 2^30 + 1 evenly spaced values over [min, max], shrinking toward the one
 * nearest 0. A grid rather than fc.double, whose bias toward subnormal and huge magnitudes
 * would make most inputs of a gradient check degenerate.
 */
function uniformArb(min: number, max: number): fc.Arbitrary<number> {
  if (min === max) return fc.constant(min);
  const unit = (max - min) / GRID_STEPS;
  const clampToRange = (v: number): number => Math.min(Math.max(v, min), max);
  if (min > 0) return fc.integer({ min: 0, max: GRID_STEPS }).map((i) => clampToRange(min + i * unit));
  if (max < 0) return fc.integer({ min: 0, max: GRID_STEPS }).map((i) => clampToRange(max - i * unit));
  return fc.integer({ min: Math.ceil(min / unit), max: Math.floor(max / unit) }).map((i) => clampToRange(i * unit));
}

/** Generates `count` element values as a typed array of the option's dtype. */
function valuesArb(count: number, options: ResolvedValueOptions): fc.Arbitrary<TypedArray> {
  const { dtype, min, max, allowed, separation } = options;
  if (dtype === 'bool') return fc.array(fc.boolean(), { minLength: count, maxLength: count }).map((v) => Uint8Array.from(v, Number));
  if (dtype === 'int32') {
    const low = Math.ceil(min);
    const high = Math.floor(max);
    if (low > high) throw new ValueError(`tensorArb: no integer lies in [${min}, ${max}] for dtype int32`);
    return fc.array(fc.integer({ min: low, max: high }), { minLength: count, maxLength: count }).map((v) => Int32Array.from(v));
  }

  const store = (values: number[]): TypedArray => (dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values));
  if (separation === undefined) {
    const element = uniformArb(min, max).map((v) => projectToAllowed(v, allowed));
    return fc.array(element, { minLength: count, maxLength: count }).map(store);
  }

  // Distinct cells of width 2 * separation, with a jitter of up to one separation inside each,
  // keep any two positions at least `separation` apart. Mapping positions onto the allowed
  // intervals only widens the distances, because it skips the excluded gaps.
  const total = allowed.reduce((length, [low, high]) => length + high - low, 0);
  const cells = Math.floor(total / (2 * separation));
  if (cells < count) {
    throw new ValueError(
      `tensorArb: ${count} values at least ${separation} apart do not fit in [${min}, ${max}] (minus the awayFrom zones); widen the range, lower separation or use smaller shapes`,
    );
  }
  const cell = fc.integer({ min: 0, max: cells - 1 });
  return fc
    .tuple(fc.uniqueArray(cell, { minLength: count, maxLength: count }), fc.array(uniformArb(0, separation), { minLength: count, maxLength: count }))
    .map(([indices, jitter]) => store(indices.map((c, i) => positionToValue(c * 2 * separation + jitter[i], allowed))));
}


function shapeSource(shape: TensorArbOptions['shape'], fallback: fc.Arbitrary<number[]>): fc.Arbitrary<number[]> {
  if (shape === undefined) return fallback;
  if (Array.isArray(shape)) return fc.constant([...shape]);
  return shape as fc.Arbitrary<number[]>;
}

// ---- tensors --------------------------------------------------------------------------------

/**
 * Generates contiguous CPU tensors. Values are uniform in [min, max] and, for floating dtypes,
 * at least `margin` away from each `awayFrom` point (up to float32 rounding), and at least
 * `separation` apart from each other when that is set.
 *
 * @example
 *   // relu's derivative jumps at 0, so keep inputs away from it.
 *   fc.assert(fc.property(tensorArb({ awayFrom: [0], requiresGrad: true }), (x) => gradcheck((t) => t.relu(), [x])));
 *   // log needs positive inputs: at least margin (0.2) above 0.
 *   fc.assert(fc.property(tensorArb({ positive: true, margin: 0.2, requiresGrad: true }), (x) => gradcheck((t) => t.log(), [x])));
 */
export function tensorArb(options: TensorArbOptions = {}): fc.Arbitrary<Tensor> {
  const values = resolveValueOptions('tensorArb', options);
  return shapeSource(options.shape, shapeArb()).chain((shape) =>
    valuesArb(numel(shape), values).map((data) => withTestMethods(finishLeaf(Tensor.fromTypedArray(data, shape, values.dtype), values.requiresGrad))),
  );
}

function finishLeaf(t: Tensor, requiresGrad: boolean): Tensor {
  return requiresGrad ? t.requiresGrad_(true) : t;
}

/** Copies a tensor's whole storage and rebuilds the same view over the copy, keeping requiresGrad. */
function cloneLeaf(t: Tensor): Tensor {
  const storage = (t.storage as TypedArray).slice();
  const copy = Tensor.fromTypedArray(storage, [storage.length], t.dtype).view_(t.shape, t.strides, t.offset);
  copy.name = t.name;
  return withTestMethods(finishLeaf(copy, t.requiresGrad));
}

/** Attaches fast-check's clone and print methods to a generated tensor. */
function withTestMethods(t: Tensor): Tensor {
  Object.defineProperty(t, fc.cloneMethod, { value: () => cloneLeaf(t), configurable: true });
  Object.defineProperty(t, fc.toStringMethod, { value: () => describeTensor(t), configurable: true });
  return t;
}

/** Prints every value with full precision, so that a counterexample can be rebuilt exactly. */
export function describeTensor(t: Tensor): string {
  const values = Array.from(t.toTypedArray());
  const layout = t.isContiguous() && t.offset === 0 ? '' : `, strides [${t.strides.join(', ')}], offset ${t.offset}`;
  const grad = t.requiresGrad ? ', requiresGrad' : '';
  return `Tensor(shape [${t.shape.join(', ')}]${layout}, ${t.dtype}${grad}, values [${values.join(', ')}])`;
}

// ---- non-contiguous views -------------------------------------------------------------------

/** A strided view and an independent contiguous tensor holding the same values. */
export interface NonContiguousSample {
  /** A leaf view over a larger, padded storage buffer; `view.isContiguous()` is false. */
  view: Tensor;
  /** A contiguous tensor with the same shape and values as `view`, sharing no storage with it. */
  contiguous: Tensor;
  /** Description of the layout, e.g. `permute [1, 0] + slice dim 0 step 2 from 1`. */
  layout: string;
}

/**
 * Generates non-contiguous views: a transposed, permuted or sliced-with-step (or permuted and
 * sliced) view of a padded buffer, with the same values as an independent contiguous tensor.
 * Storage that the view does not cover contains NaN (for floating dtypes), so a kernel that reads
 * outside the view shows up as NaN in its output. Takes the options of `tensorArb`. The default
 * shapes have rank 1 to 3, and every shape needs at least 2 elements, because a view with fewer
 * is always contiguous.
 *
 * @example
 *   // An op must give the same values on a strided view as on a contiguous copy.
 *   fc.assert(fc.property(nonContiguousTensorArb(), ({ view, contiguous }) => {
 *     assert.deepEqual(view.exp().toArray(), contiguous.exp().toArray());
 *   }));
 */
export function nonContiguousTensorArb(options: TensorArbOptions = {}): fc.Arbitrary<NonContiguousSample> {
  const values = resolveValueOptions('nonContiguousTensorArb', options);
  const shapes = shapeSource(options.shape, shapeArb({ minRank: 1 }).filter((s) => numel(s) >= 2));
  return shapes.chain((shape) => {
    if (numel(shape) < 2) {
      throw new ValueError(`nonContiguousTensorArb: shape [${shape.join(', ')}] has fewer than 2 elements, and such a view is always contiguous`);
    }
    const rank = shape.length;
    const dims = shape.map((_, d) => d);
    const permutation = fc.oneof(fc.constant(dims), transpositionArb(rank), fc.shuffledSubarray(dims, { minLength: rank, maxLength: rank }));
    const layout = fc.record({
      permutation,
      stepDim: fc.integer({ min: -1, max: rank - 1 }),
      step: fc.integer({ min: 2, max: 3 }),
      start: fc.integer({ min: 0, max: 2 }),
      padding: fc.integer({ min: 0, max: 2 }),
    });
    return fc.tuple(valuesArb(numel(shape), values), layout).map(([data, choice]) => buildView(shape, data, values, choice));
  });
}

function transpositionArb(rank: number): fc.Arbitrary<number[]> {
  if (rank < 2) return fc.constant([0]);
  return fc.tuple(fc.integer({ min: 0, max: rank - 1 }), fc.integer({ min: 0, max: rank - 1 })).map(([i, j]) => {
    const order = Array.from({ length: rank }, (_, d) => d);
    [order[i], order[j]] = [order[j], order[i]];
    return order;
  });
}

interface LayoutChoice {
  permutation: number[];
  stepDim: number;
  step: number;
  start: number;
  padding: number;
}

function buildView(shape: number[], data: TypedArray, options: ResolvedValueOptions, choice: LayoutChoice): NonContiguousSample {
  let layout = stridedLayout(shape, choice);
  // A permutation that moves only size-1 dims (and no step) leaves the view contiguous; then
  // stepping the last dim of size > 1 is what makes it strided.
  if (isContiguous(shape, layout.strides)) {
    const last = shape.map((size, d) => (size > 1 ? d : -1)).reduce((a, b) => Math.max(a, b));
    layout = stridedLayout(shape, { ...choice, stepDim: last });
  }

  const storage = allocate(options.dtype, layout.storageLength);
  if (options.dtype === 'float32' || options.dtype === 'float64') storage.fill(NaN);
  writeThroughView(storage, shape, layout.strides, layout.offset, data);

  const base = Tensor.fromTypedArray(storage, [storage.length], options.dtype);
  const view = withTestMethods(finishLeaf(base.view_(shape, layout.strides, layout.offset), options.requiresGrad));
  const contiguous = withTestMethods(finishLeaf(Tensor.fromTypedArray(data.slice(), shape, options.dtype), options.requiresGrad));
  const sample: NonContiguousSample = { view, contiguous, layout: layout.description };
  Object.defineProperty(sample, fc.cloneMethod, {
    value: () => ({ ...sample, view: cloneLeaf(view), contiguous: cloneLeaf(contiguous) }),
    configurable: true,
  });
  return sample;
}

interface StridedLayout {
  strides: number[];
  offset: number;
  storageLength: number;
  description: string;
}

/**
 * Computes the strides and offset of the view. View dim k lives in storage dim `permutation[k]`.
 * The stepped dim is stored `step` times longer and read every `step`-th element from `start`.
 * The storage starts with `padding` unused elements.
 */
function stridedLayout(shape: number[], choice: LayoutChoice): StridedLayout {
  const { permutation, stepDim, step, padding } = choice;
  const start = stepDim >= 0 ? choice.start % step : 0;
  const storedShape = new Array<number>(shape.length);
  shape.forEach((size, k) => (storedShape[permutation[k]] = k === stepDim ? size * step : size));

  const storedStrides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    storedStrides[d] = stride;
    stride *= storedShape[d];
  }

  const strides = shape.map((_, k) => storedStrides[permutation[k]] * (k === stepDim ? step : 1));
  const offset = padding + (stepDim >= 0 ? start * storedStrides[permutation[stepDim]] : 0);
  const parts: string[] = [];
  if (permutation.some((p, k) => p !== k)) parts.push(`permute [${permutation.join(', ')}]`);
  if (stepDim >= 0) parts.push(`slice dim ${stepDim} step ${step} from ${start}`);
  if (padding > 0) parts.push(`offset ${padding}`);
  return { strides, offset, storageLength: padding + numel(storedShape), description: parts.join(' + ') };
}

/** Writes `values` (row-major for `shape`) into `storage` at the positions a strided view reads. */
function writeThroughView(storage: TypedArray, shape: readonly number[], strides: readonly number[], offset: number, values: TypedArray): void {
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < values.length; i++) {
    let position = offset;
    for (let d = 0; d < shape.length; d++) position += index[d] * strides[d];
    storage[position] = values[i];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

// ---- shape pairs ----------------------------------------------------------------------------

/** Two shapes that broadcast together, and the shape they broadcast to. */
export interface BroadcastPair {
  a: number[];
  b: number[];
  /** The broadcast result shape, built by the generator (not computed by the library). */
  out: number[];
}

/**
 * Generates pairs of shapes that broadcast under NumPy rules. The result shape comes from
 * `shapeArb(options)`. Each input then replaces some of its dims with 1, and one of them may
 * drop leading dims, so pairs of different ranks and with size-1 dims on either side are common.
 *
 * @example
 *   fc.assert(fc.property(broadcastPairArb({ maxRank: 3 }).chain(({ a, b }) =>
 *     fc.tuple(tensorArb({ shape: a, requiresGrad: true }), tensorArb({ shape: b, requiresGrad: true }))),
 *     ([x, y]) => gradcheck((p, q) => p.mul(q), [x, y])));
 */
export function broadcastPairArb(options: ShapeArbOptions = {}): fc.Arbitrary<BroadcastPair> {
  resolveShapeOptions('broadcastPairArb', options);
  return shapeArb(options).chain((out) => {
    const rank = out.length;
    return fc
      .record({
        // Per dim: 0 keeps the size on both sides, 1 sets it to 1 in a, 2 sets it to 1 in b.
        modes: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: rank, maxLength: rank }),
        shorter: fc.constantFrom('a' as const, 'b' as const),
        dropped: fc.integer({ min: 0, max: rank }),
      })
      .map(({ modes, shorter, dropped }) => {
        const a = out.map((size, d) => (modes[d] === 1 ? 1 : size));
        const b = out.map((size, d) => (modes[d] === 2 ? 1 : size));
        // A dropped leading dim counts as size 1, so the other input must keep the full size there.
        const [short, long] = shorter === 'a' ? [a, b] : [b, a];
        for (let d = 0; d < dropped; d++) long[d] = out[d];
        short.splice(0, dropped);
        return { a, b, out: [...out] };
      });
  });
}

/** Operand shapes for matmul and the shape of the product, per NumPy's matmul rules. */
export interface MatmulShapes {
  a: number[];
  b: number[];
  out: number[];
}

export interface MatmulShapesArbOptions {
  /** Most batch dims of each operand (default 2). */
  maxBatchRank?: number;
  /** Largest matrix and batch size (default 4). */
  maxSize?: number;
}

/**
 * Generates matmul operand shapes: 1-D·1-D (a scalar), 1-D·N-D, N-D·1-D, plain matrices and
 * batched operands whose batch dims broadcast (differing ranks, size-1 batch dims). A 1-D left
 * operand acts as a row vector and a 1-D right operand as a column vector, and their added dim
 * is absent from `out`.
 *
 * @example
 *   fc.assert(fc.property(matmulShapesArb().chain(({ a, b }) =>
 *     fc.tuple(tensorArb({ shape: a, requiresGrad: true }), tensorArb({ shape: b, requiresGrad: true }))),
 *     ([x, y]) => gradcheck((p, q) => p.matmul(q), [x, y])));
 */
export function matmulShapesArb(options: MatmulShapesArbOptions = {}): fc.Arbitrary<MatmulShapes> {
  const maxBatchRank = options.maxBatchRank ?? 2;
  const maxSize = options.maxSize ?? 4;
  if (!Number.isInteger(maxBatchRank) || maxBatchRank < 0) throw new ValueError(`matmulShapesArb: maxBatchRank must be a non-negative integer, got ${maxBatchRank}`);
  if (!Number.isInteger(maxSize) || maxSize < 1) throw new ValueError(`matmulShapesArb: maxSize must be a positive integer, got ${maxSize}`);

  const size = fc.integer({ min: 1, max: maxSize });
  return fc
    .record({
      m: size,
      k: size,
      n: size,
      aIsVector: fc.boolean(),
      bIsVector: fc.boolean(),
      batch: broadcastPairArb({ minRank: 0, maxRank: maxBatchRank, maxSize }),
    })
    .map(({ m, k, n, aIsVector, bIsVector, batch }) => {
      // A 1-D operand has no batch dims, so the product takes the other operand's batch shape.
      const batchA = aIsVector ? [] : batch.a;
      const batchB = bIsVector ? [] : batch.b;
      let outBatch = batch.out;
      if (aIsVector) outBatch = batchB;
      else if (bIsVector) outBatch = batchA;
      return {
        a: aIsVector ? [k] : [...batchA, m, k],
        b: bIsVector ? [k] : [...batchB, k, n],
        out: [...outBatch, ...(aIsVector ? [] : [m]), ...(bIsVector ? [] : [n])],
      };
    });
}

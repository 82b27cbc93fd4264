/**
 * Reductions along dims. Each output element is reduced in chunks of REDUCE_CHUNK elements, one
 * thread per chunk, and the partial results are reduced again until one chunk is left. So long
 * reductions use many threads, and float32 sums add at most REDUCE_CHUNK terms in sequence.
 */
import type { ArgReduceOp, ReduceOp } from '../../core/backend.js';
import { coalesce } from '../../core/cpu/strided.js';
import type { DType } from '../../core/dtype.js';
import { IndexError, formatShape } from '../../core/errors.js';
import { contiguousStrides, numel } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { KernelBuilder } from '../codegen.js';
import { runKernel } from '../kernel-cache.js';
import { GpuStorage, storageOf, wrapStorage } from '../storage.js';
import { checkSize, full } from './elementwise.js';

const REDUCE_CHUNK = 64;

/** Splits the dims of `x` into kept ones and reduced ones, merging dims where the view allows. */
export function splitDims(x: Tensor, reduced: readonly number[]) {
  const shape = x.shape;
  const strides = x.strides;
  const kept = shape.map((_, d) => d).filter((d) => !reduced.includes(d));
  const keptShape = kept.map((d) => shape[d]);
  const reducedShape = reduced.map((d) => shape[d]);
  // The kept dims are laid out contiguously in the output, so they merge only where x agrees.
  const keptLayout = coalesce(keptShape, [contiguousStrides(keptShape), kept.map((d) => strides[d])]);
  const reducedLayout = coalesce(reducedShape, [reduced.map((d) => strides[d])]);
  return {
    outer: numel(keptShape),
    inner: numel(reducedShape),
    keptShape: keptLayout.shape,
    keptStrides: keptLayout.strides[1],
    reducedShape: reducedLayout.shape,
    reducedStrides: reducedLayout.strides[0],
  };
}

const IDENTITY: Record<ReduceOp, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };

/** Emits `accumulator = op(accumulator, value)`. Max and min propagate NaN, as the CPU backend does. */
function combine(op: ReduceOp, accumulator: string, value: string): string {
  switch (op) {
    case 'sum':
      return `${accumulator} = ${accumulator} + ${value};`;
    case 'prod':
      return `${accumulator} = ${accumulator} * ${value};`;
    case 'max':
      return `if (${accumulator} == ${accumulator} && (${value} != ${value} || ${value} > ${accumulator})) { ${accumulator} = ${value}; }`;
    case 'min':
      return `if (${accumulator} == ${accumulator} && (${value} != ${value} || ${value} < ${accumulator})) { ${accumulator} = ${value}; }`;
  }
}

export function reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  const outShape = keepdim ? x.shape.map((size, d) => (dims.includes(d) ? 1 : size)) : x.shape.filter((_, d) => !dims.includes(d));
  const dtype: DType = x.dtype === 'bool' && op === 'sum' ? 'int32' : x.dtype;
  checkSize(op, outShape);
  const split = splitDims(x, dims);
  if (split.outer === 0) return wrapStorage(new GpuStorage(null, 0, dtype), outShape, dtype);
  if (split.inner === 0) return full(outShape, IDENTITY[op], dtype);

  let partial = reducePass(op, x, split, dtype);
  let length = Math.ceil(split.inner / REDUCE_CHUNK);
  while (length > 1) {
    const view = wrapStorage(partial, [split.outer, length], dtype);
    const next = reducePass(op, view, splitDims(view, [1]), dtype);
    partial.dispose();
    partial = next;
    length = Math.ceil(length / REDUCE_CHUNK);
  }
  return wrapStorage(partial, outShape, dtype);
}

/** Runs one pass, in which thread (row, chunk) reduces up to REDUCE_CHUNK elements of its row. */
function reducePass(op: ReduceOp, x: Tensor, split: ReturnType<typeof splitDims>, dtype: DType): GpuStorage {
  const chunks = Math.ceil(split.inner / REDUCE_CHUNK);
  const b = new KernelBuilder(op);
  const source = b.buffer(storageOf(x, op));
  const position = b.unravel('this.thread.x', [...split.keptShape, chunks]);
  const chunk = position[position.length - 1];
  const rowStart = b.temporary('row');
  b.line(`let ${rowStart} = ${b.address({ strides: split.keptStrides, offset: x.offset }, position)};`);
  const accumulator = b.temporary('acc');
  b.line(`let ${accumulator} = ${op === 'max' ? `-${b.infinity()}` : op === 'min' ? b.infinity() : IDENTITY[op]};`);
  const inner = b.scalar(split.inner);
  b.line(`for (let j = 0; j < ${REDUCE_CHUNK}; j++) {`);
  const element = b.temporary('e');
  b.line(`let ${element} = ${chunk} * ${REDUCE_CHUNK} + j;`);
  b.line(`if (${element} < ${inner}) {`);
  const indices = b.unravel(element, split.reducedShape);
  b.line(`let value = ${source}[${rowStart} + ${b.address({ strides: split.reducedStrides, offset: 0 }, indices)}];`);
  b.line(combine(op, accumulator, 'value'));
  b.line('}');
  b.line('}');
  const length = split.outer * chunks;
  return new GpuStorage(runKernel(op, b.source(accumulator), length, b.arguments(), { specializeInputSizes: true }), length, dtype);
}

/** Returns the index of the first max (or min) along `dim`. A NaN counts as the extreme, as on the CPU. */
export function argReduce(op: ArgReduceOp, x: Tensor, dim: number, keepdim: boolean): Tensor {
  const size = x.shape[dim];
  if (size === 0) throw new IndexError(`${op}: cannot take ${op} over an empty dim ${dim} of shape ${formatShape(x.shape)}`);
  const outShape = keepdim ? x.shape.map((s, d) => (d === dim ? 1 : s)) : x.shape.filter((_, d) => d !== dim);
  const length = checkSize(op, outShape);
  if (length === 0) return wrapStorage(new GpuStorage(null, 0, 'int32'), outShape, 'int32');

  const split = splitDims(x, [dim]);
  const b = new KernelBuilder(op);
  const source = b.buffer(storageOf(x, op));
  const position = b.unravel('this.thread.x', split.keptShape);
  const rowStart = b.temporary('row');
  b.line(`let ${rowStart} = ${b.address({ strides: split.keptStrides, offset: x.offset }, position)};`);
  const stride = b.scalar(x.strides[dim]);
  const count = b.scalar(size);
  const better = op === 'argmax' ? '>' : '<';
  b.line(`let best = ${source}[${rowStart}];`);
  b.line('let bestIndex = 0;');
  b.line(`for (let j = 1; j < ${count}; j++) {`);
  b.line(`  let value = ${source}[${rowStart} + j * ${stride}];`);
  b.line(`  if (best == best && (value != value || value ${better} best)) { best = value; bestIndex = j; }`);
  b.line('}');
  const raw = runKernel(op, b.source('bestIndex'), length, b.arguments(), { specializeInputSizes: true });
  return wrapStorage(new GpuStorage(raw, length, 'int32'), outShape, 'int32');
}

/**
 * Softmax and log-softmax in two kernels: one thread per row computes the row's log-sum-exp
 * (max first, so exp never overflows), then one thread per element returns `x - lse` or
 * `exp(x - lse)`. Rows that are entirely -Infinity (fully masked attention rows) give zeros for
 * softmax and -Infinity for log-softmax instead of NaN, as on the CPU.
 */
import { type Tensor } from '../../core/tensor.js';
import { KernelBuilder } from '../codegen.js';
import { runKernel } from '../kernel-cache.js';
import { GpuStorage, storageOf, wrapStorage } from '../storage.js';
import { checkSize, mapKernel } from './elementwise.js';
import { splitDims } from './reduce.js';

export function softmax(x: Tensor, dim: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  const length = checkSize(op, x.shape);
  if (length === 0) return wrapStorage(new GpuStorage(null, 0, x.dtype), x.shape, x.dtype);

  const rowShape = x.shape.map((size, d) => (d === dim ? 1 : size));
  const lse = logSumExpRows(op, x, dim);
  const rows = wrapStorage(lse, rowShape, x.dtype);
  const out = mapKernel(op, x.shape, [x, rows], x.dtype, (b, [v, l]) => {
    const infinity = b.infinity();
    return log ? `(${l} == -${infinity} ? -${infinity} : ${v} - ${l})` : `(${l} == -${infinity} ? 0 : Math.exp(${v} - ${l}))`;
  });
  lse.dispose();
  return out;
}

/** Computes log(sum(exp(x))) along `dim`, one thread per row: -Infinity for an all -Infinity row, NaN if the row has NaN. */
function logSumExpRows(op: string, x: Tensor, dim: number): GpuStorage {
  const split = splitDims(x, [dim]);
  const b = new KernelBuilder(op);
  const source = b.buffer(storageOf(x, op));
  const infinity = b.infinity();
  const position = b.unravel('this.thread.x', split.keptShape);
  b.line(`let start = ${b.address({ strides: split.keptStrides, offset: x.offset }, position)};`);
  const stride = b.scalar(x.strides[dim]);
  const count = b.scalar(x.shape[dim]);
  b.line(`let max = -${infinity};`);
  b.line(`for (let j = 0; j < ${count}; j++) {`);
  b.line(`  let value = ${source}[start + j * ${stride}];`);
  b.line('  if (max == max && (value != value || value > max)) { max = value; }');
  b.line('}');
  b.line(`let lse = max;`);
  b.line(`if (max != -${infinity}) {`);
  b.line('  let sum = 0;');
  b.line(`  for (let j = 0; j < ${count}; j++) { sum = sum + Math.exp(${source}[start + j * ${stride}] - max); }`);
  b.line('  lse = max + Math.log(sum);');
  b.line('}');
  return new GpuStorage(runKernel(op, b.source('lse'), split.outer, b.arguments(), { specializeInputSizes: true }), split.outer, x.dtype);
}

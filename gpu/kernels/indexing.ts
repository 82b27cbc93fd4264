/**
 * Index-based kernels. A fragment shader writes only its own output element, so the scattering
 * ops (scatterAdd, indexAdd) are written gather-style: each output element loops over the index
 * entries along `dim` and adds the sources whose index names it.
 *
 * The backend checks indices on the host before these run (see checkIndices): an index read on
 * the device cannot raise an error.
 */
import { IndexError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import type { KernelBuilder } from '../codegen.js';
import { storageOf } from '../storage.js';
import { gridKernel } from './elementwise.js';

/** Throws an IndexError for the first index outside [-size, size), with the CPU backend's message. */
export function checkIndices(values: ArrayLike<number>, size: number, op: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -size || v >= size) {
      throw new IndexError(`${op}: index ${v} is out of range for a dim of size ${size}; valid indices are ${-size}..${size - 1}`);
    }
  }
}

/** Emits a read of `tensor` at `indices` and returns the value's variable. */
function read(b: KernelBuilder, tensor: Tensor, indices: readonly string[]): string {
  return b.read({ storage: storageOf(tensor, b.op), strides: tensor.strides, offset: tensor.offset }, indices);
}

/** Emits a read of an index value, mapped from negative (counting from the end) to 0..size-1. */
function readIndex(b: KernelBuilder, index: Tensor, indices: readonly string[], size: number): string {
  const value = read(b, index, indices);
  const extent = b.scalar(size);
  b.line(`if (${value} < 0) { ${value} = ${value} + ${extent}; }`);
  return value;
}

/** Returns `position` with the entry for `dim` replaced. */
function replaceAt(position: readonly string[], dim: number, value: string): string[] {
  return position.map((p, d) => (d === dim ? value : p));
}

/** Gathers `out[p] = x[p with dim replaced by index[p]]`, where out has index's shape. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return gridKernel('gather', index.shape, x.dtype, (b) => {
    const position = b.unravel('this.thread.x', index.shape);
    const target = readIndex(b, index, position, x.shape[dim]);
    return read(b, x, replaceAt(position, dim, target));
  });
}

/** Returns x plus `src[p]` added at `p with dim replaced by index[p]`, for every p in index's shape. */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const indexShape = index.shape;
  return gridKernel('scatterAdd', x.shape, x.dtype, (b) => {
    const position = b.unravel('this.thread.x', x.shape);
    const sum = read(b, x, position);
    // Only positions inside index's extent (outside dim) receive contributions.
    const inside = position.flatMap((p, d) => (d === dim ? [] : [`${p} < ${b.scalar(indexShape[d])}`]));
    b.line(`if (${inside.length > 0 ? inside.join(' && ') : 'true'}) {`);
    b.line(`for (let j = 0; j < ${b.scalar(indexShape[dim])}; j++) {`);
    const at = replaceAt(position, dim, 'j');
    const target = readIndex(b, index, at, x.shape[dim]);
    const value = read(b, src, at);
    b.line(`if (${target} == ${position[dim]}) { ${sum} = ${sum} + ${value}; }`);
    b.line('}');
    b.line('}');
    return sum;
  }, { specializeInputSizes: true });
}

/** Selects slices along `dim` by a 1-D index: `out[..., i, ...] = x[..., index[i], ...]`. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const outShape = x.shape;
  outShape[dim] = index.shape[0];
  return gridKernel('indexSelect', outShape, x.dtype, (b) => {
    const position = b.unravel('this.thread.x', outShape);
    const target = readIndex(b, index, [position[dim]], x.shape[dim]);
    return read(b, x, replaceAt(position, dim, target));
  });
}

/** Returns a zero tensor of `shape` with slice i of `src` added at `index[i]` along `dim` (indexSelect's adjoint). */
export function indexAdd(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor {
  return gridKernel('indexAdd', shape, src.dtype, (b) => {
    const position = b.unravel('this.thread.x', shape);
    const sum = b.temporary('sum');
    b.line(`let ${sum} = 0;`);
    b.line(`for (let i = 0; i < ${b.scalar(index.shape[0])}; i++) {`);
    const target = readIndex(b, index, ['i'], shape[dim]);
    const value = read(b, src, replaceAt(position, dim, 'i'));
    b.line(`if (${target} == ${position[dim]}) { ${sum} = ${sum} + ${value}; }`);
    b.line('}');
    return sum;
  }, { specializeInputSizes: true });
}

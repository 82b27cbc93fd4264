/**
 * Kernels that assemble buffers: concatenation, and the in-place copy into a view. A kernel
 * cannot write into part of an existing texture, so copyInto computes the whole new buffer (the
 * view's elements from `src`, the rest unchanged) and swaps it into the destination storage.
 * Every view of that storage then reads the new values.
 */
import { DeviceError, formatShape } from '../../core/errors.js';
import { broadcastShapes, broadcastStrides } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import { KernelBuilder } from '../codegen.js';
import { runKernel } from '../kernel-cache.js';
import { storageOf } from '../storage.js';
import { gridKernel } from './elementwise.js';

/**
 * Inputs per cat kernel. WebGL 1 guarantees 8 texture units per fragment shader, and each
 * input is one texture; longer lists are concatenated in groups, then the groups.
 */
const MAX_CAT_INPUTS = 8;

export function cat(xs: readonly Tensor[], dim: number): Tensor {
  const inputs = xs.filter((t) => t.shape[dim] > 0);
  if (inputs.length > MAX_CAT_INPUTS) {
    const groups: Tensor[] = [];
    for (let start = 0; start < inputs.length; start += MAX_CAT_INPUTS) groups.push(cat(inputs.slice(start, start + MAX_CAT_INPUTS), dim));
    const out = cat(groups, dim);
    for (const group of groups) storageOf(group, 'cat').dispose();
    return out;
  }

  const shape = xs[0].shape;
  shape[dim] = xs.reduce((total, t) => total + t.shape[dim], 0);
  return gridKernel('cat', shape, xs[0].dtype, (b) => {
    const position = b.unravel('this.thread.x', shape);
    const value = b.temporary('value');
    b.line(`let ${value} = 0;`);
    let start = 0;
    inputs.forEach((t, k) => {
      const end = start + t.shape[dim];
      const buffer = b.buffer(storageOf(t, 'cat'));
      const local = position.map((p, d) => (d === dim ? `(${p} - ${b.scalar(start)})` : p));
      const test = k === inputs.length - 1 ? 'true' : `${position[dim]} < ${b.scalar(end)}`;
      b.line(`${k === 0 ? '' : 'else '}if (${test}) { ${value} = ${buffer}[${b.address(t, local)}]; }`);
      start = end;
    });
    return value;
  });
}

/**
 * Writes `src` (broadcast to dst's shape) into the view `dst`. Each thread takes one element of
 * dst's storage and finds whether the view covers it by dividing its distance from the view's
 * offset by the view's strides, largest first. That is exact when the view does not overlap
 * itself, and views made by slicing, permuting and unsqueezing never do.
 */
export function copyInto(dst: Tensor, src: Tensor): void {
  const shape = dst.shape;
  broadcastShapes(src.shape, shape, 'copy');
  const storage = storageOf(dst, 'copy_');
  if (dst.numel() === 0) return;
  const sourceStrides = broadcastStrides(src.shape, src.strides, shape);
  const order = nonOverlappingOrder(dst);

  const b = new KernelBuilder('copy_');
  const target = b.buffer(storage);
  b.line(`let rest = this.thread.x * 1.0 - ${b.scalar(dst.offset)};`);
  // gpu.js types GL variables as float, so the flag is 1 or 0 rather than a bool.
  b.line('let inside = rest >= 0 ? 1 : 0;');
  const indices: string[] = [];
  for (const d of order) {
    const index = b.temporary('i');
    const stride = b.scalar(dst.strides[d]);
    const size = b.scalar(shape[d]);
    b.line(`let ${index} = Math.floor((rest + 0.5) / ${stride});`);
    b.line(`if (${index} * ${stride} > rest) { ${index} = ${index} - 1; }`);
    b.line(`if ((${index} + 1) * ${stride} <= rest) { ${index} = ${index} + 1; }`);
    b.line(`if (${index} >= ${size}) { inside = 0; }`);
    b.line(`rest = rest - ${index} * ${stride};`);
    indices.push(index);
  }
  b.line('if (rest != 0) { inside = 0; }');
  const value = b.temporary('value');
  b.line(`let ${value} = ${target}[this.thread.x];`);
  const source = b.buffer(storageOf(src, 'copy_'));
  const sourceAddress = b.address({ strides: order.map((d) => sourceStrides[d]), offset: src.offset }, indices);
  b.line(`if (inside == 1) { ${value} = ${source}[${sourceAddress}]; }`);
  storage.replace(runKernel('copy_', b.source(value), storage.length, b.arguments()), 'copy_');
}

/**
 * Returns dst's dims of size > 1 by decreasing stride, checking that each stride exceeds the
 * span of the smaller ones, which makes the element at each address unique.
 */
function nonOverlappingOrder(dst: Tensor): number[] {
  const shape = dst.shape;
  const strides = dst.strides;
  const order = shape.map((_, d) => d).filter((d) => shape[d] > 1).sort((p, q) => strides[q] - strides[p]);
  let span = 0;
  for (let k = order.length - 1; k >= 0; k--) {
    const d = order[k];
    if (strides[d] <= span) {
      throw new DeviceError(
        `copy_: the destination view of shape ${formatShape(shape)} and strides ${formatShape(strides)} refers to some elements more than once (an expanded or overlapping view); write into a contiguous tensor instead`,
      );
    }
    span += strides[d] * (shape[d] - 1);
  }
  return order;
}

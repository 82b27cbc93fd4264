/**
 * Batched matrix product, one output element per thread: a dot product of a row of `a` and a
 * column of `b`, both read through their strides. Transposed views (the operands of matmul's
 * backward) are thus read in place without a copy.
 */
import { coalesce } from '../../core/cpu/strided.js';
import { broadcastShapes, broadcastStrides, contiguousStrides } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import { KernelBuilder } from '../codegen.js';
import { runKernel } from '../kernel-cache.js';
import { GpuStorage, storageOf, wrapStorage } from '../storage.js';
import { checkSize } from './elementwise.js';

/** Dot-product terms per loop step: fewer loop iterations and bound checks per term. */
const UNROLL = 4;

export function matmul(a: Tensor, b: Tensor): Tensor {
  const m = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const n = b.shape[b.ndim - 1];
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  const outShape = [...batchShape, m, n];
  const length = checkSize('matmul', outShape);
  if (length === 0) return wrapStorage(new GpuStorage(null, 0, a.dtype), outShape, a.dtype);

  const batch = coalesce(batchShape, [
    contiguousStrides(batchShape),
    broadcastStrides(a.shape.slice(0, -2), a.strides.slice(0, -2), batchShape),
    broadcastStrides(b.shape.slice(0, -2), b.strides.slice(0, -2), batchShape),
  ]);
  const [rowStrideA, innerStrideA] = a.strides.slice(-2);
  const [innerStrideB, columnStrideB] = b.strides.slice(-2);

  const builder = new KernelBuilder('matmul');
  const bufferA = builder.buffer(storageOf(a, 'matmul'));
  const bufferB = builder.buffer(storageOf(b, 'matmul'));
  const position = builder.unravel('this.thread.x', [...batch.shape, m, n]);
  const batchIndex = position.slice(0, -2);
  const [row, column] = position.slice(-2);
  builder.line(`let startA = ${builder.address({ strides: [...batch.strides[1], rowStrideA], offset: a.offset }, [...batchIndex, row])};`);
  builder.line(`let startB = ${builder.address({ strides: [...batch.strides[2], columnStrideB], offset: b.offset }, [...batchIndex, column])};`);
  const stepA = builder.scalar(innerStrideA);
  const stepB = builder.scalar(innerStrideB);
  const unrolled = builder.scalar(k - (k % UNROLL));
  const size = builder.scalar(k);
  builder.line('let sum = 0;');
  builder.line('let p = 0;');
  builder.line(`for (let q = 0; q < ${unrolled}; q += ${UNROLL}) {`);
  for (let u = 0; u < UNROLL; u++) {
    builder.line(`  sum = sum + ${bufferA}[startA + (q + ${u}) * ${stepA}] * ${bufferB}[startB + (q + ${u}) * ${stepB}];`);
  }
  builder.line(`  p = q + ${UNROLL};`);
  builder.line('}');
  builder.line(`for (let r = 0; r < ${UNROLL - 1}; r++) {`);
  builder.line(`  if (p < ${size}) { sum = sum + ${bufferA}[startA + p * ${stepA}] * ${bufferB}[startB + p * ${stepB}]; }`);
  builder.line('  p = p + 1;');
  builder.line('}');
  const raw = runKernel('matmul', builder.source('sum'), length, builder.arguments(), { specializeInputSizes: true });
  return wrapStorage(new GpuStorage(raw, length, a.dtype), outShape, a.dtype);
}

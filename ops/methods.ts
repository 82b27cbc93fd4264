/**
 * Attaches the ops as Tensor methods (`x.add(y)`, `x.sum(0)`), in the chaining style of PyTorch
 * and TensorFlow.js. The functional forms in the other op files are the implementations; these
 * are one-line forwards, declared on the Tensor interface for type checking.
 */
import { setEngineOps } from '../core/autograd.js';
import { ValueError } from '../core/errors.js';
import { type DType } from '../core/dtype.js';
import { type Device, Tensor } from '../core/tensor.js';
import { onesLike } from './creation.js';
import { toDevice } from './device.js';
import * as ew from './elementwise.js';
import * as ix from './indexing.js';
import * as inplace from './inplace.js';
import * as mm from './matmul.js';
import * as red from './reduce.js';
import * as sh from './shape.js';
import * as sm from './softmax.js';
import type { TensorLike } from './util.js';

type Dims = number | number[] | undefined;

declare module '../core/tensor.js' {
  interface Tensor {
    add(other: TensorLike): Tensor;
    sub(other: TensorLike): Tensor;
    mul(other: TensorLike): Tensor;
    div(other: TensorLike): Tensor;
    pow(exponent: TensorLike): Tensor;
    maximum(other: TensorLike): Tensor;
    minimum(other: TensorLike): Tensor;
    eq(other: TensorLike): Tensor;
    ne(other: TensorLike): Tensor;
    lt(other: TensorLike): Tensor;
    le(other: TensorLike): Tensor;
    gt(other: TensorLike): Tensor;
    ge(other: TensorLike): Tensor;
    logicalAnd(other: TensorLike): Tensor;
    logicalOr(other: TensorLike): Tensor;
    logicalNot(): Tensor;
    isnan(): Tensor;
    isfinite(): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    expm1(): Tensor;
    log(): Tensor;
    log1p(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    abs(): Tensor;
    sign(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    gelu(approximate?: 'none' | 'tanh'): Tensor;
    silu(): Tensor;
    erf(): Tensor;
    square(): Tensor;
    reciprocal(): Tensor;
    floor(): Tensor;
    ceil(): Tensor;
    round(): Tensor;
    clamp(min?: number, max?: number): Tensor;
    where(condition: Tensor, other: TensorLike): Tensor;
    maskedFill(mask: Tensor, value: TensorLike): Tensor;

    sum(dim?: Dims, keepdim?: boolean): Tensor;
    mean(dim?: Dims, keepdim?: boolean): Tensor;
    var(dim?: Dims, options?: { correction?: number; keepdim?: boolean }): Tensor;
    std(dim?: Dims, options?: { correction?: number; keepdim?: boolean }): Tensor;
    prod(dim?: Dims, keepdim?: boolean): Tensor;
    max(dim?: Dims, keepdim?: boolean): Tensor;
    min(dim?: Dims, keepdim?: boolean): Tensor;
    argmax(dim?: number, keepdim?: boolean): Tensor;
    argmin(dim?: number, keepdim?: boolean): Tensor;
    logsumexp(dim?: Dims, keepdim?: boolean): Tensor;
    softmax(dim?: number): Tensor;
    logSoftmax(dim?: number): Tensor;

    matmul(other: Tensor): Tensor;
    mm(other: Tensor): Tensor;

    reshape(...shape: number[] | [number[]]): Tensor;
    view(...shape: number[] | [number[]]): Tensor;
    permute(...dims: number[] | [number[]]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    /** The transpose of the last two dims (PyTorch's `mT`). */
    readonly mT: Tensor;
    /** The transpose of a 2-D tensor (PyTorch's `T`). */
    readonly T: Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    expand(...shape: number[] | [number[]]): Tensor;
    expandAs(other: Tensor): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    slice(dim: number, start?: number, end?: number, step?: number): Tensor;
    select(dim: number, index: number): Tensor;
    split(splitSize: number | number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    contiguous(): Tensor;
    clone(): Tensor;
    gather(dim: number, index: Tensor): Tensor;
    scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor;
    indexSelect(dim: number, index: Tensor): Tensor;

    /** Converts to a dtype or moves to a device (returns `this` when nothing changes). */
    to(target: DType | Device): Tensor;
    gpu(): Tensor;
    float(): Tensor;
    double(): Tensor;
    int(): Tensor;
    bool(): Tensor;

    copy_(source: TensorLike): Tensor;
    fill_(value: number): Tensor;
    zero_(): Tensor;
    add_(other: TensorLike, alpha?: number): Tensor;
    sub_(other: TensorLike): Tensor;
    mul_(other: TensorLike): Tensor;
    div_(other: TensorLike): Tensor;
    clamp_(min?: number, max?: number): Tensor;
    maskedFill_(mask: Tensor, value: number): Tensor;
  }
}

/** Accepts both `x.reshape(2, 3)` and `x.reshape([2, 3])`. */
function listArgs(args: number[] | [number[]]): number[] {
  return Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
}

const methods: Partial<Record<keyof Tensor, unknown>> & ThisType<Tensor> = {
  add(other: TensorLike) { return ew.add(this, other); },
  sub(other: TensorLike) { return ew.sub(this, other); },
  mul(other: TensorLike) { return ew.mul(this, other); },
  div(other: TensorLike) { return ew.div(this, other); },
  pow(exponent: TensorLike) { return ew.pow(this, exponent); },
  maximum(other: TensorLike) { return ew.maximum(this, other); },
  minimum(other: TensorLike) { return ew.minimum(this, other); },
  eq(other: TensorLike) { return ew.eq(this, other); },
  ne(other: TensorLike) { return ew.ne(this, other); },
  lt(other: TensorLike) { return ew.lt(this, other); },
  le(other: TensorLike) { return ew.le(this, other); },
  gt(other: TensorLike) { return ew.gt(this, other); },
  ge(other: TensorLike) { return ew.ge(this, other); },
  logicalAnd(other: TensorLike) { return ew.logicalAnd(this, other); },
  logicalOr(other: TensorLike) { return ew.logicalOr(this, other); },
  logicalNot() { return ew.logicalNot(this); },
  isnan() { return ew.isnan(this); },
  isfinite() { return ew.isfinite(this); },
  neg() { return ew.neg(this); },
  exp() { return ew.exp(this); },
  expm1() { return ew.expm1(this); },
  log() { return ew.log(this); },
  log1p() { return ew.log1p(this); },
  sqrt() { return ew.sqrt(this); },
  rsqrt() { return ew.rsqrt(this); },
  abs() { return ew.abs(this); },
  sign() { return ew.sign(this); },
  sin() { return ew.sin(this); },
  cos() { return ew.cos(this); },
  tanh() { return ew.tanh(this); },
  sigmoid() { return ew.sigmoid(this); },
  relu() { return ew.relu(this); },
  gelu(approximate?: 'none' | 'tanh') { return ew.gelu(this, approximate); },
  silu() { return ew.silu(this); },
  erf() { return ew.erf(this); },
  square() { return ew.square(this); },
  reciprocal() { return ew.reciprocal(this); },
  floor() { return ew.floor(this); },
  ceil() { return ew.ceil(this); },
  round() { return ew.round(this); },
  clamp(min?: number, max?: number) { return ew.clamp(this, min, max); },
  where(condition: Tensor, other: TensorLike) { return ew.where(condition, this, other); },
  maskedFill(mask: Tensor, value: TensorLike) { return ix.maskedFill(this, mask, value); },

  sum(dim?: Dims, keepdim?: boolean) { return red.sum(this, dim, keepdim); },
  mean(dim?: Dims, keepdim?: boolean) { return red.mean(this, dim, keepdim); },
  var(dim?: Dims, options?: { correction?: number; keepdim?: boolean }) { return red.variance(this, dim, options); },
  std(dim?: Dims, options?: { correction?: number; keepdim?: boolean }) { return red.std(this, dim, options); },
  prod(dim?: Dims, keepdim?: boolean) { return red.prod(this, dim, keepdim); },
  max(dim?: Dims, keepdim?: boolean) { return red.max(this, dim, keepdim); },
  min(dim?: Dims, keepdim?: boolean) { return red.min(this, dim, keepdim); },
  argmax(dim?: number, keepdim?: boolean) { return red.argmax(this, dim, keepdim); },
  argmin(dim?: number, keepdim?: boolean) { return red.argmin(this, dim, keepdim); },
  logsumexp(dim?: Dims, keepdim?: boolean) { return red.logsumexp(this, dim, keepdim); },
  softmax(dim?: number) { return sm.softmax(this, dim); },
  logSoftmax(dim?: number) { return sm.logSoftmax(this, dim); },

  matmul(other: Tensor) { return mm.matmul(this, other); },
  mm(other: Tensor) { return mm.mm(this, other); },

  reshape(...shape: number[] | [number[]]) { return sh.reshape(this, listArgs(shape)); },
  view(...shape: number[] | [number[]]) { return sh.view(this, listArgs(shape)); },
  permute(...dims: number[] | [number[]]) { return sh.permute(this, listArgs(dims)); },
  transpose(dim0?: number, dim1?: number) { return sh.transpose(this, dim0, dim1); },
  squeeze(dim?: number) { return sh.squeeze(this, dim); },
  unsqueeze(dim: number) { return sh.unsqueeze(this, dim); },
  flatten(startDim?: number, endDim?: number) { return sh.flatten(this, startDim, endDim); },
  expand(...shape: number[] | [number[]]) { return sh.expand(this, listArgs(shape)); },
  expandAs(other: Tensor) { return sh.expandAs(this, other); },
  narrow(dim: number, start: number, length: number) { return sh.narrow(this, dim, start, length); },
  slice(dim: number, start?: number, end?: number, step?: number) { return sh.slice(this, dim, start, end, step); },
  select(dim: number, index: number) { return sh.select(this, dim, index); },
  split(splitSize: number | number[], dim?: number) { return sh.split(this, splitSize, dim); },
  chunk(chunks: number, dim?: number) { return sh.chunk(this, chunks, dim); },
  contiguous() { return sh.contiguous(this); },
  clone() { return sh.clone(this); },
  gather(dim: number, index: Tensor) { return ix.gather(this, dim, index); },
  scatterAdd(dim: number, index: Tensor, src: Tensor) { return ix.scatterAdd(this, dim, index, src); },
  indexSelect(dim: number, index: Tensor) { return ix.indexSelect(this, dim, index); },

  to(target: DType | Device) {
    if (target === 'cpu' || target === 'gpu') return toDevice(this, target);
    if (target === 'float32' || target === 'float64' || target === 'int32' || target === 'bool') return ew.to(this, target);
    throw new ValueError(`to: unknown target '${String(target)}'; expected a device ('cpu', 'gpu') or a dtype ('float32', 'float64', 'int32', 'bool')`);
  },
  cpu() { return toDevice(this, 'cpu'); },
  gpu() { return toDevice(this, 'gpu'); },
  float() { return ew.to(this, 'float32'); },
  double() { return ew.to(this, 'float64'); },
  int() { return ew.to(this, 'int32'); },
  bool() { return ew.to(this, 'bool'); },

  copy_(source: TensorLike) { return inplace.copy_(this, source); },
  fill_(value: number) { return inplace.fill_(this, value); },
  zero_() { return inplace.zero_(this); },
  add_(other: TensorLike, alpha?: number) { return inplace.add_(this, other, alpha); },
  sub_(other: TensorLike) { return inplace.sub_(this, other); },
  mul_(other: TensorLike) { return inplace.mul_(this, other); },
  div_(other: TensorLike) { return inplace.div_(this, other); },
  clamp_(min?: number, max?: number) { return inplace.clamp_(this, min, max); },
  maskedFill_(mask: Tensor, value: number) { return inplace.maskedFill_(this, mask, value); },
};

Object.assign(Tensor.prototype, methods);
Object.defineProperty(Tensor.prototype, 'mT', { get(this: Tensor) { return sh.transpose(this, -2, -1); } });
Object.defineProperty(Tensor.prototype, 'T', { get(this: Tensor) { return this.ndim < 2 ? this : sh.permute(this, this.shape.map((_, d) => this.ndim - 1 - d)); } });

setEngineOps({ onesLike: (t) => onesLike(t), add: (a, b) => ew.add(a, b) });

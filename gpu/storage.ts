/**
 * The storage of a 'gpu' tensor: one gpu.js kernel output, kept on the device between kernels.
 * In the GL modes that is a float texture, because kernels run with `pipeline: true`. The cpu
 * and webasm modes have no device memory, so there it is a Float32Array that kernels take as input.
 *
 * Every dtype is stored as float32 values: int32 and bool tensors hold integers (exact up to
 * 2^24) and 0/1. The tensor's ndarray view (shape, strides, offset) stays on the Tensor, so
 * views of one storage share it and kernels read them in place.
 */
import type { Texture } from 'gpu.js';
import ndarray from 'ndarray';

import type { DType } from '../core/dtype.js';
import { DeviceError, IndexError } from '../core/errors.js';
import { contiguousStrides } from '../core/shape.js';
import { type DeviceStorage, Tensor } from '../core/tensor.js';
import { type RawBuffer, isTexture, readRawBuffer, uploadValues } from './kernel-cache.js';
import { resizeTrackedStorage, trackStorage, untrackStorage, type TrackedStorage } from './memory.js';
import { gpuContext } from './mode.js';

/** The buffer a storage owns, shared with the finalizer so that it can free a leaked one. */
interface BufferCell {
  raw: RawBuffer | null;
  bytes: number;
}

// Frees the texture of a storage that was garbage collected without dispose().
const finalizer = new FinalizationRegistry<BufferCell>((cell) => {
  if (cell.raw === null) return;
  releaseRaw(cell.raw);
  untrackStorage(cell.bytes);
  cell.raw = null;
});

export class GpuStorage implements DeviceStorage, TrackedStorage {
  readonly device = 'gpu' as const;
  readonly dtype: DType;
  readonly length: number;
  /** The gpu.js mode generation that made the buffer; buffers from an earlier mode are unusable. */
  readonly generation: number;
  private readonly cell: BufferCell;
  /** Host copy of the values: kept for uploaded int32 and bool data (indices are read on the host to validate them) and after `get`. */
  private host: Float32Array | null;
  private disposed = false;

  constructor(raw: RawBuffer | null, length: number, dtype: DType, host: Float32Array | null = null) {
    this.dtype = dtype;
    this.length = length;
    this.generation = gpuContext().generation;
    this.cell = { raw, bytes: raw === null ? 0 : bufferBytes(raw) };
    this.host = host;
    trackStorage(this);
    if (raw !== null) finalizer.register(this, this.cell, this);
  }

  get bytes(): number {
    return this.cell.bytes;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** @internal The buffer to pass to a kernel; throws if it was disposed or belongs to an earlier mode. */
  raw(op: string): RawBuffer {
    this.checkUsable(op);
    if (this.cell.raw === null) throw new DeviceError(`${op}: internal error: a kernel read an empty device buffer`);
    return this.cell.raw;
  }

  /** @internal Returns the values on the host (a fresh array in GL modes, the buffer itself otherwise). */
  read(op: string): Float32Array {
    this.checkUsable(op);
    if (this.host !== null) return this.host;
    if (this.cell.raw === null) return new Float32Array(0);
    return readRawBuffer(this.cell.raw, this.length);
  }

  /** @internal The host copy of the values, or null when there is none (reading it costs nothing). */
  hostValues(): Float32Array | null {
    this.checkUsable('read');
    return this.host;
  }

  /** @internal Swaps in a new buffer with the same length (an in-place write) and frees the old one. */
  replace(raw: RawBuffer, op: string): void {
    this.checkUsable(op);
    const old = this.cell.raw;
    const oldBytes = this.cell.bytes;
    this.cell.raw = raw;
    this.cell.bytes = bufferBytes(raw);
    this.host = null;
    resizeTrackedStorage(this.cell.bytes - oldBytes);
    if (old !== null) releaseRaw(old);
    if (old === null) finalizer.register(this, this.cell, this);
  }

  /** Reads one element, copying the whole buffer to the host once (slow: for debugging). */
  get(index: number): number {
    this.checkIndex(index, 'get');
    if (this.host === null) this.host = this.read('get').slice();
    return this.host[index];
  }

  /** Writes one element by uploading the whole buffer again (slow: prefer copy_ on tensors). */
  set(index: number, value: number): number {
    this.checkIndex(index, 'set');
    const values = this.read('set').slice();
    values[index] = value;
    this.replace(uploadValues(values), 'set');
    return value;
  }

  /** Frees the device buffer; later use of any tensor over this storage throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.host = null;
    finalizer.unregister(this);
    const raw = this.cell.raw;
    this.cell.raw = null;
    untrackStorage(this.cell.bytes);
    if (raw !== null) releaseRaw(raw);
  }

  private checkUsable(op: string): void {
    if (this.disposed) {
      throw new DeviceError(
        `${op}: the tensor's device buffer was disposed (by dispose() or at the end of a tidy() scope); return it from tidy() or keep() it to use it afterwards`,
      );
    }
    if (this.generation !== gpuContext().generation) {
      throw new DeviceError(`${op}: the tensor was created before setGpuMode() changed the gpu.js mode; create it again under the current mode`);
    }
  }

  private checkIndex(index: number, op: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new IndexError(`GpuStorage.${op}: index ${index} is out of range for a buffer of ${this.length} elements`);
    }
  }
}

function releaseRaw(raw: RawBuffer): void {
  if (isTexture(raw)) raw.delete();
}

/** Device bytes of a buffer: textures count every texel, 4 float channels unless single-channel. */
function bufferBytes(raw: RawBuffer): number {
  if (!isTexture(raw)) return raw.byteLength;
  const texture = raw as Texture & { size?: number[]; textureFormat?: number; context?: { RED?: number } };
  const [width, height] = texture.size ?? [0, 0];
  const channels = texture.context?.RED !== undefined && texture.textureFormat === texture.context.RED ? 1 : 4;
  return width * height * channels * 4;
}

/** Returns the GpuStorage under a 'gpu' tensor, or throws naming the op. */
export function storageOf(tensor: Tensor, op: string): GpuStorage {
  const data = tensor.storage;
  if (!(data instanceof GpuStorage)) {
    throw new DeviceError(`${op}: expected a tensor on 'gpu', but its storage is ${tensor.device === 'cpu' ? 'a CPU typed array' : 'not a gpu.js buffer'}; move it with .to('gpu') first`);
  }
  return data;
}

/** Wraps a storage as a contiguous 'gpu' tensor of the given shape. */
export function wrapStorage(storage: GpuStorage, shape: readonly number[], dtype: DType): Tensor {
  return new Tensor(ndarray(storage, [...shape], contiguousStrides(shape), 0), dtype, 'gpu');
}

/**
 * Device memory: counts of live buffers, `tidy` scopes that dispose what they created, and
 * explicit `dispose` / `keep`, in the manner of TensorFlow.js.
 *
 * GPU textures are not freed by JavaScript's garbage collector on their own. A buffer is freed
 * by `dispose()` or at the end of the `tidy` scope that created it. As a last resort, a
 * FinalizationRegistry deletes the texture when its storage object is garbage collected, but
 * the engine decides when that happens, so training loops should use `tidy`.
 */
import { ValueError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { cachedKernelCount } from './kernel-cache.js';

/** The part of a device storage that the bookkeeping uses (GpuStorage implements it). */
export interface TrackedStorage {
  readonly bytes: number;
  readonly isDisposed: boolean;
  dispose(): void;
}

export interface MemoryInfo {
  /** Device buffers (textures in GL modes, typed arrays otherwise) that are not yet disposed. */
  buffers: number;
  /** Their size in bytes: texture width x height x 4 channels x 4 bytes in GL modes. */
  bytes: number;
  /** Compiled kernels in the cache. Each GL kernel also owns one output texture of its own. */
  kernels: number;
}

const live = { buffers: 0, bytes: 0 };
const tracked = new WeakSet<TrackedStorage>();
const keptForever = new WeakSet<TrackedStorage>();
const scopes: Set<TrackedStorage>[] = [];

/** @internal Records a new buffer and adds it to the innermost tidy scope. */
export function trackStorage(storage: TrackedStorage): void {
  live.buffers++;
  live.bytes += storage.bytes;
  tracked.add(storage);
  scopes.at(-1)?.add(storage);
}

/** @internal Records that a buffer of `bytes` was released. */
export function untrackStorage(bytes: number): void {
  live.buffers--;
  live.bytes -= bytes;
}

/** @internal Records that a live storage swapped its buffer for one of a different size. */
export function resizeTrackedStorage(deltaBytes: number): void {
  live.bytes += deltaBytes;
}

/** Returns the number and size of live device buffers and the number of cached kernels. */
export function memoryInfo(): MemoryInfo {
  return { buffers: live.buffers, bytes: live.bytes, kernels: cachedKernelCount() };
}

/**
 * Runs `fn` and disposes every device buffer created inside it, except those of the returned
 * tensors (a tensor, or arrays and plain objects of tensors) and those passed to `keep()`.
 * Returned buffers move to the enclosing scope, so nested tidies compose. Views share their
 * base tensor's buffer, so returning a view keeps the whole buffer.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<TrackedStorage>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    disposeAll(scope, new Set());
    throw error;
  }
  scopes.pop();

  if (result instanceof Promise) {
    disposeAll(scope, new Set());
    throw new ValueError('tidy: the function returned a Promise, but tidy scopes are synchronous; await outside tidy and call tidy on the synchronous part');
  }
  const returned = new Set<TrackedStorage>();
  collectStorages(result, returned, 0);
  disposeAll(scope, returned);
  for (const storage of returned) {
    if (scope.has(storage)) scopes.at(-1)?.add(storage);
  }
  return result;
}

/** Exempts a tensor's buffer from every enclosing tidy scope; it lives until `dispose()`. */
export function keep<T extends Tensor>(tensor: T): T {
  const storage = tensor.storage;
  if (isTracked(storage)) {
    keptForever.add(storage);
    for (const scope of scopes) scope.delete(storage);
  }
  return tensor;
}

/**
 * Frees the device buffers of the given tensors now. Every view of the same buffer becomes
 * unusable; CPU tensors are ignored.
 */
export function dispose(tensors: Tensor | null | undefined | readonly (Tensor | null | undefined)[]): void {
  const list = Array.isArray(tensors) ? tensors : [tensors];
  for (const tensor of list) {
    if (tensor instanceof Tensor && isTracked(tensor.storage)) tensor.storage.dispose();
  }
}

function isTracked(value: unknown): value is TrackedStorage {
  return typeof value === 'object' && value !== null && tracked.has(value as TrackedStorage);
}

function disposeAll(scope: Set<TrackedStorage>, except: Set<TrackedStorage>): void {
  for (const storage of scope) {
    if (!except.has(storage) && !keptForever.has(storage)) storage.dispose();
  }
}

/** Finds the buffers of tensors in a tidy result; depth is capped so cyclic objects end. */
function collectStorages(value: unknown, out: Set<TrackedStorage>, depth: number): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    if (isTracked(value.storage)) out.add(value.storage);
    return;
  }
  const items = Array.isArray(value) ? value : Object.getPrototypeOf(value) === Object.prototype ? Object.values(value) : [];
  for (const item of items) collectStorages(item, out, depth + 1);
}

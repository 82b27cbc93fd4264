/**
 * Compiling, caching and running gpu.js kernels.
 *
 * Kernel sources are generated per op and rank, and every size, stride and offset is a kernel
 * argument (a uniform in GL), so one compiled kernel serves all shapes and views of that rank.
 * The cache key is the source text, which differs by op, rank and broadcast pattern, plus the
 * input sizes for the loop kernels in GL modes (see RunOptions). Dtypes need no key of their
 * own: every dtype is stored as float32, and casts generate their own sources. Compiling is the
 * slow part: about 40 ms per kernel under headlessgl with Mesa llvmpipe on the 2-core machine
 * this was written on (bench/gpu.ts prints the first call of matmul).
 *
 * Kernels stay cached until setGpuMode() replaces the GPU instance. Destroying a gpu.js GL
 * kernel earlier would also delete output textures that live storages still own.
 */
import type { IGPUKernelSettings, IKernelRunShortcut, Texture } from 'gpu.js';

import { DeviceError } from '../core/errors.js';
import { gpuContext, onModeChange } from './mode.js';

/** A kernel output: a texture in the GL modes, a Float32Array in the cpu and webasm modes. */
export type RawBuffer = Texture | Float32Array;

export type KernelArgument = RawBuffer | number;

/**
 * The maximum number of elements of a tensor or buffer on 'gpu'. Kernels compute flat indices
 * in float32 (GLSL ES 1.0 and gpu.js's webasm are float32 throughout), exact only below 2^24.
 */
export const MAX_ELEMENTS = 2 ** 24;

/** GLSL ES 1.0 loops need a constant bound; gpu.js uses this one and breaks at the real trip count. */
const LOOP_MAX_ITERATIONS = MAX_ELEMENTS;

const UPLOAD_SOURCE = 'function(values) { return values[this.thread.x]; }';

interface CachedKernel {
  run: IKernelRunShortcut;
  length: number;
}

const cache = new Map<string, CachedKernel>();
onModeChange(() => cache.clear());

export function cachedKernelCount(): number {
  return cache.size;
}

export function isTexture(raw: RawBuffer): raw is Texture {
  return !(raw instanceof Float32Array);
}

/** How a kernel is compiled. */
export interface RunOptions {
  /**
   * Compile a separate kernel for each set of input buffer sizes (GL modes only). gpu.js then
   * makes the texture sizes shader constants, and each read's index-to-texel division becomes a
   * division by a constant: matmul ran 2.3 times faster at n = 256 under llvmpipe. That pays
   * for the extra compiles in kernels that read in a loop (matmul, reductions, softmax).
   */
  specializeInputSizes?: boolean;
}

/**
 * Runs the kernel with this source over `length` output elements and returns its output,
 * compiling it on first use. Throws a DeviceError naming the op if gpu.js fails.
 */
export function runKernel(op: string, source: string, length: number, args: readonly KernelArgument[], options: RunOptions = {}): RawBuffer {
  const { gpu, mode } = gpuContext();
  const onDevice = mode === 'headlessgl' || mode === 'webgl' || mode === 'webgl2';
  const specialize = onDevice && options.specializeInputSizes === true;
  const key = specialize ? `${source}\n// input sizes ${args.map(inputSize).join(' ')}` : source;
  let entry = cache.get(key);
  if (entry === undefined) {
    // loopMaxIterations is a documented gpu.js setting that its type declarations omit.
    const settings: IGPUKernelSettings & { loopMaxIterations: number } = {
      output: [length],
      pipeline: true,
      // Each call returns a new texture; without it gpu.js would overwrite the previous output.
      immutable: true,
      precision: 'single',
      // highp everywhere: gpu.js otherwise picks the lowest precision that fits the output size.
      tactic: 'precision',
      dynamicOutput: true,
      dynamicArguments: !specialize,
      loopMaxIterations: LOOP_MAX_ITERATIONS,
    };
    const run = gpu.createKernel(source, settings);
    entry = { run, length };
    cache.set(key, entry);
  } else if (entry.length !== length) {
    entry.run.setOutput([length]);
    entry.length = length;
  }

  let result: unknown;
  try {
    result = entry.run(...(args as Parameters<IKernelRunShortcut>));
  } catch (error) {
    cache.delete(key);
    throw new DeviceError(`${op}: the gpu.js kernel failed in mode '${mode}': ${(error as Error).message}\nkernel source:\n${source}`);
  }

  const isBuffer = result instanceof Float32Array;
  if (onDevice === isBuffer) {
    // gpu.js falls back to its cpu kernel when a GL kernel fails to compile, which would
    // silently mix host arrays into a texture pipeline.
    const reason = (entry.run.kernel as { fallbackReason?: string }).fallbackReason ?? 'no reason given';
    cache.delete(key);
    throw new DeviceError(`${op}: the gpu.js kernel did not run in mode '${mode}' (gpu.js fell back: ${reason})\nkernel source:\n${source}`);
  }
  if (onDevice) detachOutputTexture(entry.run);
  return result as RawBuffer;
}

/** Describes an argument's size for the cache key: the dims of a texture, the length of an array. */
function inputSize(arg: KernelArgument): string {
  if (typeof arg === 'number') return '-';
  if (arg instanceof Float32Array) return String(arg.length);
  return ((arg as Texture & { output?: number[] }).output ?? []).join('x');
}

/**
 * Gives the kernel a fresh output texture after a run, so that the texture just returned is
 * owned by its storage alone.
 *
 * NOTE: this relies on gpu.js 2.24 internals (GLTexture.newTexture and the kernel's
 * `_textureSwitched` flag). Without it, an immutable kernel that receives its own latest
 * output as an argument recycles an older texture as its next output, and with
 * `dynamicOutput` that texture can have another size: the result is then silently corrupt.
 */
function detachOutputTexture(run: IKernelRunShortcut): void {
  const kernel = run.kernel as unknown as { texture?: { newTexture?: () => void }; _textureSwitched?: boolean };
  if (typeof kernel.texture?.newTexture !== 'function') {
    throw new DeviceError('internal error: this gpu.js version has no GLTexture.newTexture, which the gpu backend needs (it was written against gpu.js 2.24)');
  }
  kernel.texture.newTexture();
  // Makes the next run attach the new texture to the kernel's framebuffer.
  kernel._textureSwitched = true;
}

/** Host-device copies since the program started; tests use them to check that op chains stay on the device. */
export interface TransferCounts {
  /** Arrays copied from the host to device buffers. */
  uploads: number;
  /** Device buffers copied back to the host. */
  readbacks: number;
}

const transfers: TransferCounts = { uploads: 0, readbacks: 0 };

export function transferCounts(): TransferCounts {
  return { ...transfers };
}

/** Copies host values to a new device buffer (the array itself in the cpu and webasm modes). */
export function uploadValues(values: Float32Array): RawBuffer {
  transfers.uploads++;
  const { mode } = gpuContext();
  if (mode === 'cpu' || mode === 'webasm') return values;
  return runKernel('upload', UPLOAD_SOURCE, values.length, [values]);
}

/** Returns a buffer's values on the host: a fresh array for a texture, the array itself otherwise. */
export function readRawBuffer(raw: RawBuffer, length: number): Float32Array {
  transfers.readbacks++;
  if (!isTexture(raw)) return raw;
  const values = raw.toArray();
  if (values instanceof Float32Array && values.length === length) return values;
  return Float32Array.from(values as ArrayLike<number>);
}

/**
 * The gpu.js mode that runs the kernels, and the one `GPU` instance that compiles them.
 *
 * The mode is chosen lazily, on the first kernel, from `setGpuMode()`, else the environment
 * variable `SINGLORA_GPU_MODE`, else automatically (headlessgl, webgl2, webgl, then cpu). The
 * choice is logged once. Modes whose kernel calls return Promises (`webgpu`, `async`) are
 * rejected: the Backend interface is synchronous, so `toTypedArray()` could not wait for them.
 */
import gpujs from 'gpu.js';
import type { GPU as GpuInstance } from 'gpu.js';

import { DeviceError } from '../core/errors.js';

const { GPU } = gpujs;

/** The gpu.js modes this backend runs in; `auto` picks the first one that works. */
export type GpuMode = 'auto' | 'headlessgl' | 'webgl2' | 'webgl' | 'webasm' | 'cpu';

const MODES: readonly GpuMode[] = ['auto', 'headlessgl', 'webgl2', 'webgl', 'webasm', 'cpu'];

/**
 * The order `auto` tries. webasm is left out: it computes the same float32 results as cpu but
 * is only chosen when asked for, so that `auto` on a machine without GL is the reference mode.
 */
const AUTO_ORDER: readonly Exclude<GpuMode, 'auto' | 'cpu'>[] = ['headlessgl', 'webgl2', 'webgl'];

/** Receives the one-line message naming the chosen mode. */
export interface GpuLogger {
  info(message: string): void;
}

/** The GPU instance in use, its mode, and the generation number that tags the buffers it makes. */
interface GpuContext {
  gpu: GpuInstance;
  mode: Exclude<GpuMode, 'auto'>;
  generation: number;
}

let logger: GpuLogger | null = console;
let requestedMode: GpuMode | null = null;
let current: GpuContext | null = null;
let generation = 0;
const modeChangeListeners: (() => void)[] = [];

/**
 * Forces a gpu.js mode, throwing if it cannot run here. Call it before creating 'gpu' tensors:
 * kernels compiled and tensors created under the previous mode are released, and using such a
 * tensor afterwards throws.
 */
export function setGpuMode(mode: GpuMode | string): void {
  const checked = checkMode(mode, 'setGpuMode');
  if (checked !== 'auto' && !isModeSupported(checked)) throw new DeviceError(`setGpuMode: ${unsupportedModeMessage(checked)}`);
  requestedMode = checked;
  resetGpu();
}

/** Returns the mode in use, choosing (and logging) it first if no kernel has run yet. */
export function getGpuMode(): Exclude<GpuMode, 'auto'> {
  return gpuContext().mode;
}

/** Replaces the logger that reports the chosen mode; pass null to silence it. */
export function setGpuLogger(next: GpuLogger | null): void {
  logger = next;
}

/** @internal Returns the GPU context, creating it (and logging the mode) on first use. */
export function gpuContext(): GpuContext {
  if (current === null) current = createGpu();
  return current;
}

/** @internal Called when the mode changes, so that kernel caches can drop their kernels. */
export function onModeChange(listener: () => void): void {
  modeChangeListeners.push(listener);
}

function resetGpu(): void {
  for (const listener of modeChangeListeners) listener();
  // gpu.js tears down on a later tick; a failure there leaves only unreachable GL objects behind.
  if (current !== null) current.gpu.destroy().catch(() => undefined);
  current = null;
}

function createGpu(): GpuContext {
  const requested = requestedMode ?? modeFromEnvironment() ?? 'auto';
  const mode = requested === 'auto' ? AUTO_ORDER.find(isModeSupported) ?? 'cpu' : requested;
  if (!isModeSupported(mode)) throw new DeviceError(unsupportedModeMessage(mode));

  const gpu = new GPU({ mode });
  generation++;
  let origin = 'default';
  if (requestedMode !== null) origin = 'setGpuMode';
  else if (modeFromEnvironment() !== null) origin = 'SINGLORA_GPU_MODE';
  const candidates = requested === 'auto' ? `, the first that works of ${[...AUTO_ORDER, 'cpu'].join(', ')}` : '';
  logger?.info(`singlora gpu: running kernels with gpu.js mode '${mode}' (requested '${requested}' by ${origin}${candidates})`);
  return { gpu, mode, generation };
}

function modeFromEnvironment(): GpuMode | null {
  // `process` is absent in browsers; reading it through globalThis keeps this file bundle-safe.
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.SINGLORA_GPU_MODE;
  if (value === undefined || value === '') return null;
  return checkMode(value, 'SINGLORA_GPU_MODE');
}

function checkMode(mode: string, where: string): GpuMode {
  if (mode === 'webgpu' || mode === 'async') {
    throw new DeviceError(
      `${where}: gpu.js mode '${mode}' returns a Promise from every kernel call, but singlora's backend is synchronous ` +
        `(toTypedArray() must return values at once); use 'headlessgl' in Node, 'webgl2' in a browser, or 'webasm' / 'cpu'`,
    );
  }
  if (!(MODES as readonly string[]).includes(mode)) {
    throw new DeviceError(`${where}: unknown gpu.js mode '${mode}'; expected one of ${MODES.map((m) => `'${m}'`).join(', ')}`);
  }
  return mode as GpuMode;
}

/** Returns whether gpu.js can run kernels in `mode` here (for headlessgl this opens a test GL context). */
export function isModeSupported(mode: Exclude<GpuMode, 'auto'>): boolean {
  switch (mode) {
    case 'headlessgl':
      return GPU.isHeadlessGLSupported;
    case 'webgl2':
      return GPU.isWebGL2Supported;
    case 'webgl':
      return GPU.isWebGLSupported;
    case 'webasm':
      return GPU.isWebAssemblySupported;
    case 'cpu':
      return true;
  }
}

function unsupportedModeMessage(mode: Exclude<GpuMode, 'auto'>): string {
  const start = `gpu.js mode '${mode}' is not available here`;
  switch (mode) {
    case 'headlessgl': {
      const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
      const display = env?.DISPLAY;
      return (
        `${start}: headless-gl could not create a WebGL context. It needs the optional 'gl' package built for this Node ` +
        `(npm install gl; see .ci/gpu-setup.sh for the system packages) and an X display ` +
        `(${display ? `DISPLAY is '${display}'` : 'DISPLAY is not set'}; run under 'xvfb-run -a')`
      );
    }
    case 'webgl2':
    case 'webgl':
      return `${start}: it needs a browser with ${mode === 'webgl2' ? 'WebGL2' : 'WebGL'}; in Node use 'headlessgl'`;
    case 'webasm':
      return `${start}: this runtime has no WebAssembly`;
    case 'cpu':
      return start;
  }
}

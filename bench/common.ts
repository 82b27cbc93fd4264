/**
 * Shared pieces of the workload scripts: option parsing, the seeded random arrays that the
 * reference scripts (TensorFlow.js, PyTorch) also draw their weights and data from, the timing
 * loop, memory sampling and the JSON-lines output that bench/run.ts reads.
 *
 * Every script prints one JSON object per line on stdout, in the reference scripts' format:
 *   {"workload":"matmul-f32","system":"singlora-cpu","config":"n=512","metric":"median_ms","value":8.9,"unit":"ms"}
 * and writes progress to stderr, so stdout stays machine-readable.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { enableGemmThreads } from '../core/kernels/gemm.js';

// ---- options ------------------------------------------------------------------------------

export type OptionValues = Record<string, string | number | boolean>;

/**
 * Parses `--name value`, `--name=value` and bare `--flag` arguments over a table of defaults
 * (kebab-case names map to the camelCase keys).
 * The type of each default decides how its value is read; an unknown name is an error that lists
 * the accepted ones.
 */
export function parseOptions<T extends OptionValues>(script: string, argv: readonly string[], defaults: T): T {
  const options: OptionValues = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (!argument.startsWith('--')) {
      throw new Error(`${script}: unexpected argument '${argument}'; options look like --name value`);
    }
    let name = argument.slice(2);
    let text: string | undefined;
    const equals = name.indexOf('=');
    if (equals >= 0) {
      text = name.slice(equals + 1);
      name = name.slice(0, equals);
    }
    // --skip-anchors and --skipAnchors name the same option.
    name = name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
    if (!(name in defaults)) {
      throw new Error(`${script}: unknown option --${name}; accepted options: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
    }
    const fallback = defaults[name];
    if (typeof fallback === 'boolean') {
      options[name] = text === undefined ? true : text !== 'false';
      continue;
    }
    text ??= argv[++i];
    if (text === undefined) throw new Error(`${script}: option --${name} needs a value`);
    if (typeof fallback === 'number') {
      const value = Number(text);
      if (!Number.isFinite(value)) throw new Error(`${script}: option --${name} needs a number, got '${text}'`);
      options[name] = value;
    } else {
      options[name] = text;
    }
  }
  return options as T;
}

/** Returns whether the module at `moduleUrl` is the script Node was started with. */
export function isMainModule(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(entry).href === moduleUrl;
}

// ---- devices ------------------------------------------------------------------------------

/** Runs one step, freeing the device memory it allocated where the device needs that. */
export type StepScope = <T>(step: () => T) => T;

/**
 * Makes `device` usable and returns the scope each timed step runs in. 'cpu' needs nothing;
 * 'gpu' loads the gpu.js backend, forces `gpuMode` (unless 'auto') and runs steps inside its
 * `tidy`, because GPU buffers are not reclaimed by the garbage collector on their own.
 */
export async function prepareDevice(device: string, gpuMode: string): Promise<StepScope> {
  if (device === 'cpu') return (step) => step();
  if (device !== 'gpu') throw new Error(`unknown --device '${device}'; use cpu or gpu`);
  const gpu = await import('../gpu/index.js');
  if (gpuMode !== 'auto') gpu.setGpuMode(gpuMode);
  return (step) => gpu.tidy(step);
}

/**
 * Names our system in the records: singlora-cpu (singlora-cpu-2t with two matmul threads), or
 * singlora-gpu-<mode> for the gpu.js backend.
 */
export function systemName(device: string, gpuMode: string, threads = 1): string {
  if (device === 'gpu') return `singlora-gpu-${gpuMode}`;
  return threads > 1 ? `singlora-${device}-${threads}t` : `singlora-${device}`;
}

/**
 * Lets large float32 matmuls run on `threads` threads, with Node worker threads as the
 * workers. The workers are unref'd, so they do not keep the process alive.
 */
export function enableNodeGemmThreads(threads: number): void {
  if (threads <= 1) return;
  enableGemmThreads({
    threads,
    spawn: (source, data) => {
      const worker = new Worker(`(${source})(require('node:worker_threads').workerData)`, { eval: true, workerData: data });
      worker.unref();
      return worker;
    },
  });
}

// ---- seeded data --------------------------------------------------------------------------

/**
 * Returns a mulberry32 generator of uniforms in [0, 1). The reference scripts use this generator
 * (in JavaScript and, bit for bit, in NumPy), so the same seed gives the same weights everywhere.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns `length` normal draws times `std` from mulberry32(seed), by the Box-Muller transform. */
export function seededNormal(length: number, seed: number, std = 1): Float32Array {
  const uniform = mulberry32(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    // 1 - u lies in (0, 1], so the logarithm stays finite.
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = std * radius * Math.cos(angle);
    if (i + 1 < length) out[i + 1] = std * radius * Math.sin(angle);
  }
  return out;
}

/** Returns `length` integers drawn uniformly from [0, high) by mulberry32(seed). */
export function seededIntegers(length: number, high: number, seed: number): Int32Array {
  const uniform = mulberry32(seed);
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(uniform() * high);
  return out;
}

/** Returns the transpose of a row-major rows×cols matrix, as a new row-major cols×rows array. */
export function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = values[i * cols + j];
  }
  return out;
}

// ---- timing and memory --------------------------------------------------------------------

export interface TimingOptions {
  /** Untimed calls before timing starts. */
  warmup: number;
  /** Timed calls always made. */
  minReps: number;
  /** Timed calls never exceeded. */
  maxReps: number;
  /** Timing stops after minReps once this much timed wall clock (ms) has passed. */
  budgetMs: number;
}

export interface Timing {
  median: number;
  min: number;
  reps: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : 0.5 * (sorted[middle - 1] + sorted[middle]);
}

/**
 * Times `run` call by call with the reference scripts' rule: `warmup` untimed calls, then timed
 * calls until maxReps, or until minReps are done and budgetMs of timed wall clock has passed.
 * Memory is sampled after every call.
 */
export function measure(run: () => void, options: TimingOptions, memory?: MemoryPeaks): Timing {
  for (let i = 0; i < options.warmup; i++) {
    run();
    memory?.sample();
  }
  const times: number[] = [];
  const start = performance.now();
  while (times.length < options.maxReps) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
    memory?.sample();
    if (times.length >= options.minReps && performance.now() - start >= options.budgetMs) break;
  }
  return { median: median(times), min: Math.min(...times), reps: times.length };
}

/** Tracks the largest heap and external (typed array) memory seen, in bytes, between resets. */
export class MemoryPeaks {
  heapUsed = 0;
  external = 0;

  constructor() {
    this.reset();
  }

  sample(): void {
    const usage = process.memoryUsage();
    this.heapUsed = Math.max(this.heapUsed, usage.heapUsed);
    // Typed array storage of tensors lives outside the V8 heap, in arrayBuffers/external.
    this.external = Math.max(this.external, usage.external);
  }

  reset(): void {
    this.heapUsed = 0;
    this.external = 0;
    this.sample();
  }
}

/** Returns the peak resident set size of this process so far, in bytes. */
export function peakRss(): number {
  // resourceUsage reports maxRSS in kilobytes.
  return process.resourceUsage().maxRSS * 1024;
}

// ---- output -------------------------------------------------------------------------------

/** Rounds to 6 significant digits, as the reference scripts do, so the lines stay readable. */
function tidy(value: number | string): number | string {
  return typeof value === 'number' && Number.isFinite(value) ? Number(value.toPrecision(6)) : value;
}

/** Prints one result record as a JSON line on stdout. */
export function emit(workload: string, system: string, config: string, metric: string, value: number | string, unit: string): void {
  process.stdout.write(JSON.stringify({ workload, system, config, metric, value: tidy(value), unit }) + '\n');
}

/** Prints the peak memory records of one workload run (whole process, after it). */
export function emitMemory(workload: string, system: string, config: string, memory: MemoryPeaks): void {
  const mib = 1024 * 1024;
  emit(workload, system, config, 'peak_rss_mib', peakRss() / mib, 'MiB');
  emit(workload, system, config, 'peak_heap_used_mib', memory.heapUsed / mib, 'MiB');
  emit(workload, system, config, 'peak_external_mib', memory.external / mib, 'MiB');
}

/** Writes a progress line to stderr. */
export function log(message: string): void {
  process.stderr.write(message + '\n');
}

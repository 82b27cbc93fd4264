// Worker threads for the WebAssembly matrix product. Each worker runs its own instance of the
// shared-memory variant of wasm/gemm.wat over the same memory as the main thread. It computes one
// block of columns (or rows) of C while the main thread computes another.
//
// This file starts no thread itself and uses no Node or browser API beyond SharedArrayBuffer and
// Atomics: the caller injects a spawner that starts a thread running a given source, so the CPU
// backend stays usable from a browser bundle. A Node spawner is a few lines around
// worker_threads (see bench/common.ts).

/** The data a worker thread receives: the compiled module, the shared memory and its control slot. */
export interface GemmThreadData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  slot: number;
}

/**
 * Starts a thread that evaluates `source` (a JavaScript function expression) and calls it with
 * `data`, which must be passed by structured clone (postMessage or Node's workerData). Returns a
 * handle that stops the thread.
 */
export type GemmThreadSpawner = (source: string, data: GemmThreadData) => { terminate(): unknown };

// Control block of one worker: Int32 flags [state, ready, 0, 0] and then the 14 arguments of the
// exported gemm as Float64. States: IDLE until the main thread posts a product, RUN while the
// worker computes it, DONE when it has finished, STOP to end the thread.
const SLOT_BYTES = 128;
const ARGUMENTS_OFFSET = 16;
const IDLE = 0;
const RUN = 1;
const DONE = 2;
const STOP = 3;

/**
 * The body of every worker thread: instantiate the module over the shared memory, report ready,
 * then run the products the main thread posts until the main thread posts STOP.
 */
export const GEMM_THREAD_SOURCE = `(data) => {
  const { gemm } = new WebAssembly.Instance(data.module, { env: { memory: data.memory } }).exports;
  const flags = new Int32Array(data.control, data.slot * ${SLOT_BYTES}, 4);
  const args = new Float64Array(data.control, data.slot * ${SLOT_BYTES} + ${ARGUMENTS_OFFSET}, 14);
  Atomics.store(flags, 1, 1);
  Atomics.notify(flags, 1);
  for (;;) {
    let state = Atomics.load(flags, 0);
    while (state !== ${RUN} && state !== ${STOP}) {
      Atomics.wait(flags, 0, state);
      state = Atomics.load(flags, 0);
    }
    if (state === ${STOP}) return;
    gemm(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], args[13]);
    Atomics.store(flags, 0, ${DONE});
    Atomics.notify(flags, 0);
  }
}`;

// A worker that has not finished a product after this long is taken to be dead (a trap in the
// kernel, or a terminated thread), so the main thread throws instead of waiting forever.
const WORKER_TIMEOUT_MS = 60_000;

/** The 14 arguments of the exported gemm, in order. */
export type GemmArguments = [
  transA: number, transB: number, m: number, n: number, k: number,
  alpha: number, a: number, lda: number, b: number, ldb: number,
  beta: number, c: number, ldc: number, work: number,
];

/** A set of worker threads that run gemm calls on the module memory alongside the main thread. */
export class GemmThreadPool {
  private readonly control: SharedArrayBuffer;
  private readonly flags: Int32Array[] = [];
  private readonly args: Float64Array[] = [];
  private readonly handles: { terminate(): unknown }[] = [];

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, workers: number, spawn: GemmThreadSpawner) {
    this.control = new SharedArrayBuffer(SLOT_BYTES * workers);
    for (let slot = 0; slot < workers; slot++) {
      this.flags.push(new Int32Array(this.control, slot * SLOT_BYTES, 4));
      this.args.push(new Float64Array(this.control, slot * SLOT_BYTES + ARGUMENTS_OFFSET, 14));
      this.handles.push(spawn(GEMM_THREAD_SOURCE, { module, memory, control: this.control, slot }));
    }
  }

  /** The number of workers that have started and can take a product now. */
  get readyWorkers(): number {
    let ready = 0;
    while (ready < this.flags.length && Atomics.load(this.flags[ready], 1) === 1) ready++;
    return ready;
  }

  /**
   * Runs `calls[0]` on the main thread with `runLocal` and `calls[1..]` on the first workers, and
   * returns when all have finished. There must be at most `readyWorkers + 1` calls.
   */
  run(calls: GemmArguments[], runLocal: (call: GemmArguments) => void): void {
    for (let i = 1; i < calls.length; i++) {
      this.args[i - 1].set(calls[i]);
      Atomics.store(this.flags[i - 1], 0, RUN);
      Atomics.notify(this.flags[i - 1], 0);
    }
    try {
      runLocal(calls[0]);
    } finally {
      // The workers write into the same memory, so they must finish before anything reads it.
      for (let i = 1; i < calls.length; i++) this.waitForWorker(i - 1);
    }
  }

  /** Asks every worker to stop and releases the threads. */
  terminate(): void {
    for (const flags of this.flags) {
      Atomics.store(flags, 0, STOP);
      Atomics.notify(flags, 0);
    }
    for (const handle of this.handles) handle.terminate();
  }

  private waitForWorker(slot: number): void {
    const flags = this.flags[slot];
    const deadline = Date.now() + WORKER_TIMEOUT_MS;
    while (Atomics.load(flags, 0) === RUN) {
      if (Date.now() > deadline) {
        throw new Error(`gemm: worker thread ${slot} has not finished its product after ${WORKER_TIMEOUT_MS / 1000} s; ` +
          'it probably stopped (a trap or a terminated thread); call disableGemmThreads() to compute on one thread');
      }
      try {
        Atomics.wait(flags, 0, RUN, 100);
      } catch {
        // A browser's main thread may not block; it polls instead.
      }
    }
    Atomics.store(flags, 0, IDLE);
  }
}

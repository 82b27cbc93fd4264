// Runs the float32 WebAssembly SIMD kernel of wasm/gemm.wat: compiles it once, keeps one memory
// that grows to the largest product seen, and copies operands in and the result out per call.
//
// The module is compiled synchronously from the base64 bytes that scripts/build-wasm.mjs
// generates, so this file needs no fs access and no await, and works in a browser bundle too.
// Chrome before version 114 rejects synchronous compilation of modules over 4 KB on the main
// thread, so the build script warns when the module grows past that.

import { type GemmArguments, GemmThreadPool, type GemmThreadSpawner } from './gemm-threads.js';
import { gemmWasmBase64, gemmWasmSharedBase64 } from './wasm/gemm-wasm.js';

/** The exports of wasm/gemm.wat (the shared-memory variant imports its memory instead). */
interface GemmExports {
  memory?: WebAssembly.Memory;
  workspaceBytes(): number;
  gemm(
    transA: number, transB: number, m: number, n: number, k: number,
    alpha: number, a: number, lda: number, b: number, ldb: number,
    beta: number, c: number, ldc: number, work: number,
  ): void;
}

interface GemmInstance {
  exports: GemmExports;
  memory: WebAssembly.Memory;
  workspaceBytes: number;
  heap: Float32Array;
  /** Worker threads over the same (shared) memory, or null to compute on this thread only. */
  pool: GemmThreadPool | null;
  /** Workspaces at the start of memory: one per thread that may run a product at once. */
  workspaces: number;
}

const PAGE_BYTES = 65536;

// The smallest module that uses SIMD128: one function returning `v128.const 0`.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, // code section: no locals, v128.const
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // its 16 zero bytes
  0x0b, // end
]);

let simdAvailable: boolean | undefined;
let instance: GemmInstance | undefined;

/** Reports whether this engine runs WebAssembly SIMD128, checked once per process. */
export function wasmSimdAvailable(): boolean {
  if (simdAvailable === undefined) {
    simdAvailable = typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  }
  return simdAvailable;
}

function getInstance(): GemmInstance {
  if (instance !== undefined) return instance;

  const module = new WebAssembly.Module(decodeBase64(gemmWasmBase64));
  const exports = new WebAssembly.Instance(module, {}).exports as unknown as GemmExports;
  const memory = exports.memory!;
  instance = { exports, memory, workspaceBytes: exports.workspaceBytes(), heap: new Float32Array(memory.buffer), pool: null, workspaces: 1 };
  return instance;
}

// Pages of the shared memory: it starts at 256 pages (16 MiB) and may grow to the 32768 (2 GiB)
// that the shared-memory variant of the module declares.
const SHARED_INITIAL_PAGES = 256;
const SHARED_MAXIMUM_PAGES = 32768;

// Products below this many multiply-adds stay on one thread, because waking a worker and packing
// the shared operand twice cost more than the split saves on small products.
// NOTE: the value is a guess. Products of 4M multiply-adds and more gained on a 2-core machine
// (the W1 large and W3 shapes); the crossover itself was not measured.
const THREAD_MIN_MULTIPLY_ADDS = 1 << 22;

export interface GemmThreadOptions {
  /** Threads that compute one product together, the calling thread included; at least 2. */
  threads: number;
  /** Starts a worker thread; see GemmThreadSpawner. */
  spawn: GemmThreadSpawner;
}

/**
 * Splits large float32 products over `threads` threads: the kernel moves to a shared memory,
 * and `threads - 1` workers started with `spawn` each compute a block of C. Products under
 * about 4M multiply-adds stay on the calling thread. Needs SharedArrayBuffer (in browsers, a
 * cross-origin isolated page). Calling it again replaces the previous threads.
 */
export function enableGemmThreads(options: GemmThreadOptions): void {
  if (!Number.isInteger(options.threads) || options.threads < 2) {
    throw new RangeError(`enableGemmThreads: threads must be an integer of at least 2 (the calling thread included), got ${options.threads}`);
  }
  if (typeof SharedArrayBuffer !== 'function') {
    throw new Error('enableGemmThreads: this engine has no SharedArrayBuffer (in a browser, the page must be cross-origin isolated)');
  }
  disableGemmThreads();
  const module = new WebAssembly.Module(decodeBase64(gemmWasmSharedBase64));
  const memory = new WebAssembly.Memory({ initial: SHARED_INITIAL_PAGES, maximum: SHARED_MAXIMUM_PAGES, shared: true });
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
  instance = {
    exports,
    memory,
    workspaceBytes: exports.workspaceBytes(),
    heap: new Float32Array(memory.buffer),
    pool: new GemmThreadPool(module, memory, options.threads - 1, options.spawn),
    workspaces: options.threads,
  };
}

/** Stops the worker threads of `enableGemmThreads`; products run on the calling thread again. */
export function disableGemmThreads(): void {
  if (instance?.pool == null) return;
  instance.pool.terminate();
  instance = undefined;
}

/** Returns the number of threads that share large float32 products (1 unless enableGemmThreads ran). */
export function gemmThreadCount(): number {
  return instance?.workspaces ?? 1;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Returns a float32 view of the module memory, grown to at least `bytes`.
 *
 * NOTE: WebAssembly memory cannot shrink, so the largest product seen sets the memory footprint
 * for the rest of the process (about 4 * (m*k + k*n + m*n) bytes plus 2.2 MB of workspace).
 */
function heapOfAtLeast(state: GemmInstance, bytes: number): Float32Array {
  const memory = state.memory;
  if (memory.buffer.byteLength < bytes) {
    const pages = Math.ceil((bytes - memory.buffer.byteLength) / PAGE_BYTES);
    try {
      memory.grow(pages);
    } catch (error) {
      throw new RangeError(
        `gemmWasm: failed to grow WebAssembly memory to ${bytes} bytes for the operands ` +
        `(${(error as Error).message}); split the product into smaller ones or use gemmJs`);
    }
  }

  // Growing detaches the old ArrayBuffer, so the view must be rebuilt.
  if (state.heap.buffer !== memory.buffer) state.heap = new Float32Array(memory.buffer);
  return state.heap;
}

/** Rounds a float32 element count up to a multiple of 4 elements (16 bytes, one v128). */
function alignElements(count: number): number {
  return Math.ceil(count / 4) * 4;
}

/**
 * Computes C = alpha * op(A) op(B) + beta * C in WebAssembly, with arguments as in `gemm`. It
 * does no argument checks and assumes SIMD is available: callers check first.
 */
export function runGemmWasm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: Float32Array, aOffset: number, lda: number,
  b: Float32Array, bOffset: number, ldb: number,
  beta: number, c: Float32Array, cOffset: number, ldc: number,
): void {
  if (m === 0 || n === 0) return;
  const state = getInstance();

  // Memory layout, in float32 elements: [workspace | A | B | C], each operand packed densely so
  // its leading dimension inside the module is its row length.
  const aRows = transA ? k : m;
  const aCols = transA ? m : k;
  const bRows = transB ? n : k;
  const bCols = transB ? k : n;
  const aStart = alignElements((state.workspaces * state.workspaceBytes) / 4);
  const bStart = aStart + alignElements(aRows * aCols);
  const cStart = bStart + alignElements(bRows * bCols);
  const heap = heapOfAtLeast(state, (cStart + m * n) * 4);

  copyIn(heap, aStart, a, aOffset, aRows, aCols, lda);
  copyIn(heap, bStart, b, bOffset, bRows, bCols, ldb);
  // With beta = 0 the kernel overwrites C, so its old values need not travel.
  if (beta !== 0) copyIn(heap, cStart, c, cOffset, m, n, ldc);

  const call: GemmArguments = [
    transA ? 1 : 0, transB ? 1 : 0, m, n, k,
    alpha, aStart * 4, Math.max(aCols, 1), bStart * 4, Math.max(bCols, 1),
    beta, cStart * 4, n, 0,
  ];
  const parts = state.pool === null || m * n * k < THREAD_MIN_MULTIPLY_ADDS ? 1 : state.pool.readyWorkers + 1;
  if (parts > 1) {
    state.pool!.run(splitProduct(call, parts, state.workspaceBytes), (local) => state.exports.gemm(...local));
  } else {
    state.exports.gemm(...call);
  }

  copyOut(heap, cStart, c, cOffset, m, n, ldc);
}

// The kernel's micro-tile is MR × NR = 4 × 8 (wasm/gemm.wat); blocks of C start on tile edges.
const TILE_ROWS = 4;
const TILE_COLUMNS = 8;

/**
 * Cuts one product, laid out densely in module memory as `call` describes, into up to `parts`
 * products over disjoint blocks of C: blocks of columns when C is at least as wide as it is
 * tall, else blocks of rows. Each part gets its own workspace. The blocks read the same A or
 * B, so every thread packs its own copy of the shared operand.
 */
function splitProduct(call: GemmArguments, parts: number, workspaceBytes: number): GemmArguments[] {
  const [transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc] = call;
  const byColumns = n >= m;
  const extent = byColumns ? n : m;
  const tile = byColumns ? TILE_COLUMNS : TILE_ROWS;
  const step = Math.ceil(extent / tile / parts) * tile;

  const calls: GemmArguments[] = [];
  for (let start = 0, part = 0; start < extent; start += step, part++) {
    const size = Math.min(step, extent - start);
    const work = part * workspaceBytes;
    if (byColumns) {
      // Columns j of op(B) are columns of B, or rows of B stored transposed.
      const bBlock = b + (transB ? start * ldb : start) * 4;
      calls.push([transA, transB, m, size, k, alpha, a, lda, bBlock, ldb, beta, c + start * 4, ldc, work]);
    } else {
      // Rows i of op(A) are rows of A, or columns of A stored transposed.
      const aBlock = a + (transA ? start : start * lda) * 4;
      calls.push([transA, transB, size, n, k, alpha, aBlock, lda, b, ldb, beta, c + start * ldc * 4, ldc, work]);
    }
  }
  return calls;
}

// A batch whose operands exceed this many bytes is run in chunks, so that one large batched
// product does not grow the module memory (which never shrinks) far beyond its largest matrix.
const BATCH_CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * Runs `batchCount` products C_i = alpha * op(A_i) op(B_i) + beta * C_i, with arguments as in
 * `batchedGemm`, copying the operands of many products into module memory at once and calling
 * the kernel once per product. Small products (attention heads) then cost one kernel call each
 * instead of a round of copies each. No argument checks; SIMD must be available.
 */
export function runBatchedGemmWasm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: Float32Array, aOffset: number, lda: number, strideA: number,
  b: Float32Array, bOffset: number, ldb: number, strideB: number,
  beta: number, c: Float32Array, cOffset: number, ldc: number, strideC: number,
  batchCount: number,
): void {
  if (m === 0 || n === 0 || batchCount === 0) return;
  const state = getInstance();
  const operandA = batchOperand(transA ? k : m, transA ? m : k, lda, strideA);
  const operandB = batchOperand(transB ? n : k, transB ? k : n, ldb, strideB);
  const operandC = batchOperand(m, n, ldc, strideC);
  const perProduct = operandA.heapStride + operandB.heapStride + operandC.heapStride;
  const chunk = Math.max(1, Math.min(batchCount, Math.floor(BATCH_CHUNK_BYTES / 4 / Math.max(perProduct, 1))));

  for (let first = 0; first < batchCount; first += chunk) {
    const count = Math.min(chunk, batchCount - first);
    const aStart = alignElements((state.workspaces * state.workspaceBytes) / 4);
    const bStart = aStart + alignElements(heapExtent(operandA, count));
    const cStart = bStart + alignElements(heapExtent(operandB, count));
    const heap = heapOfAtLeast(state, (cStart + heapExtent(operandC, count)) * 4);

    copyBatchIn(heap, aStart, a, aOffset + first * strideA, lda, strideA, operandA, count);
    copyBatchIn(heap, bStart, b, bOffset + first * strideB, ldb, strideB, operandB, count);
    if (beta !== 0) copyBatchIn(heap, cStart, c, cOffset + first * strideC, ldc, strideC, operandC, count);

    const gemm = state.exports.gemm;
    for (let i = 0; i < count; i++) {
      gemm(
        transA ? 1 : 0, transB ? 1 : 0, m, n, k,
        alpha, (aStart + i * operandA.heapStride) * 4, Math.max(operandA.cols, 1),
        (bStart + i * operandB.heapStride) * 4, Math.max(operandB.cols, 1),
        beta, (cStart + i * operandC.heapStride) * 4, n, 0,
      );
    }

    const outStart = cOffset + first * strideC;
    if (operandC.dense) {
      c.set(heap.subarray(cStart, cStart + count * m * n), outStart);
    } else {
      for (let i = 0; i < count; i++) copyOut(heap, cStart + i * operandC.heapStride, c, outStart + i * strideC, m, n, ldc);
    }
  }
}

/** The layout of one operand of a batch in module memory. */
interface BatchOperand {
  rows: number;
  cols: number;
  /** The matrices follow one another with no gaps, so the batch travels in one copy. */
  dense: boolean;
  /** Elements between consecutive matrices in module memory; 0 for a broadcast operand. */
  heapStride: number;
}

function batchOperand(rows: number, cols: number, ld: number, stride: number): BatchOperand {
  const size = rows * cols;
  const dense = stride === size && (ld === cols || rows <= 1);
  // Matrices copied one at a time start on 16-byte boundaries; a dense batch keeps its layout.
  let heapStride = dense ? size : alignElements(size);
  if (stride === 0) heapStride = 0;
  return { rows, cols, dense, heapStride };
}

function heapExtent(operand: BatchOperand, count: number): number {
  return operand.heapStride === 0 ? operand.rows * operand.cols : count * operand.heapStride;
}

function copyBatchIn(
  heap: Float32Array, start: number, src: Float32Array, offset: number, ld: number, stride: number, operand: BatchOperand, count: number,
): void {
  if (operand.heapStride === 0) {
    copyIn(heap, start, src, offset, operand.rows, operand.cols, ld);
  } else if (operand.dense) {
    heap.set(src.subarray(offset, offset + count * operand.heapStride), start);
  } else {
    for (let i = 0; i < count; i++) copyIn(heap, start + i * operand.heapStride, src, offset + i * stride, operand.rows, operand.cols, ld);
  }
}

// Below this many elements an indexed loop copies faster than `set`, which needs a subarray
// object per row.
const LOOP_COPY_MAX_ELEMENTS = 256;

function copyIn(
  heap: Float32Array, start: number, src: Float32Array, offset: number,
  rows: number, cols: number, ld: number,
): void {
  if (rows * cols <= LOOP_COPY_MAX_ELEMENTS) {
    for (let i = 0; i < rows; i++) {
      const row = offset + i * ld;
      const heapRow = start + i * cols;
      for (let j = 0; j < cols; j++) heap[heapRow + j] = src[row + j];
    }
    return;
  }
  if (ld === cols) {
    heap.set(src.subarray(offset, offset + rows * cols), start);
    return;
  }
  for (let i = 0; i < rows; i++) {
    const row = offset + i * ld;
    heap.set(src.subarray(row, row + cols), start + i * cols);
  }
}

function copyOut(
  heap: Float32Array, start: number, dst: Float32Array, offset: number,
  rows: number, cols: number, ld: number,
): void {
  if (rows * cols <= LOOP_COPY_MAX_ELEMENTS) {
    for (let i = 0; i < rows; i++) {
      const row = offset + i * ld;
      const heapRow = start + i * cols;
      for (let j = 0; j < cols; j++) dst[row + j] = heap[heapRow + j];
    }
    return;
  }
  if (ld === cols) {
    dst.set(heap.subarray(start, start + rows * cols), offset);
    return;
  }
  for (let i = 0; i < rows; i++) {
    dst.set(heap.subarray(start + i * cols, start + (i + 1) * cols), offset + i * ld);
  }
}

// Runs the float32 WebAssembly SIMD kernel of wasm/gemm.wat: compiles it once, keeps one memory
// that grows to the largest product seen, and copies operands in and the result out per call.
//
// The module is compiled synchronously from the base64 bytes that scripts/build-wasm.mjs
// generates, so this file needs no fs access and no await, and works in a browser bundle too.
// Chrome before version 114 rejects synchronous compilation of modules over 4 KB on the main
// thread, so the build script warns when the module grows past that.

import { gemmWasmBase64 } from './wasm/gemm-wasm.js';

/** The exports of wasm/gemm.wat. */
interface GemmExports {
  memory: WebAssembly.Memory;
  workspaceBytes(): number;
  gemm(
    transA: number, transB: number, m: number, n: number, k: number,
    alpha: number, a: number, lda: number, b: number, ldb: number,
    beta: number, c: number, ldc: number, work: number,
  ): void;
}

interface GemmInstance {
  exports: GemmExports;
  workspaceBytes: number;
  heap: Float32Array;
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
  instance = {
    exports,
    workspaceBytes: exports.workspaceBytes(),
    heap: new Float32Array(exports.memory.buffer),
  };
  return instance;
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
  const memory = state.exports.memory;
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
  const aStart = alignElements(state.workspaceBytes / 4);
  const bStart = aStart + alignElements(aRows * aCols);
  const cStart = bStart + alignElements(bRows * bCols);
  const heap = heapOfAtLeast(state, (cStart + m * n) * 4);

  copyIn(heap, aStart, a, aOffset, aRows, aCols, lda);
  copyIn(heap, bStart, b, bOffset, bRows, bCols, ldb);
  // With beta = 0 the kernel overwrites C, so its old values need not travel.
  if (beta !== 0) copyIn(heap, cStart, c, cOffset, m, n, ldc);

  state.exports.gemm(
    transA ? 1 : 0, transB ? 1 : 0, m, n, k,
    alpha, aStart * 4, Math.max(aCols, 1), bStart * 4, Math.max(bCols, 1),
    beta, cStart * 4, n, 0,
  );

  copyOut(heap, cStart, c, cOffset, m, n, ldc);
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
    const aStart = alignElements(state.workspaceBytes / 4);
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

/** How one operand of a batch is laid out in module memory. */
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
  return { rows, cols, dense, heapStride: stride === 0 ? 0 : dense ? size : alignElements(size) };
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

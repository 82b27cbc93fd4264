// The one matrix-product entry point of the CPU backend, BLAS-style:
//
//   C = alpha * op(A) op(B) + beta * C,   op(X) = X, or X^T when transX is true
//
// All matrices are row-major inside flat typed arrays, found by an offset and a leading dimension
// (the stride between rows as stored). op(A) is m×k, op(B) is k×n and C is m×n. As in BLAS,
// beta = 0 overwrites C without reading it, so NaN in C does not reach the result.
//
// float32 products large enough to repay copying into WebAssembly memory run the SIMD kernel of
// wasm/gemm.wat. Everything else runs the JavaScript kernel of gemm-js.ts: float64, small
// products, and every product on engines without WebAssembly SIMD.
//
// NOTE: the WebAssembly kernel sums in float32 and the JavaScript kernel in float64, so a float32
// result can differ in its last bits on either side of the dispatch threshold.

import { runGemmJs } from './gemm-js.js';
import { runBatchedGemmWasm, runGemmWasm, wasmSimdAvailable } from './gemm-wasm-host.js';

export { wasmSimdAvailable };
export { type GemmThreadOptions, disableGemmThreads, enableGemmThreads, gemmThreadCount } from './gemm-wasm-host.js';
export { type GemmThreadData, type GemmThreadSpawner } from './gemm-threads.js';

/** An array the matrix products read and write. */
export type GemmArray = Float32Array | Float64Array;

// Below this many multiply-adds (m*n*k) the float32 dispatcher stays in JavaScript: copying the
// operands into WebAssembly memory costs more than the SIMD kernel saves. Measured with
// bench/matmul.ts on a 2-core AMD EPYC (Zen 4) under Node 20, where the two kernels break even
// at about 16×16×16.
const WASM_MIN_MULTIPLY_ADDS = 16 * 16 * 16;

/**
 * Computes C = alpha * op(A) op(B) + beta * C with the fastest kernel for the arrays: the
 * WebAssembly SIMD kernel for large enough float32 products, the JavaScript kernel otherwise.
 *
 * @param transA whether A is stored transposed (k×m) so that op(A) = A^T is m×k
 * @param transB whether B is stored transposed (n×k) so that op(B) = B^T is k×n
 * @param m rows of op(A) and of C
 * @param n columns of op(B) and of C
 * @param k columns of op(A), rows of op(B)
 * @param aOffset index of the first element of A in `a`
 * @param lda stride between rows of A as stored, at least its row length (k, or m if transA)
 * @param ldb stride between rows of B as stored, at least its row length (n, or k if transB)
 * @param ldc stride between rows of C, at least n
 */
export function gemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: GemmArray, aOffset: number, lda: number,
  b: GemmArray, bOffset: number, ldb: number,
  beta: number, c: GemmArray, cOffset: number, ldc: number,
): void {
  checkGemm('gemm', transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
  dispatch(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
}

/** `gemm` always run by the cache-blocked JavaScript kernel, for any mix of array types. */
export function gemmJs(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: GemmArray, aOffset: number, lda: number,
  b: GemmArray, bOffset: number, ldb: number,
  beta: number, c: GemmArray, cOffset: number, ldc: number,
): void {
  checkGemm('gemmJs', transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
  runGemmJs(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
}

/**
 * `gemm` always run by the WebAssembly SIMD kernel. All three arrays must be Float32Array, and
 * the engine must support WebAssembly SIMD (see `wasmSimdAvailable`).
 */
export function gemmWasm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: Float32Array, aOffset: number, lda: number,
  b: Float32Array, bOffset: number, ldb: number,
  beta: number, c: Float32Array, cOffset: number, ldc: number,
): void {
  checkGemm('gemmWasm', transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
  checkFloat32('a', a);
  checkFloat32('b', b);
  checkFloat32('c', c);
  if (!wasmSimdAvailable()) {
    throw new Error(
      'gemmWasm: this JavaScript engine does not support WebAssembly SIMD; ' +
      'use gemm, which falls back to gemmJs');
  }
  runGemmWasm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
}

/**
 * Runs `batchCount` independent products C_i = alpha * op(A_i) op(B_i) + beta * C_i, where
 * operand X_i starts at xOffset + i * strideX. A stride of 0 for A or B broadcasts that operand
 * to every product of the batch. C_i must not overlap one another, so strideC must be at least
 * the extent of one C ((m-1)*ldc + n) when batchCount > 1.
 */
export function batchedGemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: GemmArray, aOffset: number, lda: number, strideA: number,
  b: GemmArray, bOffset: number, ldb: number, strideB: number,
  beta: number, c: GemmArray, cOffset: number, ldc: number, strideC: number,
  batchCount: number,
): void {
  const op = 'batchedGemm';
  checkCount(op, 'batchCount', batchCount);
  checkCount(op, 'strideA', strideA);
  checkCount(op, 'strideB', strideB);
  checkCount(op, 'strideC', strideC);
  if (batchCount === 0) return;

  // Strides are non-negative, so checking the first and the last product covers every element.
  const last = batchCount - 1;
  checkGemm(op, transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
  checkGemm(op, transA, transB, m, n, k,
    a, aOffset + last * strideA, lda, b, bOffset + last * strideB, ldb, c, cOffset + last * strideC, ldc);
  if (batchCount > 1 && m > 0 && n > 0 && strideC < (m - 1) * ldc + n) {
    throw new RangeError(
      `${op}: strideC (${strideC}) is less than the extent of one C ((m-1)*ldc + n = ` +
      `${(m - 1) * ldc + n}), so the products of the batch would overwrite one another; ` +
      'give each C its own block');
  }

  // A shared B times a batch of stacked, untransposed A blocks is one product with batchCount*m
  // rows, which amortises packing B and, for float32, the copies into WebAssembly memory.
  if (strideB === 0 && !transA && strideA === m * lda && strideC === m * ldc) {
    dispatch(transA, transB, batchCount * m, n, k,
      alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    return;
  }

  // Many float32 products go through WebAssembly together: one round of copies for the batch,
  // then one kernel call per product. Products too small for the kernel on their own (below
  // WASM_MIN_MULTIPLY_ADDS, such as 16×16×8 attention heads) qualify when the batch is large.
  const float32 = a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array;
  if (batchCount > 1 && float32 && m * n * k * batchCount >= WASM_MIN_MULTIPLY_ADDS && wasmSimdAvailable()) {
    runBatchedGemmWasm(transA, transB, m, n, k, alpha, a as Float32Array, aOffset, lda, strideA,
      b as Float32Array, bOffset, ldb, strideB, beta, c as Float32Array, cOffset, ldc, strideC, batchCount);
    return;
  }

  for (let i = 0; i < batchCount; i++) {
    dispatch(transA, transB, m, n, k, alpha,
      a, aOffset + i * strideA, lda, b, bOffset + i * strideB, ldb, beta, c, cOffset + i * strideC, ldc);
  }
}

function dispatch(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: GemmArray, aOffset: number, lda: number,
  b: GemmArray, bOffset: number, ldb: number,
  beta: number, c: GemmArray, cOffset: number, ldc: number,
): void {
  const useWasm = a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array
    && m * n * k >= WASM_MIN_MULTIPLY_ADDS && wasmSimdAvailable();
  if (useWasm) {
    runGemmWasm(transA, transB, m, n, k, alpha,
      a as Float32Array, aOffset, lda, b as Float32Array, bOffset, ldb,
      beta, c as Float32Array, cOffset, ldc);
  } else {
    runGemmJs(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
  }
}

/** Throws if the sizes, strides or offsets do not describe matrices inside the arrays. */
function checkGemm(
  op: string, transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: GemmArray, aOffset: number, lda: number,
  b: GemmArray, bOffset: number, ldb: number,
  c: GemmArray, cOffset: number, ldc: number,
): void {
  checkCount(op, 'm', m);
  checkCount(op, 'n', n);
  checkCount(op, 'k', k);

  const aLayout = transA ? STORED_TRANSPOSED_A : STORED_A;
  const bLayout = transB ? STORED_TRANSPOSED_B : STORED_B;
  checkMatrix(op, 'A', a, aOffset, 'lda', lda, transA ? k : m, transA ? m : k, aLayout);
  checkMatrix(op, 'B', b, bOffset, 'ldb', ldb, transB ? n : k, transB ? k : n, bLayout);
  checkMatrix(op, 'C', c, cOffset, 'ldc', ldc, m, n, STORED_C);

  checkNoOverlap(op, 'A', a, aOffset, lda, transA ? k : m, transA ? m : k, c, cOffset, ldc, m, n);
  checkNoOverlap(op, 'B', b, bOffset, ldb, transB ? n : k, transB ? k : n, c, cOffset, ldc, m, n);
}

function checkCount(op: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${value}`);
  }
}

/** The stored shape of a matrix, in the names of its sizes, for messages. */
interface StoredLayout {
  rows: string;
  cols: string;
  note: string;
}

const STORED_A: StoredLayout = { rows: 'm', cols: 'k', note: '' };
const STORED_TRANSPOSED_A: StoredLayout = { rows: 'k', cols: 'm', note: ' (transA)' };
const STORED_B: StoredLayout = { rows: 'k', cols: 'n', note: '' };
const STORED_TRANSPOSED_B: StoredLayout = { rows: 'n', cols: 'k', note: ' (transB)' };
const STORED_C: StoredLayout = { rows: 'm', cols: 'n', note: '' };

function describeShape(layout: StoredLayout, rows: number, cols: number): string {
  return `${layout.rows}×${layout.cols} = ${rows}×${cols}${layout.note}`;
}

// Takes the layout rather than a ready message, because building strings on every call would
// cost small products more than the product itself.
function checkMatrix(
  op: string, name: string, array: GemmArray, offset: number,
  ldName: string, ld: number, rows: number, cols: number, layout: StoredLayout,
): void {
  checkCount(op, `the offset of ${name}`, offset);
  if (!Number.isSafeInteger(ld) || ld < Math.max(1, cols)) {
    const shape = describeShape(layout, rows, cols);
    throw new RangeError(
      `${op}: ${ldName} (${ld}) must be an integer of at least ${Math.max(1, cols)}, the row ` +
      `length of ${name} as stored (${shape}); pass the stride between rows of ${name}`);
  }
  if (rows === 0 || cols === 0) return;

  const end = offset + (rows - 1) * ld + cols;
  if (end > array.length) {
    const shape = describeShape(layout, rows, cols);
    throw new RangeError(
      `${op}: ${name} (${shape}, offset ${offset}, ${ldName} ${ld}) reaches index ${end - 1}, ` +
      `but its array has only ${array.length} elements`);
  }
}

/** Throws if C shares memory with an input, which the kernels would read after overwriting. */
function checkNoOverlap(
  op: string, name: string, x: GemmArray, xOffset: number, ldx: number, xRows: number, xCols: number,
  c: GemmArray, cOffset: number, ldc: number, m: number, n: number,
): void {
  if (x.buffer !== c.buffer || xRows === 0 || xCols === 0 || m === 0 || n === 0) return;

  const xStart = x.byteOffset + xOffset * x.BYTES_PER_ELEMENT;
  const xEnd = xStart + ((xRows - 1) * ldx + xCols) * x.BYTES_PER_ELEMENT;
  const cStart = c.byteOffset + cOffset * c.BYTES_PER_ELEMENT;
  const cEnd = cStart + ((m - 1) * ldc + n) * c.BYTES_PER_ELEMENT;
  if (xStart < cEnd && cStart < xEnd) {
    throw new RangeError(
      `${op}: C (bytes ${cStart}..${cEnd - 1}) overlaps ${name} (bytes ${xStart}..${xEnd - 1}) ` +
      'in the same buffer; write the product to a separate array');
  }
}

function checkFloat32(name: string, array: unknown): void {
  if (array instanceof Float32Array) return;
  const type = (array as object | null)?.constructor?.name ?? String(array);
  throw new TypeError(
    `gemmWasm: ${name} must be a Float32Array, got ${type}; use gemm or gemmJs for float64`);
}

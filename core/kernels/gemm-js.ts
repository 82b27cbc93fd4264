// Matrix product in plain JavaScript: the kernel for float64, for float32 products too small to
// repay the copies into WebAssembly memory, and for engines without WebAssembly SIMD.
//
// Small and thin products run an unpacked loop over 2×4 blocks of C. Larger ones follow the same
// cache-blocked scheme as wasm/gemm.wat. Blocks of op(A) and op(B) are packed into float64 scratch
// buffers laid out in the order the micro-kernel reads them, so the transposes only change the
// packing loops. The micro-kernel keeps a 4×4 tile of C in local variables, which TurboFan keeps
// in registers. Its inner loop reads only the Float64Array packs, so it stays monomorphic whether
// the caller passes Float32Array or Float64Array.

import type { GemmArray } from './gemm.js';

// Blocking sizes, in elements. MC is a multiple of MR and NC a multiple of NR.
const MR = 4;
const NR = 4;
const KC = 256;
const MC = 64;
const NC = 1024;

// Up to this many multiply-adds (m*n*k), and for thin products (m < MR or n < NR, where packing
// would pad most of each tile with zeros), the unpacked loop of runSmallGemm is faster than
// packing. Measured with float64 on a 2-core AMD EPYC (Zen 4) under Node 20: the unpacked loop
// was faster on n×n×n products up to n = 48 and on thin products up to 1×256×256.
const SMALL_MULTIPLY_ADDS = 32 * 32 * 32;

// Scratch reused across calls, so steady-state products allocate nothing. `tile` receives the
// accumulators of an edge tile, which only partly lies inside C.
let packedA = new Float64Array(0);
let packedB = new Float64Array(0);
const tile = new Float64Array(MR * NR);

/**
 * Computes C = alpha * op(A) op(B) + beta * C, with arguments as in `gemm`. It does no argument
 * checks: callers validate first.
 */
export function runGemmJs(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: GemmArray, aOffset: number, lda: number,
  b: GemmArray, bOffset: number, ldb: number,
  beta: number, c: GemmArray, cOffset: number, ldc: number,
): void {
  if (m === 0 || n === 0) return;
  if ((m * n * k <= SMALL_MULTIPLY_ADDS || m < MR || n < NR) && alpha !== 0) {
    runSmallGemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    return;
  }

  // Scaling C by beta first lets every k block simply accumulate into C.
  if (beta !== 1) scaleC(m, n, beta, c, cOffset, ldc);
  if (k === 0 || alpha === 0) return;

  ensureScratch();
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);

    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packB(transB, b, bOffset, ldb, pc, jc, kc, nc);

      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        packA(transA, a, aOffset, lda, ic, pc, mc, kc);

        for (let jr = 0; jr < nc; jr += NR) {
          const cols = Math.min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = Math.min(MR, mc - ir);
            microKernel(packedA, ir * kc, packedB, jr * kc, kc,
              alpha, c, cOffset + (ic + ir) * ldc + jc + jr, ldc, rows, cols);
          }
        }
      }
    }
  }
}

/**
 * `runGemmJs` for small or thin products, with no packing. Each step computes a 2×4 block of C as
 * eight dot products, so eight independent sums keep the floating-point adders busy. At the edges
 * of C the block repeats the last row or column of op(A) or op(B), so every load stays inside the
 * operands, and drops the repeated sums.
 */
function runSmallGemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: GemmArray, aOffset: number, lda: number,
  b: GemmArray, bOffset: number, ldb: number,
  beta: number, c: GemmArray, cOffset: number, ldc: number,
): void {
  // Strides of op(A) along i and p, and of op(B) along p and j.
  const aStrideI = transA ? 1 : lda;
  const aStrideP = transA ? lda : 1;
  const bStrideP = transB ? 1 : ldb;
  const bStrideJ = transB ? ldb : 1;

  for (let i = 0; i < m; i += 2) {
    const rows = Math.min(2, m - i);
    const aRow0 = aOffset + i * aStrideI;
    const aRow1 = aRow0 + (rows - 1) * aStrideI;
    const cRow = cOffset + i * ldc;

    for (let j = 0; j < n; j += 4) {
      const cols = Math.min(4, n - j);
      const bColumn0 = bOffset + j * bStrideJ;
      const bColumn1 = bOffset + Math.min(j + 1, n - 1) * bStrideJ;
      const bColumn2 = bOffset + Math.min(j + 2, n - 1) * bStrideJ;
      const bColumn3 = bOffset + Math.min(j + 3, n - 1) * bStrideJ;

      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      for (let p = 0, aStep = 0, bStep = 0; p < k; p++, aStep += aStrideP, bStep += bStrideP) {
        const a0 = a[aRow0 + aStep], a1 = a[aRow1 + aStep];
        const b0 = b[bColumn0 + bStep], b1 = b[bColumn1 + bStep];
        const b2 = b[bColumn2 + bStep], b3 = b[bColumn3 + bStep];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
      }

      storeRow(c, cRow + j, cols, alpha, beta, c00, c01, c02, c03);
      if (rows === 2) storeRow(c, cRow + ldc + j, cols, alpha, beta, c10, c11, c12, c13);
    }
  }
}

/**
 * Sets the first `cols` of c[index..index+3] to alpha * sum + beta * c. beta = 0 does not read C,
 * which may contain NaN.
 */
function storeRow(
  c: GemmArray, index: number, cols: number, alpha: number, beta: number,
  sum0: number, sum1: number, sum2: number, sum3: number,
): void {
  if (beta === 0) {
    c[index] = alpha * sum0;
    if (cols > 1) c[index + 1] = alpha * sum1;
    if (cols > 2) c[index + 2] = alpha * sum2;
    if (cols > 3) c[index + 3] = alpha * sum3;
    return;
  }
  c[index] = alpha * sum0 + beta * c[index];
  if (cols > 1) c[index + 1] = alpha * sum1 + beta * c[index + 1];
  if (cols > 2) c[index + 2] = alpha * sum2 + beta * c[index + 2];
  if (cols > 3) c[index + 3] = alpha * sum3 + beta * c[index + 3];
}

function ensureScratch(): void {
  if (packedA.length === 0) {
    packedA = new Float64Array(MC * KC);
    packedB = new Float64Array(KC * NC);
  }
}

/** Scales C[0:m, 0:n] by beta. beta = 0 stores zeros without reading C, as reference BLAS does. */
function scaleC(m: number, n: number, beta: number, c: GemmArray, cOffset: number, ldc: number): void {
  for (let i = 0; i < m; i++) {
    const row = cOffset + i * ldc;
    if (beta === 0) {
      c.fill(0, row, row + n);
    } else {
      for (let j = row; j < row + n; j++) c[j] *= beta;
    }
  }
}

/**
 * Packs op(A)[i0 : i0+mc, p0 : p0+kc] into `packedA` as micro-panels of MR rows: panel r contains,
 * for each p in turn, op(A)[i0 + r*MR + 0..MR-1, p0 + p]. Rows past mc are zero.
 */
function packA(
  transA: boolean, a: GemmArray, aOffset: number, lda: number,
  i0: number, p0: number, mc: number, kc: number,
): void {
  const dst = packedA;
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = Math.min(MR, mc - ir);
    const panel = ir * kc;

    for (let ii = 0; ii < MR; ii++) {
      let out = panel + ii;
      if (ii >= rows) {
        for (let p = 0; p < kc; p++, out += MR) dst[out] = 0;
        continue;
      }

      // op(A)[i, p] is a[i*lda + p], or a[p*lda + i] when A is stored transposed.
      const i = i0 + ir + ii;
      let src = transA ? aOffset + p0 * lda + i : aOffset + i * lda + p0;
      const step = transA ? lda : 1;
      for (let p = 0; p < kc; p++, out += MR, src += step) dst[out] = a[src];
    }
  }
}

/**
 * Packs op(B)[p0 : p0+kc, j0 : j0+nc] into `packedB` as micro-panels of NR columns: panel r
 * contains, for each p in turn, op(B)[p0 + p, j0 + r*NR + 0..NR-1]. Columns past nc are zero.
 */
function packB(
  transB: boolean, b: GemmArray, bOffset: number, ldb: number,
  p0: number, j0: number, kc: number, nc: number,
): void {
  const dst = packedB;
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = Math.min(NR, nc - jr);
    const panel = jr * kc;

    for (let jj = 0; jj < NR; jj++) {
      let out = panel + jj;
      if (jj >= cols) {
        for (let p = 0; p < kc; p++, out += NR) dst[out] = 0;
        continue;
      }

      // op(B)[p, j] is b[p*ldb + j], or b[j*ldb + p] when B is stored transposed.
      const j = j0 + jr + jj;
      let src = transB ? bOffset + j * ldb + p0 : bOffset + p0 * ldb + j;
      const step = transB ? 1 : ldb;
      for (let p = 0; p < kc; p++, out += NR, src += step) dst[out] = b[src];
    }
  }
}

/**
 * Adds alpha * (A micro-panel at aIndex) (B micro-panel at bIndex), summed over kc >= 1 steps,
 * to the rows × cols tile of C at cIndex. Only the accumulator loop reads the packed buffers, so
 * its element accesses stay monomorphic (Float64Array) whatever the type of C.
 */
function microKernel(
  pa: Float64Array, aIndex: number, pb: Float64Array, bIndex: number, kc: number,
  alpha: number, c: GemmArray, cIndex: number, ldc: number, rows: number, cols: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;

  const aEnd = aIndex + kc * MR;
  for (; aIndex < aEnd; aIndex += MR, bIndex += NR) {
    const b0 = pb[bIndex], b1 = pb[bIndex + 1], b2 = pb[bIndex + 2], b3 = pb[bIndex + 3];

    const a0 = pa[aIndex];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    const a1 = pa[aIndex + 1];
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    const a2 = pa[aIndex + 2];
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    const a3 = pa[aIndex + 3];
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }

  if (rows === MR && cols === NR) {
    let row = cIndex;
    c[row] += alpha * c00; c[row + 1] += alpha * c01; c[row + 2] += alpha * c02; c[row + 3] += alpha * c03;
    row += ldc;
    c[row] += alpha * c10; c[row + 1] += alpha * c11; c[row + 2] += alpha * c12; c[row + 3] += alpha * c13;
    row += ldc;
    c[row] += alpha * c20; c[row + 1] += alpha * c21; c[row + 2] += alpha * c22; c[row + 3] += alpha * c23;
    row += ldc;
    c[row] += alpha * c30; c[row + 1] += alpha * c31; c[row + 2] += alpha * c32; c[row + 3] += alpha * c33;
    return;
  }

  // An edge tile: spill the accumulators, then add only the part that lies inside C.
  tile[0] = c00; tile[1] = c01; tile[2] = c02; tile[3] = c03;
  tile[4] = c10; tile[5] = c11; tile[6] = c12; tile[7] = c13;
  tile[8] = c20; tile[9] = c21; tile[10] = c22; tile[11] = c23;
  tile[12] = c30; tile[13] = c31; tile[14] = c32; tile[15] = c33;
  for (let i = 0; i < rows; i++) {
    const row = cIndex + i * ldc;
    for (let j = 0; j < cols; j++) c[row + j] += alpha * tile[i * NR + j];
  }
}

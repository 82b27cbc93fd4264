import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import fc from 'fast-check';

import { batchedGemm, gemm, gemmJs, gemmWasm, wasmSimdAvailable, type GemmArray } from '../core/kernels/gemm.js';

// The products are checked against a float64 triple loop written here. The float32 tolerance is
// the classic bound for a sum of k products rounded in single precision, (k + 4) * 2^-24 times the
// sum of |alpha * a * b| terms plus |beta * c|, with 4 spare roundings for alpha, beta and the
// additions into C. A wrong index or a dropped term errs by a whole term, far above it.
const FLOAT32_UNIT_ROUNDOFF = 2 ** -24;
const FLOAT64_RELATIVE_TOLERANCE = 1e-12;

type GemmFunction = (
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: GemmArray, aOffset: number, lda: number,
  b: GemmArray, bOffset: number, ldb: number,
  beta: number, c: GemmArray, cOffset: number, ldc: number,
) => void;

type ArrayConstructor = Float32ArrayConstructor | Float64ArrayConstructor;

interface GemmCase {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  aOffset: number;
  bOffset: number;
  cOffset: number;
  // Extra elements between rows: the leading dimension is the row length plus this padding.
  aPadding: number;
  bPadding: number;
  cPadding: number;
  seed: number;
}

interface Operands {
  a: GemmArray;
  lda: number;
  b: GemmArray;
  ldb: number;
  c: GemmArray;
  ldc: number;
  cBefore: Float64Array;
}

/** Deterministic values in [-1, 1) from a 32-bit seed (mulberry32). */
function randomValues(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  };
}

function makeOperands(ArrayType: ArrayConstructor, gemmCase: GemmCase): Operands {
  const { transA, transB, m, n, k, beta } = gemmCase;
  const random = randomValues(gemmCase.seed);
  const lda = (transA ? m : k) + gemmCase.aPadding;
  const ldb = (transB ? k : n) + gemmCase.bPadding;
  const ldc = n + gemmCase.cPadding;

  // Each array has a few spare elements past the matrix, which must survive untouched too.
  const a = new ArrayType(gemmCase.aOffset + (transA ? k : m) * lda + 3).map(random);
  const b = new ArrayType(gemmCase.bOffset + (transB ? n : k) * ldb + 3).map(random);
  const c = new ArrayType(gemmCase.cOffset + m * ldc + 3).map(random);

  // With beta = 0 the old C must be overwritten, never read: NaN there must not reach the result.
  if (beta === 0) {
    for (let i = 0; i < m; i++) {
      const row = gemmCase.cOffset + i * ldc;
      c.fill(NaN, row, row + n);
    }
  }
  return { a, lda, b, ldb, c, ldc, cBefore: Float64Array.from(c) };
}

function runCase(kernel: GemmFunction, gemmCase: GemmCase, operands: Operands): void {
  const { transA, transB, m, n, k, alpha, beta } = gemmCase;
  const { a, lda, b, ldb, c, ldc } = operands;
  kernel(transA, transB, m, n, k, alpha, a, gemmCase.aOffset, lda, b, gemmCase.bOffset, ldb,
    beta, c, gemmCase.cOffset, ldc);
}

/**
 * Checks C against the float64 triple loop, and that no element of the array outside the m×n
 * matrix changed.
 */
function checkResult(gemmCase: GemmCase, operands: Operands, relativeTolerance: (k: number) => number): void {
  const { transA, transB, m, n, k, alpha, beta, aOffset, bOffset, cOffset } = gemmCase;
  const { a, lda, b, ldb, c, ldc, cBefore } = operands;
  const insideC = new Uint8Array(c.length);

  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      let magnitude = 0;
      for (let p = 0; p < k; p++) {
        const aValue = transA ? a[aOffset + p * lda + i] : a[aOffset + i * lda + p];
        const bValue = transB ? b[bOffset + j * ldb + p] : b[bOffset + p * ldb + j];
        sum += aValue * bValue;
        magnitude += Math.abs(aValue * bValue);
      }

      const index = cOffset + i * ldc + j;
      insideC[index] = 1;
      const oldC = beta === 0 ? 0 : cBefore[index];
      const expected = alpha * sum + beta * oldC;
      const tolerance = relativeTolerance(k) * (Math.abs(alpha) * magnitude + Math.abs(beta * oldC));
      const error = Math.abs(c[index] - expected);
      assert.ok(error <= tolerance,
        `C[${i}, ${j}] = ${c[index]} but the float64 loop gives ${expected} ` +
        `(error ${error}, tolerance ${tolerance}) for ${JSON.stringify(gemmCase)}`);
    }
  }

  for (let index = 0; index < c.length; index++) {
    if (insideC[index]) continue;
    assert.ok(Object.is(c[index], cBefore[index]),
      `element ${index} outside C changed from ${cBefore[index]} to ${c[index]} for ${JSON.stringify(gemmCase)}`);
  }
}

const float32Tolerance = (k: number) => (k + 4) * FLOAT32_UNIT_ROUNDOFF;
const float64Tolerance = () => FLOAT64_RELATIVE_TOLERANCE;

/** Sizes 1..maxSize, with 1 (a vector or an outer product) drawn in about one case in four. */
function sizeArbitrary(maxSize: number): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.constant(1), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: maxSize }), weight: 3 },
  );
}

function caseArbitrary(maxSize: number): fc.Arbitrary<GemmCase> {
  return fc.record({
    transA: fc.boolean(),
    transB: fc.boolean(),
    m: sizeArbitrary(maxSize),
    n: sizeArbitrary(maxSize),
    k: sizeArbitrary(maxSize),
    alpha: fc.constantFrom(1, -1, 0.5, 2.25, 0),
    beta: fc.constantFrom(0, 1, -0.75, 1.5),
    aOffset: fc.nat(6),
    bOffset: fc.nat(6),
    cOffset: fc.nat(6),
    aPadding: fc.nat(5),
    bPadding: fc.nat(5),
    cPadding: fc.nat(5),
    seed: fc.integer(),
  });
}

// Shapes past the blocking sizes of both kernels, all far above the dispatcher's WebAssembly
// threshold. They cross one and two k blocks (256), one m block (128 in wasm, 64 in JS) and one
// n block (2048 in wasm, 1024 in JS), and leave edge tiles in every direction.
const LARGE_SHAPES: ReadonlyArray<[number, number, number]> = [
  [130, 70, 257],
  [67, 9, 600],
  [5, 2100, 4],
];

function largeCases(): GemmCase[] {
  const cases: GemmCase[] = [];
  for (const [m, n, k] of LARGE_SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        cases.push({
          transA, transB, m, n, k, alpha: -1.25, beta: cases.length % 2 === 0 ? 0 : 0.5,
          aOffset: 3, bOffset: 1, cOffset: 2, aPadding: 2, bPadding: 5, cPadding: 1, seed: cases.length,
        });
      }
    }
  }
  return cases;
}

const asGemmFunction = (kernel: typeof gemmWasm) => kernel as unknown as GemmFunction;

const KERNELS: ReadonlyArray<{ name: string; kernel: GemmFunction; float64: boolean }> = [
  { name: 'gemmJs', kernel: gemmJs, float64: true },
  { name: 'gemmWasm', kernel: asGemmFunction(gemmWasm), float64: false },
  { name: 'gemm', kernel: gemm, float64: true },
];

describe('gemm kernels', () => {
  it('wasmSimdAvailable on Node 20', () => {
    assert.equal(wasmSimdAvailable(), true);
  });

  for (const { name, kernel, float64 } of KERNELS) {
    describe(name, () => {
      it('float32 matches float64 loop', () => {
        fc.assert(fc.property(caseArbitrary(70), (gemmCase) => {
          const operands = makeOperands(Float32Array, gemmCase);
          runCase(kernel, gemmCase, operands);
          checkResult(gemmCase, operands, float32Tolerance);
        }), { numRuns: 80 });
      });

      it('float32 large shapes', () => {
        for (const gemmCase of largeCases()) {
          const operands = makeOperands(Float32Array, gemmCase);
          runCase(kernel, gemmCase, operands);
          checkResult(gemmCase, operands, float32Tolerance);
        }
      });

      if (!float64) return;

      it('float64 matches float64 loop', () => {
        fc.assert(fc.property(caseArbitrary(70), (gemmCase) => {
          const operands = makeOperands(Float64Array, gemmCase);
          runCase(kernel, gemmCase, operands);
          checkResult(gemmCase, operands, float64Tolerance);
        }), { numRuns: 80 });
      });

      it('float64 large shapes', () => {
        for (const gemmCase of largeCases()) {
          const operands = makeOperands(Float64Array, gemmCase);
          runCase(kernel, gemmCase, operands);
          checkResult(gemmCase, operands, float64Tolerance);
        }
      });
    });
  }

  describe('edge cases', () => {
    it('k = 0 scales C by beta', () => {
      for (const { name, kernel } of KERNELS) {
        const c = new Float32Array([1, 2, 3, 4]);
        kernel(false, false, 2, 2, 0, 1, new Float32Array(0), 0, 1, new Float32Array(0), 0, 2, 0.5, c, 0, 2);
        assert.deepEqual(Array.from(c), [0.5, 1, 1.5, 2], name);
      }
    });

    it('beta = 0 and alpha = 0 overwrite NaN', () => {
      for (const { name, kernel } of KERNELS) {
        const a = new Float32Array([NaN, 1, 2, 3]);
        const c = new Float32Array([NaN, NaN, NaN, NaN]);
        kernel(false, false, 2, 2, 2, 0, a, 0, 2, a.slice(), 0, 2, 0, c, 0, 2);
        assert.deepEqual(Array.from(c), [0, 0, 0, 0], name);
      }
    });

    it('2×2 product by hand', () => {
      // [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50], then 2 * that - [1 1; 1 1].
      for (const { name, kernel } of KERNELS) {
        const c = new Float32Array([1, 1, 1, 1]);
        kernel(false, false, 2, 2, 2, 2, new Float32Array([1, 2, 3, 4]), 0, 2,
          new Float32Array([5, 6, 7, 8]), 0, 2, -1, c, 0, 2);
        assert.deepEqual(Array.from(c), [37, 43, 85, 99], name);
      }
    });

    it('gemmJs mixed float32 and float64', () => {
      // [1 2 3] · [1 2 3]^T = 14, accumulated into a float64 C.
      const c = new Float64Array([1]);
      gemmJs(false, true, 1, 1, 3, 1, new Float32Array([1, 2, 3]), 0, 3, new Float64Array([1, 2, 3]), 0, 3, 1, c, 0, 1);
      assert.deepEqual(Array.from(c), [15]);
    });

    it('gemm reuses grown wasm memory', () => {
      // A large product grows the module memory; a smaller one afterwards must see fresh operands.
      for (const [m, n, k] of [[200, 200, 200], [40, 30, 20], [300, 10, 400]]) {
        const gemmCase: GemmCase = {
          transA: false, transB: true, m, n, k, alpha: 1, beta: 0,
          aOffset: 0, bOffset: 0, cOffset: 0, aPadding: 0, bPadding: 0, cPadding: 0, seed: m,
        };
        const operands = makeOperands(Float32Array, gemmCase);
        runCase(asGemmFunction(gemmWasm), gemmCase, operands);
        checkResult(gemmCase, operands, float32Tolerance);
      }
    });
  });

  it('gemm falls back without SIMD', function () {
    // A child process, because the SIMD check runs once per process. There the engine reports no
    // SIMD and cannot compile modules at all, so any attempt to use the wasm kernel throws.
    this.timeout(30_000);
    const script = `
      WebAssembly.validate = () => false;
      WebAssembly.Module = function () { throw new Error('WebAssembly.Module called'); };
      const { gemm, gemmWasm, wasmSimdAvailable } = await import('./core/kernels/gemm.ts');
      const n = 40;
      const a = new Float32Array(n * n).fill(1);
      const c = new Float32Array(n * n);
      gemm(false, true, n, n, n, 1, a, 0, n, a, 0, n, 0, c, 0, n);
      let wasmError = '';
      try { gemmWasm(false, false, 1, 1, 1, 1, a, 0, 1, a, 0, 1, 0, c, 0, 1); } catch (error) { wasmError = error.message; }
      console.log(JSON.stringify({ simd: wasmSimdAvailable(), first: c[0], last: c[n * n - 1], wasmError }));
    `;
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    });
    const result = JSON.parse(output);
    assert.equal(result.simd, false);
    // Every element of a 40×40 all-ones product is 40.
    assert.equal(result.first, 40);
    assert.equal(result.last, 40);
    assert.match(result.wasmError, /does not support WebAssembly SIMD/);
  });

  describe('argument checks', () => {
    const a = new Float32Array(6);
    const b = new Float32Array(6);
    const c = new Float32Array(4);

    it('rejects negative sizes', () => {
      assert.throws(() => gemm(false, false, -1, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2),
        /gemm: m must be a non-negative integer, got -1/);
    });

    it('rejects short leading dimensions', () => {
      assert.throws(() => gemm(false, false, 2, 2, 3, 1, a, 0, 2, b, 0, 2, 0, c, 0, 2), /lda \(2\) must be .* at least 3/);
      assert.throws(() => gemm(false, true, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2), /ldb \(2\) must be .* at least 3/);
      assert.throws(() => gemm(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 1), /ldc \(1\) must be .* at least 2/);
    });

    it('rejects operands past the array', () => {
      assert.throws(() => gemm(false, false, 2, 2, 3, 1, a, 1, 3, b, 0, 2, 0, c, 0, 2),
        /A \(m×k = 2×3, offset 1, lda 3\) reaches index 6, but its array has only 6 elements/);
    });

    it('rejects C overlapping an input', () => {
      const shared = new Float32Array(16);
      assert.throws(() => gemm(false, false, 2, 2, 2, 1, shared, 0, 2, b, 0, 2, 0, shared, 2, 2), /C .* overlaps A/);
    });

    it('gemmWasm rejects float64', () => {
      const c64 = new Float64Array(4);
      assert.throws(() => gemmWasm(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c64 as unknown as Float32Array, 0, 2),
        /gemmWasm: c must be a Float32Array, got Float64Array/);
    });
  });
});

describe('batchedGemm', () => {
  interface BatchCase {
    gemmCase: GemmCase;
    batchCount: number;
    broadcast: 'none' | 'a' | 'b';
    // Elements added to (or, when negative, cut from) the 3 spare elements that follow each
    // matrix of the batch in memory.
    gap: number;
  }

  const batchArbitrary: fc.Arbitrary<BatchCase> = fc.record({
    gemmCase: caseArbitrary(20),
    batchCount: fc.integer({ min: 1, max: 4 }),
    broadcast: fc.constantFrom('none', 'a', 'b'),
    gap: fc.nat(3),
  });

  /** Runs a batch and checks every product of it against the float64 loop, one at a time. */
  function checkBatch(ArrayType: ArrayConstructor, batchCase: BatchCase, tolerance: (k: number) => number): void {
    const { gemmCase, batchCount, broadcast, gap } = batchCase;
    const { transA, transB, m, n, k, alpha, beta } = gemmCase;

    // One operand set per product, each matrix then laid end to end into one array per operand.
    const products = Array.from({ length: batchCount }, (_, i) =>
      makeOperands(ArrayType, { ...gemmCase, aOffset: 0, bOffset: 0, cOffset: 0, seed: gemmCase.seed + i }));
    const first = products[0];
    const aSize = first.a.length + gap;
    const bSize = first.b.length + gap;
    const cSize = first.c.length + gap;
    const strideA = broadcast === 'a' ? 0 : aSize;
    const strideB = broadcast === 'b' ? 0 : bSize;
    const a = new ArrayType(gemmCase.aOffset + aSize * batchCount);
    const b = new ArrayType(gemmCase.bOffset + bSize * batchCount);
    const c = new ArrayType(gemmCase.cOffset + cSize * batchCount);
    products.forEach((operands, i) => {
      a.set((broadcast === 'a' ? first.a : operands.a).subarray(0, aSize), gemmCase.aOffset + i * strideA);
      b.set((broadcast === 'b' ? first.b : operands.b).subarray(0, bSize), gemmCase.bOffset + i * strideB);
      c.set(operands.c.subarray(0, cSize), gemmCase.cOffset + i * cSize);
    });

    batchedGemm(transA, transB, m, n, k, alpha,
      a, gemmCase.aOffset, first.lda, strideA, b, gemmCase.bOffset, first.ldb, strideB,
      beta, c, gemmCase.cOffset, first.ldc, cSize, batchCount);

    products.forEach((operands, i) => {
      const cStart = gemmCase.cOffset + i * cSize;
      const cLength = Math.min(operands.c.length, cSize);
      const result: Operands = {
        ...operands,
        a: broadcast === 'a' ? first.a : operands.a,
        b: broadcast === 'b' ? first.b : operands.b,
        c: c.subarray(cStart, cStart + cLength),
        cBefore: operands.cBefore.subarray(0, cLength),
      };
      checkResult({ ...gemmCase, aOffset: 0, bOffset: 0, cOffset: 0 }, result, tolerance);
    });
  }

  it('float32 matches per-product loop', () => {
    fc.assert(fc.property(batchArbitrary, (batchCase) => checkBatch(Float32Array, batchCase, float32Tolerance)),
      { numRuns: 60 });
  });

  it('float64 matches per-product loop', () => {
    fc.assert(fc.property(batchArbitrary, (batchCase) => checkBatch(Float64Array, batchCase, float64Tolerance)),
      { numRuns: 60 });
  });

  it('shared B over stacked A', () => {
    // strideB = 0 with A and C blocks back to back is run as one product of batchCount*m rows.
    const gemmCase: GemmCase = {
      transA: false, transB: true, m: 5, n: 7, k: 30, alpha: 0.5, beta: 0,
      aOffset: 0, bOffset: 0, cOffset: 0, aPadding: 0, bPadding: 0, cPadding: 0, seed: 7,
    };
    const batchCount = 4;
    const stacked = makeOperands(Float32Array, { ...gemmCase, m: gemmCase.m * batchCount });
    batchedGemm(false, true, 5, 7, 30, 0.5, stacked.a, 0, 30, 5 * 30, stacked.b, 0, 30, 0,
      0, stacked.c, 0, 7, 5 * 7, batchCount);
    checkResult({ ...gemmCase, m: gemmCase.m * batchCount }, stacked, float32Tolerance);
  });

  it('shared B over stacked transposed A', () => {
    // Back-to-back k×m blocks of A with m = k have the stride m*lda of the folded case above,
    // but stacking transposed blocks does not stack op(A), so each product must run on its own.
    for (const ArrayType of [Float32Array, Float64Array]) {
      const batchCase: BatchCase = {
        gemmCase: {
          transA: true, transB: false, m: 6, n: 4, k: 6, alpha: 1, beta: 0,
          aOffset: 0, bOffset: 0, cOffset: 0, aPadding: 0, bPadding: 0, cPadding: 0, seed: 11,
        },
        batchCount: 3,
        broadcast: 'b',
        gap: -3,
      };
      checkBatch(ArrayType, batchCase, ArrayType === Float32Array ? float32Tolerance : float64Tolerance);
    }
  });

  it('rejects overlapping C blocks', () => {
    const a = new Float32Array(100);
    assert.throws(() => batchedGemm(false, false, 2, 3, 2, 1, a, 0, 2, 4, a.slice(), 0, 3, 6, 0,
      new Float32Array(100), 0, 3, 4, 3), /strideC \(4\) is less than the extent of one C/);
  });
});

/**
 * Threaded float32 products: with worker threads enabled, large products are split into blocks
 * of C computed on several threads over a shared memory. The results must match the JavaScript
 * kernel for both split directions (wide and tall C), every transpose and a non-zero beta.
 */
import assert from 'node:assert/strict';

import { enableNodeGemmThreads } from '../bench/common.js';
import { disableGemmThreads, enableGemmThreads, gemmJs, gemmThreadCount, gemmWasm, wasmSimdAvailable } from '../core/kernels/gemm.js';
import { Generator } from '../index.js';

function randomArray(length: number, generator: Generator): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = generator.normal();
  return values;
}

/** Waits until the workers have started, since a product before that runs on one thread. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
}

(wasmSimdAvailable() ? describe : describe.skip)('gemm on worker threads', function () {
  this.timeout(30_000);

  before(async () => {
    enableNodeGemmThreads(2);
    await settle();
  });

  after(() => disableGemmThreads());

  it('reports two threads', () => {
    assert.equal(gemmThreadCount(), 2);
  });

  // Each shape has at least 4M multiply-adds, the size from which products are split.
  const shapes: [m: number, n: number, k: number][] = [[64, 1024, 72], [300, 150, 100], [1030, 90, 60], [129, 257, 131]];
  for (const [m, n, k] of shapes) {
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]) {
      it(`matches gemmJs for ${m}x${n}x${k} ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}`, () => {
        const generator = new Generator(m * 7 + n * 3 + k + (transA ? 1 : 0) + (transB ? 2 : 0));
        const lda = (transA ? m : k) + 3;
        const ldb = (transB ? k : n) + 1;
        const a = randomArray((transA ? k : m) * lda, generator);
        const b = randomArray((transB ? n : k) * ldb, generator);
        const ldc = n + 2;
        const expected = randomArray(m * ldc, generator);
        const actual = expected.slice();
        gemmJs(transA, transB, m, n, k, 0.75, a, 0, lda, b, 0, ldb, 0.5, expected, 0, ldc);
        gemmWasm(transA, transB, m, n, k, 0.75, a, 0, lda, b, 0, ldb, 0.5, actual, 0, ldc);
        for (let i = 0; i < expected.length; i++) {
          assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-4 * (1 + Math.abs(expected[i])), `C[${i}] is ${actual[i]}, expected ${expected[i]}`);
        }
      });
    }
  }

  it('runs on one thread again after disableGemmThreads', () => {
    disableGemmThreads();
    assert.equal(gemmThreadCount(), 1);
    const generator = new Generator(5);
    const a = randomArray(64 * 64, generator);
    const expected = new Float32Array(64 * 64);
    const actual = new Float32Array(64 * 64);
    gemmJs(false, false, 64, 64, 64, 1, a, 0, 64, a, 0, 64, 0, expected, 0, 64);
    gemmWasm(false, false, 64, 64, 64, 1, a, 0, 64, a, 0, 64, 0, actual, 0, 64);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-4 * (1 + Math.abs(expected[i])));
  });

  it('rejects fewer than two threads', () => {
    assert.throws(() => enableGemmThreads({ threads: 1, spawn: () => ({ terminate: () => undefined }) }), /threads must be an integer of at least 2/);
  });
});

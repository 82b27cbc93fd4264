// Measures the matrix-product kernels in GFLOP/s (2*m*n*k floating-point operations per product)
// and prints Markdown tables:
//
//   1. square n×n products for n = 128, 256, 512, 1024 and every transpose combination, for the
//      WebAssembly SIMD kernel, the JavaScript kernel (float32 and float64) and a naive i-k-j loop;
//   2. small float32 products, where the dispatcher chooses between gemmJs and gemmWasm.
//
// Run with `npx tsx bench/matmul.ts`. Options: --sizes=128,512 to pick sizes, --runs=N for the
// number of timed runs per cell (median reported, default 5), --no-naive to skip the slow loop.

import { gemmJs, gemmWasm } from '../core/kernels/gemm.js';

type Kernel = (
  transA: boolean, transB: boolean, n: number,
  a: Float32Array | Float64Array, b: Float32Array | Float64Array, c: Float32Array | Float64Array,
) => void;

const options = parseOptions(process.argv.slice(2));

const TRANSPOSES: ReadonlyArray<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];

function label(transA: boolean, transB: boolean): string {
  return `${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}`;
}

const wasmKernel: Kernel = (transA, transB, n, a, b, c) =>
  gemmWasm(transA, transB, n, n, n, 1, a as Float32Array, 0, n, b as Float32Array, 0, n, 0, c as Float32Array, 0, n);

const jsKernel: Kernel = (transA, transB, n, a, b, c) =>
  gemmJs(transA, transB, n, n, n, 1, a, 0, n, b, 0, n, 0, c, 0, n);

/** Computes C = op(A) op(B) with the plain i-k-j loop that the kernels are compared with. */
const naiveKernel: Kernel = (transA, transB, n, a, b, c) => {
  c.fill(0);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < n; p++) {
      const aip = transA ? a[p * n + i] : a[i * n + p];
      const row = i * n;
      if (transB) {
        for (let j = 0; j < n; j++) c[row + j] += aip * b[j * n + p];
      } else {
        const bRow = p * n;
        for (let j = 0; j < n; j++) c[row + j] += aip * b[bRow + j];
      }
    }
  }
};

function randomArray(ArrayType: Float32ArrayConstructor | Float64ArrayConstructor, length: number) {
  const array = new ArrayType(length);
  for (let i = 0; i < length; i++) array[i] = Math.random() * 2 - 1;
  return array;
}

/**
 * Median GFLOP/s of `runs` timed runs of a product of `multiplyAdds` multiply-adds. Untimed
 * warm-up runs come first (at least two, and at least 200 ms) so that V8 has tiered the
 * JavaScript and the WebAssembly up to optimised code before the clock starts.
 */
function measure(run: () => void, multiplyAdds: number, runs: number): number {
  const warmUpStart = performance.now();
  for (let r = 0; r < 2 || performance.now() - warmUpStart < 200; r++) run();

  const seconds: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    run();
    seconds.push((performance.now() - start) / 1000);
  }
  seconds.sort((x, y) => x - y);
  return (2 * multiplyAdds) / seconds[Math.floor(seconds.length / 2)] / 1e9;
}

/** Like `measure`, but repeats the product enough times per run to time sub-millisecond calls. */
function measureSmall(run: () => void, multiplyAdds: number, runs: number): number {
  let repeats = 1;
  for (let start = performance.now(); performance.now() - start < 20; repeats *= 2) {
    for (let r = 0; r < repeats; r++) run();
  }
  const batch = () => {
    for (let r = 0; r < repeats; r++) run();
  };
  return measure(batch, multiplyAdds * repeats, runs);
}

function format(gflops: number): string {
  return gflops.toFixed(2);
}

function benchSquare(): void {
  const columns = ['wasm f32', 'js f32', 'js f64', ...(options.naive ? ['naive f32'] : [])];
  console.log(`| n | op | ${columns.join(' | ')} |`);
  console.log(`|---|---|${columns.map(() => '---:').join('|')}|`);

  for (const n of options.sizes) {
    const a32 = randomArray(Float32Array, n * n);
    const b32 = randomArray(Float32Array, n * n);
    const c32 = new Float32Array(n * n);
    const a64 = Float64Array.from(a32);
    const b64 = Float64Array.from(b32);
    const c64 = new Float64Array(n * n);
    const multiplyAdds = n * n * n;
    // The naive loop takes seconds at n = 1024, so it gets fewer runs there.
    const naiveRuns = n >= 1024 ? 1 : options.runs;

    for (const [transA, transB] of TRANSPOSES) {
      const cells = [
        measure(() => wasmKernel(transA, transB, n, a32, b32, c32), multiplyAdds, options.runs),
        measure(() => jsKernel(transA, transB, n, a32, b32, c32), multiplyAdds, options.runs),
        measure(() => jsKernel(transA, transB, n, a64, b64, c64), multiplyAdds, options.runs),
      ];
      if (options.naive) {
        cells.push(measure(() => naiveKernel(transA, transB, n, a32, b32, c32), multiplyAdds, naiveRuns));
      }
      console.log(`| ${n} | ${label(transA, transB)} | ${cells.map(format).join(' | ')} |`);
    }
  }
}

function benchSmall(): void {
  console.log('\nSmall float32 products (A·B), where gemm picks a kernel by m*n*k:\n');
  console.log('| n | wasm f32 | js f32 |');
  console.log('|---|---:|---:|');
  for (const n of [4, 8, 12, 16, 24, 32, 48, 64, 96]) {
    const a = randomArray(Float32Array, n * n);
    const b = randomArray(Float32Array, n * n);
    const c = new Float32Array(n * n);
    const wasm = measureSmall(() => wasmKernel(false, false, n, a, b, c), n * n * n, options.runs);
    const js = measureSmall(() => jsKernel(false, false, n, a, b, c), n * n * n, options.runs);
    console.log(`| ${n} | ${format(wasm)} | ${format(js)} |`);
  }
}

function parseOptions(args: string[]): { sizes: number[]; runs: number; naive: boolean } {
  const parsed = { sizes: [128, 256, 512, 1024], runs: 5, naive: true };
  for (const arg of args) {
    if (arg.startsWith('--sizes=')) {
      parsed.sizes = arg.slice('--sizes='.length).split(',').map(Number);
    } else if (arg.startsWith('--runs=')) {
      parsed.runs = Number(arg.slice('--runs='.length));
    } else if (arg === '--no-naive') {
      parsed.naive = false;
    } else {
      throw new Error(`bench/matmul.ts: unknown option ${arg}; use --sizes=128,512, --runs=N or --no-naive`);
    }
  }
  if (parsed.sizes.some((n) => !Number.isInteger(n) || n < 1) || !(parsed.runs >= 1)) {
    throw new Error(`bench/matmul.ts: --sizes needs positive integers and --runs at least 1, got ${args.join(' ')}`);
  }
  return parsed;
}

console.log(`GFLOP/s (2n³ flops per product), median of ${options.runs} runs, Node ${process.version}\n`);
benchSquare();
benchSmall();

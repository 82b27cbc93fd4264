/**
 * W2 matmul-f32: C = A B for square float32 n x n matrices of standard normal entries, as in the
 * reference scripts. The timed call includes allocating the output and reading it back into a
 * host array (`toTypedArray()`, which copies: the reference scripts' `dataSync()` copies too).
 * Each size also prints check_max_rel_err: the largest error of 256 sampled entries of C against
 * float64 dot products, relative to the largest sampled |C| entry.
 *
 *   npx tsx bench/w2-matmul.ts [--sizes 128,256,512,1024] [--minReps 3] [--maxReps 30]
 *       [--budgetMs 2000] [--device cpu|gpu] [--gpuMode auto] [--threads 1]
 */
import { Tensor, matmul, tensor } from '../index.js';
import {
  MemoryPeaks, emit, emitMemory, isMainModule, log, measure, mulberry32, parseOptions, enableNodeGemmThreads, prepareDevice, seededNormal, systemName,
} from './common.js';

export interface MatmulCase {
  /** Runs one timed product and returns C as a host array. */
  run(): Float32Array;
  /** The largest error of 256 sampled entries of the last C, relative to the largest sampled |C|. */
  sampledRelativeError(c: Float32Array): number;
}

/** Builds the operands of the n x n product from the reference scripts' seeds. */
export function buildMatmulCase(n: number, options: { seed?: number; device?: Tensor['device'] } = {}): MatmulCase {
  const seed = options.seed ?? 3;
  const device = options.device ?? 'cpu';
  const aValues = seededNormal(n * n, seed * 100 + n);
  const bValues = seededNormal(n * n, seed * 100 + n + 1);
  const a = tensor(aValues, { shape: [n, n], device });
  const b = tensor(bValues, { shape: [n, n], device });

  return {
    run: () => matmul(a, b).toTypedArray() as Float32Array,
    sampledRelativeError(c) {
      const uniform = mulberry32(n);
      let maxError = 0;
      let maxReference = 0;
      for (let s = 0; s < 256; s++) {
        const i = Math.floor(uniform() * n);
        const j = Math.floor(uniform() * n);
        let reference = 0;
        for (let k = 0; k < n; k++) reference += aValues[i * n + k] * bValues[k * n + j];
        maxError = Math.max(maxError, Math.abs(c[i * n + j] - reference));
        maxReference = Math.max(maxReference, Math.abs(reference));
      }
      return maxError / maxReference;
    },
  };
}

const WORKLOAD = 'matmul-f32';

async function main(): Promise<void> {
  const options = parseOptions('w2-matmul', process.argv.slice(2), {
    sizes: '128,256,512,1024', minReps: 3, maxReps: 30, budgetMs: 2000, seed: 3, device: 'cpu', gpuMode: 'auto', threads: 1,
  });
  const device = options.device as Tensor['device'];
  const scope = await prepareDevice(device, options.gpuMode);
  if (device === 'cpu') enableNodeGemmThreads(options.threads);
  const system = systemName(device, options.gpuMode, options.threads);
  const memory = new MemoryPeaks();

  for (const n of options.sizes.split(',').map(Number)) {
    const config = `n=${n}`;
    const product = buildMatmulCase(n, { seed: options.seed, device });
    let c: Float32Array = new Float32Array(0);
    const timing = measure(() => {
      c = scope(() => product.run());
    }, { warmup: 1, minReps: options.minReps, maxReps: options.maxReps, budgetMs: options.budgetMs }, memory);

    const error = product.sampledRelativeError(c);
    const gflops = (2 * n ** 3) / (timing.median * 1e6);
    log(`${system} ${config}: median ${timing.median.toFixed(3)} ms (${gflops.toFixed(2)} GFLOP/s) over ${timing.reps} reps; ` +
      `rel err ${error.toExponential(2)} ${error < 1e-4 ? 'OK' : 'FAIL'}`);
    emit(WORKLOAD, system, config, 'median_ms', timing.median, 'ms');
    emit(WORKLOAD, system, config, 'gflops', gflops, 'GFLOP/s');
    emit(WORKLOAD, system, config, 'timed_reps', timing.reps, 'reps');
    emit(WORKLOAD, system, config, 'check_max_rel_err', error, 'rel');
  }
  emitMemory(WORKLOAD, system, '', memory);
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

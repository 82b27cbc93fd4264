/**
 * W3 adapter-step: a frozen Linear in -> out (weight W0, no bias) with a trainable rank-r adapter
 * on a batch of rows x [batch, in], scale s = 2 (alpha 16 over rank 8), loss = mean squared error
 * to a fixed random target, one forward + backward + Adam (lr 1e-3) step over the adapter only:
 *
 *   lora           y = x W0^T + s (x A^T) B^T          the library's LoRA, A [r, in], B [out, r] = 0
 *   singlora-fact  y = x W0^T + s (x A_in) A_out^T     the library's SingLoRA, A [max(in, out), r]
 *   singlora-mat   y = x (W0 + s A_out A_in^T)^T       the same SingLoRA, with dW materialised
 *
 * The adapters are the library's LoRA and SingLoRA modules (deltaForward for the factored form,
 * forward(weight) for the materialised one), loaded with the reference scripts' seeded arrays,
 * so check_loss_step_1 should match theirs. Per shape the script also prints how far the two
 * SingLoRA forms differ in output and in the gradient of A.
 *
 *   npx tsx bench/w3-adapter.ts [--shapes 1024x1024,1024x4096] [--rank 8] [--batch 64]
 *       [--warmup 3] [--minReps 5] [--maxReps 40] [--budgetMs 3000] [--device cpu|gpu] [--gpuMode auto] [--threads 1]
 */
import { Tensor, grad, tensor } from '../index.js';
import { LoRA, type LowRankAdapter, SingLoRA } from '../adapters/index.js';
import * as F from '../ops/functional/index.js';
import { Adam } from '../nn/optim/index.js';
import {
  MemoryPeaks, emit, emitMemory, isMainModule, log, median, parseOptions, enableNodeGemmThreads, prepareDevice, seededNormal, systemName, transposed,
} from './common.js';

export const ADAPTER_VARIANTS = ['lora', 'singlora-fact', 'singlora-mat'] as const;
export type AdapterVariant = (typeof ADAPTER_VARIANTS)[number];

export interface AdapterShape {
  inFeatures: number;
  outFeatures: number;
  rank: number;
  batch: number;
}

interface AdapterData {
  x: Tensor;
  /** Frozen base weight, [out, in]. */
  weight: Tensor;
  target: Tensor;
  /** LoRA's A, [r, in]. */
  loraA: Float32Array;
  /** SingLoRA's A, [max(in, out), r]. */
  singloraA: Float32Array;
}

/** Draws the data and initial factors in the reference scripts' order, one seed each. */
function makeData(shape: AdapterShape, seed: number, device: Tensor['device']): AdapterData {
  const { inFeatures, outFeatures, rank, batch } = shape;
  let nextSeed = seed * 1000;
  const x = tensor(seededNormal(batch * inFeatures, nextSeed++), { shape: [batch, inFeatures], device });
  // The reference arrays are drawn in the [in, out] layout, so W0 and LoRA's A are transposed.
  const weightValues = seededNormal(inFeatures * outFeatures, nextSeed++, 1 / Math.sqrt(inFeatures));
  const weight = tensor(transposed(weightValues, inFeatures, outFeatures), { shape: [outFeatures, inFeatures], device });
  const target = tensor(seededNormal(batch * outFeatures, nextSeed++), { shape: [batch, outFeatures], device });
  const loraA = transposed(seededNormal(inFeatures * rank, nextSeed++, 0.05), inFeatures, rank);
  const singloraA = seededNormal(Math.max(inFeatures, outFeatures) * rank, nextSeed++, 0.05);
  return { x, weight, target, loraA, singloraA };
}

/** Makes the variant's adapter with the reference initial values (alpha = 2 r gives s = 2). */
function makeAdapter(variant: AdapterVariant, shape: AdapterShape, data: AdapterData, device: Tensor['device']): LowRankAdapter {
  const { inFeatures, outFeatures, rank } = shape;
  const options = { rank, alpha: 2 * rank };
  if (variant === 'lora') {
    const adapter = new LoRA(outFeatures, inFeatures, options);
    adapter.lora_A.data = tensor(data.loraA, { shape: [rank, inFeatures], device });
    adapter.lora_B.data = tensor(new Float32Array(outFeatures * rank), { shape: [outFeatures, rank], device });
    return adapter;
  }
  const adapter = new SingLoRA(outFeatures, inFeatures, options);
  adapter.singlora_A.data = tensor(data.singloraA, { shape: [Math.max(inFeatures, outFeatures), rank], device });
  return adapter;
}

/** Returns the adapted layer's output for the variant. */
function adaptedForward(variant: AdapterVariant, adapter: LowRankAdapter, data: AdapterData): Tensor {
  if (variant === 'singlora-mat') return F.linear(data.x, adapter.forward(data.weight));
  return F.linear(data.x, data.weight).add(adapter.deltaForward(data.x));
}

export interface AdapterStep {
  step(): number;
}

export interface AdapterWorkload {
  /** Builds a fresh adapter of the variant, with its own Adam, from the shared initial values. */
  variant(name: AdapterVariant): AdapterStep;
  /** Compares the two SingLoRA forms on the same A: max |output difference|, and the max relative gradient difference. */
  checkSingLoRAForms(): { outputDiff: number; gradDiff: number };
}

export function buildAdapterWorkload(shape: AdapterShape, options: { seed?: number; lr?: number; device?: Tensor['device'] } = {}): AdapterWorkload {
  const device = options.device ?? 'cpu';
  const data = makeData(shape, options.seed ?? 5, device);

  return {
    variant(name) {
      const adapter = makeAdapter(name, shape, data, device);
      const optimizer = new Adam(adapter.parameters(), { lr: options.lr ?? 1e-3, betas: [0.9, 0.999], eps: 1e-8 });
      return {
        step() {
          const loss = F.mseLoss(adaptedForward(name, adapter, data), data.target);
          optimizer.zeroGrad();
          loss.backward();
          optimizer.step();
          return loss.item();
        },
      };
    },

    checkSingLoRAForms() {
      const adapter = makeAdapter('singlora-fact', shape, data, device);
      const a = adapter.parameters()[0];
      const factored = adaptedForward('singlora-fact', adapter, data);
      const materialised = adaptedForward('singlora-mat', adapter, data);
      const outputDiff = factored.sub(materialised).abs().max().item();
      const [gradFactored] = grad(F.mseLoss(factored, data.target), a) as Tensor[];
      const [gradMaterialised] = grad(F.mseLoss(materialised, data.target), a) as Tensor[];
      const gradDiff = gradFactored.sub(gradMaterialised).abs().max().item() / gradFactored.abs().max().item();
      return { outputDiff, gradDiff };
    },
  };
}

const WORKLOAD = 'adapter-step';

async function main(): Promise<void> {
  const options = parseOptions('w3-adapter', process.argv.slice(2), {
    shapes: '1024x1024,1024x4096', rank: 8, batch: 64, warmup: 3, minReps: 5, maxReps: 40, budgetMs: 3000, lr: 1e-3, seed: 5,
    device: 'cpu', gpuMode: 'auto', threads: 1,
  });
  const device = options.device as Tensor['device'];
  const scope = await prepareDevice(device, options.gpuMode);
  if (device === 'cpu') enableNodeGemmThreads(options.threads);
  const system = systemName(device, options.gpuMode, options.threads);

  for (const shapeText of options.shapes.split(',')) {
    const [inFeatures, outFeatures] = shapeText.split('x').map(Number);
    if (!(inFeatures > 0 && outFeatures > 0)) throw new Error(`w3-adapter: shape '${shapeText}' must look like 1024x4096 (in x out)`);
    const shape: AdapterShape = { inFeatures, outFeatures, rank: options.rank, batch: options.batch };
    const config = `in${inFeatures}-out${outFeatures}-r${shape.rank}-b${shape.batch}`;
    const memory = new MemoryPeaks();
    const workload = buildAdapterWorkload(shape, { seed: options.seed, lr: options.lr, device });

    const { outputDiff, gradDiff } = scope(() => workload.checkSingLoRAForms());
    log(`${system} ${config}: singlora fact vs mat: max |dy| ${outputDiff.toExponential(2)} ` +
      `(${outputDiff < 1e-4 ? 'OK' : 'FAIL'} at 1e-4), grad rel diff ${gradDiff.toExponential(2)}`);
    emit(WORKLOAD, system, config, 'check_max_abs_diff_fact_vs_mat', outputDiff, 'abs');
    emit(WORKLOAD, system, config, 'check_grad_max_rel_diff_fact_vs_mat', gradDiff, 'rel');

    // The variants are timed in interleaved rounds (one step of each per round), so that a change
    // in machine load during the run affects all three alike and their ratios stay comparable.
    // The first step of each creates its optimizer state, which must outlive the device scope.
    const runs = ADAPTER_VARIANTS.map((variant) => {
      const adapterStep = workload.variant(variant);
      return { variant, adapterStep, firstLoss: adapterStep.step(), times: [] as number[] };
    });
    for (let i = 1; i < options.warmup; i++) for (const run of runs) scope(() => run.adapterStep.step());
    const start = performance.now();
    const budget = options.budgetMs * runs.length;
    for (let round = 0; round < options.maxReps; round++) {
      for (const run of runs) {
        const t0 = performance.now();
        scope(() => run.adapterStep.step());
        run.times.push(performance.now() - t0);
        memory.sample();
      }
      if (round + 1 >= options.minReps && performance.now() - start >= budget) break;
    }

    for (const run of runs) {
      const variantConfig = `${config}-${run.variant}`;
      const stepMedian = median(run.times);
      log(`${system} ${config} ${run.variant}: median ${stepMedian.toFixed(3)} ms over ${run.times.length} steps`);
      emit(WORKLOAD, system, variantConfig, 'check_loss_step_1', run.firstLoss, 'mse');
      emit(WORKLOAD, system, variantConfig, 'median_ms_per_step', stepMedian, 'ms');
      emit(WORKLOAD, system, variantConfig, 'timed_steps', run.times.length, 'steps');
    }
    emitMemory(WORKLOAD, system, config, memory);
  }
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

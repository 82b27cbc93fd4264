/**
 * W1 tiny-transformer-step: one training step (forward, cross-entropy, backward, Adam) of a
 * 2-block decoder transformer, the model of the reference scripts: token and learned positional
 * embeddings; per block pre-LayerNorm, 4-head causal self-attention with a fused QKV projection
 * (additive -1e9 mask, scale 1/sqrt(head dim)), output projection, residual, LayerNorm, MLP
 * d -> 4d -> d with ReLU, residual; final LayerNorm and a Linear to the vocabulary; mean
 * cross-entropy over all B*T positions; Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8).
 *
 * Weights and the fixed token batch come from the same seeded arrays as the TensorFlow.js and
 * PyTorch scripts, so the losses at steps 1 and 20 should match theirs closely.
 *
 *   npx tsx bench/w1-transformer.ts [--configs small,large] [--checkSteps 20] [--minReps 5]
 *       [--maxReps 50] [--budgetMs 8000] [--device cpu|gpu] [--gpuMode auto] [--threads 1]
 */
import * as F from '../ops/functional/index.js';
import { Tensor, tensor } from '../index.js';
import { Adam } from '../nn/optim/index.js';
import {
  MemoryPeaks, emit, emitMemory, isMainModule, log, measure, parseOptions, enableNodeGemmThreads, prepareDevice, seededIntegers, seededNormal, systemName, transposed,
} from './common.js';

export interface TransformerConfig {
  /** Vocabulary size. */
  V: number;
  /** Model width. */
  d: number;
  /** Sequence length. */
  T: number;
  /** Batch size. */
  B: number;
  /** Attention heads. */
  H: number;
}

export const TRANSFORMER_CONFIGS: Record<string, TransformerConfig> = {
  small: { V: 52, d: 32, T: 16, B: 8, H: 4 },
  large: { V: 96, d: 128, T: 64, B: 16, H: 4 },
};

export function transformerConfigName(c: TransformerConfig): string {
  return `V${c.V}-d${c.d}-T${c.T}-B${c.B}-H${c.H}`;
}

interface Block {
  ln1Weight: Tensor;
  ln1Bias: Tensor;
  /** Fused query, key and value projection, [3d, d] (out x in, as F.linear takes it). */
  qkvWeight: Tensor;
  qkvBias: Tensor;
  projWeight: Tensor;
  projBias: Tensor;
  ln2Weight: Tensor;
  ln2Bias: Tensor;
  fc1Weight: Tensor;
  fc1Bias: Tensor;
  fc2Weight: Tensor;
  fc2Bias: Tensor;
}

interface TransformerParams {
  wte: Tensor;
  wpe: Tensor;
  blocks: Block[];
  lnfWeight: Tensor;
  lnfBias: Tensor;
  headWeight: Tensor;
  headBias: Tensor;
}

/**
 * Builds the parameters in the reference scripts' draw order: one seed per weight matrix,
 * counting up from `seed`, normal with std 0.02; LayerNorm weights 1, biases 0. The reference
 * arrays are drawn in the [in, out] layout, so Linear weights are transposed to [out, in] here.
 */
function makeParams(c: TransformerConfig, seed: number, device: Tensor['device']): TransformerParams {
  let nextSeed = seed;
  const leaf = (values: Float32Array, shape: number[]) => tensor(values, { shape, device, requiresGrad: true });
  const normal = (shape: number[]) => leaf(seededNormal(shape[0] * shape[1], nextSeed++, 0.02), shape);
  const linearWeight = (inFeatures: number, outFeatures: number) =>
    leaf(transposed(seededNormal(inFeatures * outFeatures, nextSeed++, 0.02), inFeatures, outFeatures), [outFeatures, inFeatures]);
  const filled = (size: number, value: number) => leaf(new Float32Array(size).fill(value), [size]);

  const { V, d, T } = c;
  const wte = normal([V, d]);
  const wpe = normal([T, d]);
  const blocks: Block[] = [];
  for (let layer = 0; layer < 2; layer++) {
    blocks.push({
      ln1Weight: filled(d, 1),
      ln1Bias: filled(d, 0),
      qkvWeight: linearWeight(d, 3 * d),
      qkvBias: filled(3 * d, 0),
      projWeight: linearWeight(d, d),
      projBias: filled(d, 0),
      ln2Weight: filled(d, 1),
      ln2Bias: filled(d, 0),
      fc1Weight: linearWeight(d, 4 * d),
      fc1Bias: filled(4 * d, 0),
      fc2Weight: linearWeight(4 * d, d),
      fc2Bias: filled(d, 0),
    });
  }
  return {
    wte,
    wpe,
    blocks,
    lnfWeight: filled(d, 1),
    lnfBias: filled(d, 0),
    headWeight: linearWeight(d, V),
    headBias: filled(V, 0),
  };
}

function parameterList(p: TransformerParams): Tensor[] {
  return [p.wte, p.wpe, ...p.blocks.flatMap((block) => Object.values(block)), p.lnfWeight, p.lnfBias, p.headWeight, p.headBias];
}

/** Returns the mean cross-entropy of the next-token logits of `tokens` [B, T] against `targets`. */
function transformerLoss(p: TransformerParams, c: TransformerConfig, tokens: Tensor, targets: Tensor, mask: Tensor): Tensor {
  const { B, T, d, H, V } = c;
  const headDim = d / H;
  const toHeads = (t: Tensor) => t.reshape([B, T, H, headDim]).transpose(1, 2);

  let h = F.embedding(tokens, p.wte).add(p.wpe); // [B, T, d]
  for (const block of p.blocks) {
    const a = F.layerNorm(h, d, block.ln1Weight, block.ln1Bias);
    const [q, k, v] = F.linear(a, block.qkvWeight, block.qkvBias).split(d, 2).map(toHeads); // each [B, H, T, hd]
    const attended = F.scaledDotProductAttention(q, k, v, { attnMask: mask }); // [B, H, T, hd]
    const merged = attended.transpose(1, 2).reshape([B, T, d]);
    h = h.add(F.linear(merged, block.projWeight, block.projBias));
    const m = F.layerNorm(h, d, block.ln2Weight, block.ln2Bias);
    h = h.add(F.linear(F.relu(F.linear(m, block.fc1Weight, block.fc1Bias)), block.fc2Weight, block.fc2Bias));
  }
  const logits = F.linear(F.layerNorm(h, d, p.lnfWeight, p.lnfBias), p.headWeight, p.headBias);
  return F.crossEntropy(logits.reshape([B * T, V]), targets.reshape([B * T]));
}

export interface TransformerStep {
  /** Runs one training step and returns the loss before the update. */
  step(): number;
}

/** Builds the model, the fixed batch and the optimizer of one configuration. */
export function buildTransformerStep(c: TransformerConfig, options: { seed?: number; lr?: number; device?: Tensor['device'] } = {}): TransformerStep {
  const seed = options.seed ?? 1;
  const device = options.device ?? 'cpu';
  const p = makeParams(c, seed * 1000, device);
  const tokens = tensor(seededIntegers(c.B * c.T, c.V, seed * 7 + 1), { shape: [c.B, c.T], device });
  const targets = tensor(seededIntegers(c.B * c.T, c.V, seed * 7 + 2), { shape: [c.B, c.T], device });

  // The additive causal mask of the reference scripts: -1e9 above the diagonal.
  const maskValues = new Float32Array(c.T * c.T);
  for (let i = 0; i < c.T; i++) maskValues.fill(-1e9, i * c.T + i + 1, (i + 1) * c.T);
  const mask = tensor(maskValues, { shape: [c.T, c.T], device });

  const optimizer = new Adam(parameterList(p), { lr: options.lr ?? 1e-3, betas: [0.9, 0.999], eps: 1e-8 });
  return {
    step() {
      const loss = transformerLoss(p, c, tokens, targets, mask);
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
      return loss.item();
    },
  };
}

const WORKLOAD = 'tiny-transformer-step';

async function main(): Promise<void> {
  const options = parseOptions('w1-transformer', process.argv.slice(2), {
    configs: 'small,large', checkSteps: 20, minReps: 5, maxReps: 50, budgetMs: 8000, lr: 1e-3, seed: 1, device: 'cpu', gpuMode: 'auto', threads: 1,
  });
  const device = options.device as Tensor['device'];
  const scope = await prepareDevice(device, options.gpuMode);
  if (device === 'cpu') enableNodeGemmThreads(options.threads);
  const system = systemName(device, options.gpuMode, options.threads);

  for (const name of options.configs.split(',')) {
    const c = TRANSFORMER_CONFIGS[name.trim()];
    if (c === undefined) throw new Error(`w1-transformer: unknown config '${name}'; use ${Object.keys(TRANSFORMER_CONFIGS).join(' or ')}`);
    const config = transformerConfigName(c);
    const memory = new MemoryPeaks();
    const workload = buildTransformerStep(c, { seed: options.seed, lr: options.lr, device });

    // The check steps double as warm-up: the loss on the fixed batch must fall. The first step
    // runs outside the device scope because it creates the optimizer state, which must persist.
    const losses: number[] = [];
    for (let i = 0; i < options.checkSteps; i++) {
      losses.push(i === 0 ? workload.step() : scope(() => workload.step()));
      memory.sample();
    }
    const timing = measure(() => scope(() => workload.step()), {
      warmup: 0, minReps: options.minReps, maxReps: options.maxReps, budgetMs: options.budgetMs,
    }, memory);

    const first = losses[0];
    const last = losses[losses.length - 1];
    log(`${system} ${config}: loss ${first.toFixed(4)} -> ${last.toFixed(4)} over ${options.checkSteps} steps ` +
      `(${last < first ? 'decreasing: OK' : 'NOT decreasing: FAIL'}); median ${timing.median.toFixed(2)} ms over ${timing.reps} steps`);
    emit(WORKLOAD, system, config, 'median_ms_per_step', timing.median, 'ms');
    emit(WORKLOAD, system, config, 'timed_steps', timing.reps, 'steps');
    emit(WORKLOAD, system, config, 'loss_step_1', first, 'nats');
    emit(WORKLOAD, system, config, `loss_step_${options.checkSteps}`, last, 'nats');
    emitMemory(WORKLOAD, system, config, memory);
  }
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

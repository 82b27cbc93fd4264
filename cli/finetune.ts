/**
 * `singlora finetune`, the demo: adapts the pretrained ViT to new classes with each method at
 * each learning rate of a grid, then writes results.md, results.json and accuracy-vs-lr.svg.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';

import { writeFileAtomic } from '../io/atomic.js';
import { loadBaseModel, METADATA_KEYS, type BaseModelConfig } from './base-model.js';
import { ADAPTER_TARGETS, type RunResult, type RunSpec, type SweepContext, stepsPerRun } from './finetune-run.js';
import { LORA_PLUS_RATIO, methodInfo } from './methods.js';
import { FINETUNE_DEFAULTS, type FinetuneOptions } from './options.js';
import { displayPath } from './paths.js';
import { accuracyPlotSpec, renderSvg } from './plot.js';
import type { Progress } from './progress.js';
import { type MethodSummary, formatLr, formatPercent, formatTable, summarize } from './report.js';
import { executeRuns } from './run-pool.js';
import { type SweepData, loadSweepData } from './sweep-data.js';

export const RESULT_FILES = { markdown: 'results.md', json: 'results.json', plot: 'accuracy-vs-lr.svg' } as const;

export interface FinetuneOutcome {
  outDir: string;
  summaries: MethodSummary[];
  results: RunResult[];
  table: string;
}

/** Runs the sweep described by `options`; `command` is recorded in the results as given. */
export async function runFinetune(options: FinetuneOptions, command: string, progress: Progress): Promise<FinetuneOutcome> {
  const started = performance.now();
  const startedAt = new Date();
  // Create the output folder first, so that an unusable path fails before minutes of training.
  const outDir = resolve(options.out ?? join('runs', timestampName(startedAt)));
  await mkdir(outDir, { recursive: true });

  const base = await loadBaseModel(options.base);
  const data = loadSweepData({ ...options, imageSize: base.config.imageSize });
  progress.log(`data: ${data.description}`);

  const context: SweepContext = {
    baseConfig: base.config,
    baseState: Object.fromEntries(
      Object.entries(base.model.stateDict()).map(([name, value]) => [name, { shape: value.shape, data: value.toTypedArray() as Float32Array }]),
    ),
    train: data.train,
    test: data.test,
    numClasses: data.classes.length,
    device: options.device,
  };

  const totalSteps = stepsPerRun(data.train.count, options.batchSize, options.epochs);
  const rampSteps = options.rampSteps ?? Math.max(1, Math.round(FINETUNE_DEFAULTS.rampFraction * totalSteps));
  const alpha = options.alpha ?? options.rank;
  const grid = options.methods.flatMap((method) => options.lrs.map((lr) => ({ method, lr })));
  const specs: RunSpec[] = grid.map(({ method, lr }, index) => ({
    index,
    method,
    lr,
    rank: options.rank,
    alpha,
    rampSteps,
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed,
  }));

  const jobs = options.jobs ?? availableParallelism();
  progress.log(
    `${plural(specs.length, 'run')} (${plural(options.methods.length, 'method')} × ${plural(options.lrs.length, 'learning rate')}), ` +
      `${plural(totalSteps, 'optimizer step')} each, ` +
      `${Math.min(jobs, specs.length)} in parallel`,
  );
  progress.begin(specs.length, totalSteps * specs.length);
  let results: RunResult[];
  try {
    results = await executeRuns(context, specs, {
      jobs,
      progress,
      label: (spec) => `${methodInfo(spec.method).label} lr ${formatLr(spec.lr)}`,
      summary: (result) =>
        `${methodInfo(result.spec.method).label.padEnd(13)} lr ${formatLr(result.spec.lr).padEnd(6)} test accuracy ${formatPercent(result.testAccuracy).padStart(5)} %` +
        `${result.diverged ? ' (diverged)' : ''}  ${result.seconds.toFixed(1)} s`,
    });
  } finally {
    progress.end();
  }

  const summaries = summarize(options.methods, options.lrs, results);
  const table = formatTable(summaries, options.lrs);
  const wallSeconds = (performance.now() - started) / 1000;
  const settings = { rank: options.rank, alpha, rampSteps, lrs: options.lrs, epochs: options.epochs, batchSize: options.batchSize, seed: options.seed, device: options.device, jobs };
  const baseInfo = {
    path: options.base,
    sha256: createHash('sha256').update(await readFile(options.base)).digest('hex'),
    config: base.config,
    pretrainTestAccuracy: Number(base.metadata[METADATA_KEYS.testAccuracy]),
  };
  const json = {
    command,
    startedAt: startedAt.toISOString(),
    wallSeconds,
    data: { description: data.description, classes: data.classes, trainCount: data.train.count, testCount: data.test.count },
    base: baseInfo,
    settings: {
      ...settings,
      optimizer: 'AdamW, weight decay 0, constant learning rate',
      adapterTargets: ADAPTER_TARGETS,
      loraPlusRatio: LORA_PLUS_RATIO,
      headTrainable: true,
    },
    summary: summaries,
    runs: results,
  };

  await writeFileAtomic(join(outDir, RESULT_FILES.json), JSON.stringify(json, null, 2) + '\n');
  await writeFileAtomic(join(outDir, RESULT_FILES.markdown), markdownReport(table, data, options.base, base.config, settings, command, wallSeconds));
  const svg = await renderSvg(
    accuracyPlotSpec(summaries, options.lrs, {
      title: 'Test accuracy against learning rate',
      subtitle: `${data.classes.length} classes, ${data.train.count} training examples, ${options.epochs} epochs, adapter rank ${options.rank}, seed ${options.seed}`,
    }),
  );
  await writeFileAtomic(join(outDir, RESULT_FILES.plot), svg);

  return { outDir, summaries, results, table };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Formats a date as a folder name, e.g. 2025-07-21T09-30-05Z (no colons, which Windows forbids). */
function timestampName(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
}

function markdownReport(
  table: string,
  data: SweepData,
  basePath: string,
  config: BaseModelConfig,
  settings: { rank: number; alpha: number; rampSteps: number; lrs: number[]; epochs: number; batchSize: number; seed: number },
  command: string,
  wallSeconds: number,
): string {
  return [
    '# SingLoRA against LoRA: test accuracy across learning rates',
    '',
    `Command: \`${command}\``,
    '',
    `Data: ${data.description}.`,
    '',
    `Base: ${displayPath(basePath)}, a ViT (dModel ${config.dModel}, ${config.numLayers} blocks, ${config.numHeads} heads, patch ${config.patchSize}) with a new ${data.classes.length}-class head, which trains in every method. ` +
      `Adapters on ${ADAPTER_TARGETS.join(', ')}; rank ${settings.rank}, α ${settings.alpha}, SingLoRA ramp T = ${plural(settings.rampSteps, 'optimizer step')}. ` +
      `AdamW without weight decay at a constant learning rate, batch size ${settings.batchSize}, ${settings.epochs} epochs, seed ${settings.seed}.`,
    '',
    'Cells are test accuracy in %; best is the highest over the grid (with its learning rate), spread is max − min over the grid.',
    '',
    table,
    '',
    `Plot: [${RESULT_FILES.plot}](${RESULT_FILES.plot}). Wall time ${wallSeconds.toFixed(0)} s.`,
    '',
  ].join('\n');
}

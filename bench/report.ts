/**
 * Turns the records of one benchmark run (ours and the reference systems') into BENCHMARKS.md:
 * the machine, the commands, the target table, per-workload tables with ratios, correctness
 * checks and peak memory. bench/run.ts collects the records; this file only formats them.
 */

/** One JSON line of a workload script, in the reference scripts' format. */
export interface BenchRecord {
  workload: string;
  system: string;
  config: string;
  metric: string;
  value: number | string;
  unit: string;
}

export interface Report {
  quick: boolean;
  started: Date;
  totalSeconds: number;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    platform: string;
    node: string;
    loadBefore: number[];
    loadAfter: number[];
  };
  invocation: string;
  commands: { label: string; command: string; cwd: string; seconds: number }[];
  records: BenchRecord[];
  /** The scripts' check lines (loss falls, factored and materialised forms agree). */
  messages: string[];
  notes: string[];
}

const OURS = 'singlora-cpu';
const W1 = 'tiny-transformer-step';
const W2 = 'matmul-f32';
const W3 = 'adapter-step';
const W1_CONFIGS = [['small', 'V52-d32-T16-B8-H4'], ['large', 'V96-d128-T64-B16-H4']] as const;
const W3_SHAPES = ['in1024-out1024-r8-b64', 'in1024-out4096-r8-b64'];
const W3_VARIANTS = ['lora', 'singlora-fact', 'singlora-mat'];

/** Orders systems as: ours on the CPU (one, then two matmul threads), ours on gpu.js, then the references. */
const SYSTEM_ORDER = ['singlora-cpu', 'singlora-cpu-2t', 'singlora-gpu-headlessgl', 'singlora-gpu-webasm', 'singlora-gpu-cpu', 'tfjs-wasm', 'tfjs-cpu', 'js-pytorch-cpu', 'js-naive', 'pytorch-1t'];

class Records {
  constructor(private readonly all: BenchRecord[]) {}

  /**
   * Returns the numeric value of a metric, or undefined when the run did not produce it. A
   * metric that several rounds reported is combined: the median of the timings, the sum of the
   * step counts, the first value of anything else (checks are the same in every round).
   */
  value(workload: string, system: string, config: string, metric: string): number | undefined {
    const values = this.rounds(workload, system, config, metric);
    if (values.length === 0) return undefined;
    if (metric === 'timed_steps' || metric === 'timed_reps') return values.reduce((a, b) => a + b, 0);
    if (metric.startsWith('median_') || metric === 'gflops') return median(values);
    return values[0];
  }

  /** Returns every numeric value reported for a metric, one per round, in run order. */
  rounds(workload: string, system: string, config: string, metric: string): number[] {
    return this.all
      .filter((r) => r.workload === workload && r.system === system && r.config === config && r.metric === metric && typeof r.value === 'number')
      .map((r) => r.value as number);
  }

  text(workload: string, system: string, metric: string): string | undefined {
    const found = this.all.find((r) => r.workload === workload && r.system === system && r.metric === metric);
    return found === undefined ? undefined : String(found.value);
  }

  /** Returns the systems that reported `metric` for the workload, in SYSTEM_ORDER. */
  systems(workload: string, metric: string): string[] {
    const present = new Set(this.all.filter((r) => r.workload === workload && r.metric === metric).map((r) => r.system));
    const ordered = SYSTEM_ORDER.filter((s) => present.has(s));
    return [...ordered, ...[...present].filter((s) => !ordered.includes(s)).sort()];
  }

  /** Returns the metric names starting with `prefix` that a system reported for a config. */
  metrics(workload: string, system: string, config: string, prefix: string): string[] {
    return this.all.filter((r) => r.workload === workload && r.system === system && r.config === config && r.metric.startsWith(prefix)).map((r) => r.metric);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : 0.5 * (sorted[middle - 1] + sorted[middle]);
}

// ---- number formatting --------------------------------------------------------------------

/** Formats a positive number with three significant digits (1234 stays 1234). */
function sig(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
  return Number(value.toPrecision(3)).toString();
}

function ratio(numerator: number | undefined, denominator: number | undefined): number | undefined {
  return numerator === undefined || denominator === undefined || denominator === 0 ? undefined : numerator / denominator;
}

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(align.map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

// ---- targets ------------------------------------------------------------------------------

interface Target {
  name: string;
  measured: string;
  met: boolean | undefined;
}

function targets(r: Records): Target[] {
  const w1 = (config: string, system: string) => r.value(W1, system, config, 'median_ms_per_step');
  const small = W1_CONFIGS[0][1];
  const large = W1_CONFIGS[1][1];
  const out: Target[] = [];

  const smallVsWasm = ratio(w1(small, OURS), w1(small, 'tfjs-wasm'));
  out.push({ name: 'W1 small: no slower than TF.js wasm (ours / tfjs-wasm ≤ 1)', measured: sig(smallVsWasm), met: smallVsWasm === undefined ? undefined : smallVsWasm <= 1 });
  const speedup = ratio(w1(small, 'js-pytorch-cpu'), w1(small, OURS));
  out.push({ name: 'W1 small: at least 30x faster than js-pytorch (js-pytorch / ours ≥ 30)', measured: speedup === undefined ? '–' : `${sig(speedup)}x`, met: speedup === undefined ? undefined : speedup >= 30 });
  const largeVsWasm = ratio(w1(large, OURS), w1(large, 'tfjs-wasm'));
  out.push({ name: 'W1 large: no slower than TF.js wasm (ours / tfjs-wasm ≤ 1)', measured: sig(largeVsWasm), met: largeVsWasm === undefined ? undefined : largeVsWasm <= 1 });

  const gflops = r.value(W2, OURS, 'n=512', 'gflops');
  out.push({ name: 'W2 float32 n = 512: at least 10 GFLOP/s', measured: gflops === undefined ? '–' : `${sig(gflops)} GFLOP/s`, met: gflops === undefined ? undefined : gflops >= 10 });

  for (const shape of W3_SHAPES) {
    const step = (variant: string) => r.value(W3, OURS, `${shape}-${variant}`, 'median_ms_per_step');
    const label = shape.replace(/^in(\d+)-out(\d+).*/, '$1x$2');
    const factoredSpeedup = ratio(step('singlora-mat'), step('singlora-fact'));
    out.push({
      name: `W3 ${label}: SingLoRA factored at least 5x faster than materialised (mat / fact ≥ 5)`,
      measured: factoredSpeedup === undefined ? '–' : `${sig(factoredSpeedup)}x`,
      met: factoredSpeedup === undefined ? undefined : factoredSpeedup >= 5,
    });
    const versusLora = ratio(step('singlora-fact'), step('lora'));
    out.push({ name: `W3 ${label}: SingLoRA factored within 1.1x of LoRA (fact / lora ≤ 1.1)`, measured: sig(versusLora), met: versusLora === undefined ? undefined : versusLora <= 1.1 });
  }

  return out;
}

function verdict(met: boolean | undefined): string {
  if (met === undefined) return 'not measured';
  return met ? 'met' : 'NOT met';
}

// ---- sections -----------------------------------------------------------------------------

function w1Section(r: Records): string {
  const systems = r.systems(W1, 'median_ms_per_step');
  const references = systems.filter((s) => !s.startsWith('singlora'));
  const parts: string[] = ['## W1 tiny-transformer-step (ms per training step)'];

  parts.push(table(['config', ...systems], W1_CONFIGS.map(([name, config]) => [
    `${name} ${config}`,
    ...systems.map((s) => {
      const ms = r.value(W1, s, config, 'median_ms_per_step');
      const steps = r.value(W1, s, config, 'timed_steps');
      const skipped = r.value(W1, s, config, 'skipped_projected_s');
      if (ms === undefined && skipped !== undefined) return `skipped (projected ${sig(skipped)} s)`;
      return ms === undefined ? '–' : `${sig(ms)} (${steps ?? '?'})`;
    }),
  ]), ['l', ...systems.map(() => 'r' as const)]));
  parts.push('Medians; the number of timed steps is in parentheses.');
  const small = W1_CONFIGS[0][1];
  const perRound = systems.map((s) => [s, r.rounds(W1, s, small, 'median_ms_per_step')] as const).filter(([, values]) => values.length > 1);
  if (perRound.length > 0) {
    parts.push(`The small configuration ran in rounds, the systems taking turns; the table shows the median over the rounds. Per round (ms): ${perRound
      .map(([s, values]) => `${s} ${values.map((v) => sig(v)).join(' / ')}`).join('; ')}.`);
  }

  parts.push(`Time ratio ours / reference (below 1: ours is faster):\n\n${table(['config', ...references.map((s) => `${OURS} / ${s}`)],
    W1_CONFIGS.map(([name, config]) => [name, ...references.map((s) => sig(ratio(r.value(W1, OURS, config, 'median_ms_per_step'), r.value(W1, s, config, 'median_ms_per_step'))))]),
    ['l', ...references.map(() => 'r' as const)])}`);

  const lossSystems = r.systems(W1, 'loss_step_1');
  parts.push(`Loss check on the fixed batch (loss at step 1 -> last check step). js-pytorch trains its own, different model (see the reference README), so its losses are not comparable:\n\n${table(
    ['config', ...lossSystems],
    W1_CONFIGS.map(([name, config]) => [name, ...lossSystems.map((s) => {
      const first = r.value(W1, s, config, 'loss_step_1');
      const lastMetric = r.metrics(W1, s, config, 'loss_step_').filter((m) => m !== 'loss_step_1').pop();
      const last = lastMetric === undefined ? undefined : r.value(W1, s, config, lastMetric);
      return first === undefined ? '–' : `${first.toFixed(4)} -> ${last === undefined ? '?' : last.toFixed(4)} (${lastMetric?.replace('loss_step_', 'step ') ?? ''})`;
    })]),
    ['l', ...lossSystems.map(() => 'l' as const)],
  )}`);
  return parts.join('\n\n');
}

function w2Section(r: Records): string {
  const systems = r.systems(W2, 'median_ms');
  const sizes = [128, 256, 512, 1024];
  const parts: string[] = ['## W2 matmul-f32 (ms per product, GFLOP/s)'];
  parts.push(table(['n', ...systems], sizes.map((n) => [String(n), ...systems.map((s) => {
    const ms = r.value(W2, s, `n=${n}`, 'median_ms');
    return ms === undefined ? '–' : `${sig(ms)} ms, ${sig(r.value(W2, s, `n=${n}`, 'gflops'))}`;
  })]), ['r', ...systems.map(() => 'r' as const)]));

  const references = systems.filter((s) => !s.startsWith('singlora'));
  parts.push(`Speed ratio ours / reference in GFLOP/s (above 1: ours is faster):\n\n${table(['n', ...references.map((s) => `${OURS} / ${s}`)],
    sizes.map((n) => [String(n), ...references.map((s) => sig(ratio(r.value(W2, OURS, `n=${n}`, 'gflops'), r.value(W2, s, `n=${n}`, 'gflops'))))]),
    ['r', ...references.map(() => 'r' as const)])}`);

  const errors = systems.map((s) => `${s} ${sig(Math.max(...sizes.map((n) => r.value(W2, s, `n=${n}`, 'check_max_rel_err') ?? 0)))}`);
  parts.push(`Largest relative error of 256 sampled entries against float64 dot products, over all sizes: ${errors.join('; ')}.`);
  return parts.join('\n\n');
}

function w3Section(r: Records): string {
  const systems = r.systems(W3, 'median_ms_per_step');
  const references = systems.filter((s) => !s.startsWith('singlora'));
  const parts: string[] = ['## W3 adapter-step (ms per forward + backward + Adam step, batch 64, rank 8)'];
  const rows: string[][] = [];
  for (const shape of W3_SHAPES) {
    for (const variant of W3_VARIANTS) {
      const config = `${shape}-${variant}`;
      rows.push([shape, variant, ...systems.map((s) => {
        const ms = r.value(W3, s, config, 'median_ms_per_step');
        return ms === undefined ? '–' : `${sig(ms)} (${r.value(W3, s, config, 'timed_steps') ?? '?'})`;
      }), ...references.map((s) => sig(ratio(r.value(W3, OURS, config, 'median_ms_per_step'), r.value(W3, s, config, 'median_ms_per_step'))))]);
    }
  }
  parts.push(table(['shape', 'variant', ...systems, ...references.map((s) => `ours / ${s}`)], rows,
    ['l', 'l', ...systems.map(() => 'r' as const), ...references.map(() => 'r' as const)]));

  const inner: string[][] = [];
  for (const shape of W3_SHAPES) {
    inner.push([shape, ...systems.flatMap((s) => {
      const step = (variant: string) => r.value(W3, s, `${shape}-${variant}`, 'median_ms_per_step');
      return [sig(ratio(step('singlora-mat'), step('singlora-fact'))), sig(ratio(step('singlora-fact'), step('lora')))];
    })]);
  }
  parts.push(`Within each system: materialised / factored SingLoRA, and factored SingLoRA / LoRA:\n\n${table(
    ['shape', ...systems.flatMap((s) => [`${s} mat / fact`, `${s} fact / lora`])], inner, ['l', ...systems.flatMap(() => ['r', 'r'] as const)])}`);

  const checks: string[][] = [];
  for (const shape of W3_SHAPES) {
    for (const s of systems.filter((system) => r.value(W3, system, shape, 'check_max_abs_diff_fact_vs_mat') !== undefined)) {
      const losses = W3_VARIANTS.map((v) => r.value(W3, s, `${shape}-${v}`, 'check_loss_step_1'));
      checks.push([shape, s, sig(r.value(W3, s, shape, 'check_max_abs_diff_fact_vs_mat')), sig(r.value(W3, s, shape, 'check_grad_max_rel_diff_fact_vs_mat')),
        losses.map((l) => (l === undefined ? '–' : l.toFixed(5))).join(' / ')]);
    }
  }
  parts.push(`Checks: the two SingLoRA forms on the same A (max |output difference|, max relative gradient difference), and the first-step loss of lora / singlora-fact / singlora-mat, which should agree across systems (same seeded data):\n\n${table(
    ['shape', 'system', 'max \\|dy\\|', 'grad rel diff', 'loss at step 1'], checks, ['l', 'l', 'r', 'r', 'l'])}`);
  return parts.join('\n\n');
}

function memorySection(r: Records, all: BenchRecord[]): string {
  const rows = new Map<string, string[]>();
  for (const record of all.filter((x) => x.system.startsWith('singlora') && x.metric === 'peak_rss_mib')) {
    const key = `${record.workload} ${record.system} ${record.config}`.trim();
    rows.set(key, [record.workload, record.system, record.config === '' ? 'all sizes' : record.config,
      sig(record.value as number), sig(r.value(record.workload, record.system, record.config, 'peak_heap_used_mib')), sig(r.value(record.workload, record.system, record.config, 'peak_external_mib'))]);
  }
  return `## Peak memory of our runs (MiB)\n\nEach row is one process (\`process.resourceUsage().maxRSS\` for the resident set; heap used and external memory, which holds typed-array storage, sampled after every step):\n\n${table(
    ['workload', 'system', 'config', 'peak RSS', 'peak heap used', 'peak external'], [...rows.values()], ['l', 'l', 'l', 'r', 'r', 'r'])}`;
}

function environmentLines(r: Records): string[] {
  const lines: string[] = [];
  const tfjs = r.text('environment', '@tensorflow/tfjs-core', 'version');
  if (tfjs !== undefined) {
    lines.push(`- TensorFlow.js ${tfjs} (wasm SIMD: ${r.text('environment', 'tfjs-wasm', 'simd') ?? '?'}, threads: ${r.text('environment', 'tfjs-wasm', 'threads') ?? '?'}); js-pytorch ${r.text('environment', 'js-pytorch', 'version') ?? '?'}`);
  }
  const torch = r.text('environment', 'pytorch', 'torch_version');
  if (torch !== undefined) {
    lines.push(`- Python ${r.text('environment', 'pytorch', 'python_version') ?? '?'}, PyTorch ${torch} (Debian ${r.text('environment', 'pytorch', 'debian_python3_torch_version') ?? '–'}), BLAS: ${r.text('environment', 'pytorch', 'blas_libraries_loaded') ?? r.text('environment', 'pytorch', 'torch_blas_info') ?? '?'}; run with 1 thread`);
  }
  return lines;
}

// ---- the whole report ---------------------------------------------------------------------

export function renderReport(report: Report): { markdown: string; summary: string } {
  const r = new Records(report.records);
  const m = report.machine;
  const targetRows = targets(r);
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(', ');

  const sections = [
    '# Benchmarks',
    `Written by \`${report.invocation}\` (bench/run.ts) on ${report.started.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}, ` +
      `${report.quick ? 'quick mode (short budgets: timings are rough)' : 'full mode'}; the runs took ${report.totalSeconds.toFixed(0)} s. ` +
      'All numbers come from this one run on one machine, so the ratios compare systems under the same conditions. ' +
      'Absolute times move between runs (the reference runs saw 5-20% on a shared virtual machine), and more when other processes load the machine: compare the load averages below.',
    ['## Machine', `- CPU: ${m.cpu}, ${m.cores} logical cores; ${m.memoryGiB.toFixed(1)} GiB RAM; ${m.platform}`,
      `- Node ${m.node}`, ...environmentLines(r), `- Load average (1, 5, 15 min) before: ${load(m.loadBefore)}; after: ${load(m.loadAfter)}`].join('\n'),
    `## Targets\n\n${table(['target', 'measured', 'status'], targetRows.map((t) => [t.name, t.measured, verdict(t.met)]), ['l', 'r', 'l'])}\n\n` +
      'The targets are judged on singlora-cpu, which runs on one thread like every reference system. The singlora-cpu-2t rows ' +
      'split large matrix products over two threads (enableGemmThreads); they gain only while the second core is free of other work.',
    w1Section(r),
    w2Section(r),
    w3Section(r),
    memorySection(r, report.records),
  ];
  if (report.messages.length > 0) sections.push(`## Check messages\n\n${report.messages.map((line) => `- ${line}`).join('\n')}`);
  if (report.notes.length > 0) sections.push(`## Notes\n\n${report.notes.map((line) => `- ${line}`).join('\n')}`);
  sections.push(`## Commands\n\nRun in order (working directory in brackets; \`.\` is the repository root):\n\n${report.commands
    .map((c) => `- ${c.label} [${c.cwd}], ${c.seconds.toFixed(1)} s:\n  \`${c.command}\``).join('\n')}`);

  const summary = ['Targets:', ...targetRows.map((t) => `  ${verdict(t.met).padEnd(12)} ${t.measured.padStart(14)}  ${t.name}`)].join('\n');
  return { markdown: `${sections.join('\n\n')}\n`, summary };
}

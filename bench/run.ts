/**
 * Runs the three benchmark workloads on singlora and, in the same run, on the reference systems
 * (TensorFlow.js wasm, js-pytorch, PyTorch on one thread), then prints the ratios against the
 * targets and writes BENCHMARKS.md.
 *
 *   npm run bench                    full run (several minutes)
 *   npm run bench -- --quick         short budgets, finishes in about two minutes
 *
 * Options:
 *   --quick                 short budgets
 *   --out FILE              the report (default: BENCHMARKS.md in the repository root)
 *   --anchors DIR           the reference scripts: package.json, js/ and py/ (default:
 *                           $SINGLORA_ANCHORS, else the path in `options` below)
 *   --cache DIR             where they are copied and installed (default: ~/.cache/singlora-anchors)
 *   --python EXE            a Python that imports torch (default: the first python3 that does)
 *   --skip-anchors, --skip-gpu, --only w1,w2,w3
 *   --rounds N              rounds of the W1 small comparison (default 3, or 1 with --quick)
 *
 * The reference scripts are copied outside the repository and installed there with `npm ci` on
 * first use (that download takes minutes once). PyTorch rows need a python3 that can import
 * torch; without one they are skipped with a note.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { log, parseOptions } from './common.js';
import { type BenchRecord, type Report, renderReport } from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const options = parseOptions('run', process.argv.slice(2), {
  quick: false,
  out: path.join(root, 'BENCHMARKS.md'),
  anchors: process.env.SINGLORA_ANCHORS ?? path.resolve(root, '../shared/anchors'),
  cache: path.join(os.homedir(), '.cache', 'singlora-anchors'),
  python: '',
  skipAnchors: false,
  skipGpu: false,
  only: 'w1,w2,w3',
  rounds: 0,
});
const only = new Set(options.only.split(',').map((w) => w.trim()));

// ---- child processes ----------------------------------------------------------------------

interface Job {
  /** Shown in progress lines and in the command list of the report. */
  label: string;
  command: string;
  args: string[];
  cwd: string;
  env?: Record<string, string>;
  timeoutSeconds: number;
}

interface JobResult {
  records: BenchRecord[];
  /** stderr lines, which carry the scripts' check messages (loss falls, forms agree). */
  messages: string[];
  seconds: number;
  failure: string | null;
}

/** Runs a job to completion and parses its stdout JSON lines; failures are returned, not thrown. */
function runJob(job: Job): JobResult {
  log(`== ${job.label}`);
  const start = performance.now();
  const result = spawnSync(job.command, job.args, {
    cwd: job.cwd,
    env: { ...process.env, ...job.env },
    encoding: 'utf8',
    timeout: job.timeoutSeconds * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (performance.now() - start) / 1000;

  const records: BenchRecord[] = [];
  for (const line of (result.stdout ?? '').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as BenchRecord);
    } catch {
      // A line that is not a record (a library's notice on stdout) is ignored.
    }
  }
  // TensorFlow.js prints a hint about tfjs-node on every start; it is noise here.
  const messages = (result.stderr ?? '').split('\n').filter((l) => l.trim() !== '' && !/^=+$/.test(l) && !l.includes('running TensorFlow.js in Node'));
  for (const message of messages) log(`   ${message}`);

  let failure: string | null = null;
  if (result.error !== undefined) {
    failure = (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `timed out after ${job.timeoutSeconds} s` : result.error.message;
  } else if (result.status !== 0) {
    failure = `exited with status ${result.status}: ${messages.slice(-3).join(' / ')}`;
  }
  log(`   (${seconds.toFixed(1)} s${failure === null ? '' : `, FAILED: ${failure}`})`);
  return { records, messages, seconds, failure };
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

// ---- reference scripts --------------------------------------------------------------------

/** Returns a hash of the files under `dir` (node_modules excluded), to see whether a copy is current. */
function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const visit = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name === 'node_modules' || entry.name === '__pycache__' || entry.name === '.install-hash') continue;
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) {
        visit(full);
      } else if (entry.isFile()) {
        hash.update(path.relative(dir, full));
        hash.update(readFileSync(full));
      }
    }
  };
  visit(dir);
  return hash.digest('hex');
}

/** Copies a directory tree file by file, leaving the copies writable (the source may be read-only). */
function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '__pycache__') continue;
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      copyTree(source, target);
    } else if (entry.isFile()) {
      if (existsSync(target)) chmodSync(target, 0o644);
      copyFileSync(source, target);
      chmodSync(target, statSync(source).mode | 0o200);
    }
  }
}

/**
 * Copies the reference scripts to the cache folder when they changed, and installs their npm
 * dependencies there when the lock file changed. Returns null (with the reason logged) when they
 * cannot be used.
 */
function prepareAnchors(notes: string[]): string | null {
  if (options.skipAnchors) {
    notes.push('Reference systems skipped (--skip-anchors).');
    return null;
  }
  if (!existsSync(path.join(options.anchors, 'package.json'))) {
    notes.push(`Reference systems skipped: no reference scripts at ${options.anchors}; pass --anchors DIR or set SINGLORA_ANCHORS.`);
    return null;
  }
  const cache = options.cache;
  const sourceHash = treeHash(options.anchors);
  if (!existsSync(cache) || treeHash(cache) !== sourceHash) {
    log(`copying the reference scripts to ${cache}`);
    copyTree(options.anchors, cache);
  }

  const lockHash = createHash('sha256').update(readFileSync(path.join(cache, 'package-lock.json'))).digest('hex');
  const stamp = path.join(cache, 'node_modules', '.install-hash');
  const installed = existsSync(stamp) ? readFileSync(stamp, 'utf8') : '';
  if (installed !== lockHash) {
    log(`installing the reference scripts' dependencies in ${cache} with npm ci (a few minutes the first time)`);
    const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: cache, encoding: 'utf8', stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) {
      notes.push(`Reference systems skipped: npm ci failed in ${cache} (status ${result.status}).`);
      return null;
    }
    writeFileSync(stamp, lockHash);
  }
  return cache;
}

/** Returns a Python interpreter that can import torch, or null. */
function findPython(): string | null {
  const candidates = options.python !== '' ? [options.python] : ['python3', '/usr/bin/python3', 'python'];
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) return candidate;
  }
  return null;
}

/** Returns the gpu.js modes to run the GPU rows in, each with the command prefix it needs. */
function gpuModes(notes: string[]): { mode: string; wrapper: string[] }[] {
  if (options.skipGpu) {
    notes.push('GPU rows skipped (--skip-gpu).');
    return [];
  }
  if (!existsSync(path.join(root, 'gpu', 'index.ts'))) {
    notes.push('GPU rows skipped: this checkout has no gpu/ backend.');
    return [];
  }
  const probe = (mode: string, wrapper: string[]): boolean => {
    const script = `import('./gpu/index.ts').then((g) => process.exit(g.isGpuModeSupported('${mode}') ? 0 : 3))`;
    const [command, ...prefix] = [...wrapper, process.execPath];
    const result = spawnSync(command, [...prefix, '--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    return result.status === 0;
  };
  const modes: { mode: string; wrapper: string[] }[] = [];
  // headless-gl needs an X display; xvfb-run provides a virtual one where no display exists.
  const xvfb = spawnSync('xvfb-run', ['--help'], { encoding: 'utf8' }).error === undefined ? ['xvfb-run', '-a'] : [];
  if (probe('headlessgl', [])) modes.push({ mode: 'headlessgl', wrapper: [] });
  else if (xvfb.length > 0 && probe('headlessgl', xvfb)) modes.push({ mode: 'headlessgl', wrapper: xvfb });
  else notes.push('GPU rows: gpu.js mode headlessgl does not start here (no GL context), so it is not measured.');
  for (const mode of ['webasm', 'cpu']) {
    if (probe(mode, [])) modes.push({ mode, wrapper: [] });
    else notes.push(`GPU rows: gpu.js mode ${mode} does not start here, so it is not measured.`);
  }
  return modes;
}

// ---- the plan -----------------------------------------------------------------------------

const quick = options.quick;
// Our rows with two matmul threads (singlora-cpu-2t) are added where the machine has two cores.
// The reference systems all run on one thread, so the targets are judged on singlora-cpu.
const threaded = os.cpus().length >= 2;
let rounds = quick ? 1 : 3;
if (options.rounds > 0) rounds = Math.floor(options.rounds);
const node = process.execPath;
const ours = (script: string, args: string[], timeoutSeconds: number, label: string, wrapper: string[] = []): Job => {
  const [command, ...prefix] = [...wrapper, node];
  return { label, command, args: [...prefix, '--import', 'tsx', `bench/${script}`, ...args], cwd: root, timeoutSeconds };
};

function planJobs(anchors: string | null, python: string | null, modes: { mode: string; wrapper: string[] }[]): Job[] {
  const jobs: Job[] = [];
  const anchor = (label: string, script: string, args: string[], timeoutSeconds: number): void => {
    if (anchors !== null) jobs.push({ label, command: node, args: [script, ...args], cwd: anchors, timeoutSeconds });
  };
  const torch = (label: string, script: string, args: string[], timeoutSeconds: number): void => {
    if (anchors === null || python === null) return;
    // One thread everywhere, as the reference runs pin it (OpenBLAS would start its own otherwise).
    const env = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
    jobs.push({ label, command: python, args: [script, '--threads', '1', ...args], cwd: anchors, env, timeoutSeconds });
  };

  if (anchors !== null) {
    anchor('environment (node)', 'js/env_info.mjs', [], 120);
    if (python !== null) torch('environment (python)', 'py/env_info.py', [], 120);
  }

  if (only.has('w1')) {
    // Small: 20 check steps (the loss check) then timed steps. Large: in quick mode 5 check
    // steps only, because a TF.js wasm step takes about a second there.
    const small = quick ? ['--checkSteps', '20', '--minReps', '10', '--maxReps', '50', '--budgetMs', '1000']
      : ['--checkSteps', '20', '--minReps', '8', '--budgetMs', '8000'];
    const large = quick ? ['--checkSteps', '5', '--minReps', '3', '--maxReps', '3', '--budgetMs', '0']
      : ['--checkSteps', '20', '--minReps', '8', '--budgetMs', '8000'];
    const pySmall = quick ? ['--check-steps', '20', '--min-reps', '10', '--budget-s', '1'] : ['--check-steps', '20', '--min-reps', '8', '--budget-s', '8'];
    const pyLarge = quick ? ['--check-steps', '5', '--min-reps', '3', '--max-reps', '3', '--budget-s', '0'] : ['--check-steps', '20', '--min-reps', '8', '--budget-s', '8'];

    // A small step takes milliseconds, so a burst of load from other processes moves one system's
    // median a lot. The small configuration therefore runs in several rounds, the systems taking
    // turns, and the report takes each system's median over the rounds.
    for (let round = 1; round <= rounds; round++) {
      const suffix = rounds > 1 ? ` (round ${round}/${rounds})` : '';
      jobs.push(ours('w1-transformer.ts', ['--configs', 'small', ...small], 300, `W1 singlora-cpu small${suffix}`));
      anchor(`W1 tfjs-wasm small${suffix}`, 'js/w1_transformer_tfjs.mjs', ['--backend', 'wasm', '--configs', 'small', ...small], 300);
      // js-pytorch's large configuration is only probed once: its script skips it after one step.
      const jsPytorchConfigs = quick || round > 1 ? 'small' : 'small,large';
      anchor(`W1 js-pytorch small${suffix}`, 'js/w1_transformer_jspytorch.mjs',
        quick ? ['--configs', jsPytorchConfigs, '--checkSteps', '5', '--minReps', '3', '--maxReps', '5', '--budgetMs', '1000']
          : ['--configs', jsPytorchConfigs, '--checkSteps', '20', '--budgetMs', '5000', '--maxSeconds', '60'], 600);
      torch(`W1 pytorch-1t small${suffix}`, 'py/w1_transformer_torch.py', ['--configs', 'small', ...pySmall], 300);
    }
    jobs.push(ours('w1-transformer.ts', ['--configs', 'large', ...large], 600, 'W1 singlora-cpu large'));
    if (threaded) jobs.push(ours('w1-transformer.ts', ['--configs', 'large', ...large, '--threads', '2'], 600, 'W1 singlora-cpu-2t large'));
    anchor('W1 tfjs-wasm large', 'js/w1_transformer_tfjs.mjs', ['--backend', 'wasm', '--configs', 'large', ...large], 600);
    torch('W1 pytorch-1t large', 'py/w1_transformer_torch.py', ['--configs', 'large', ...pyLarge], 600);
    for (const { mode, wrapper } of modes) {
      jobs.push(ours('w1-transformer.ts', ['--configs', 'small', '--device', 'gpu', '--gpuMode', mode, '--checkSteps', quick ? '3' : '20',
        '--minReps', '2', '--maxReps', quick ? '2' : '5', '--budgetMs', '0'], quick ? 60 : 300, `W1 singlora-gpu-${mode} small`, wrapper));
    }
  }

  if (only.has('w2')) {
    const timing = quick ? ['--minReps', '3', '--maxReps', '10', '--budgetMs', '300'] : ['--minReps', '3', '--budgetMs', '2500'];
    jobs.push(ours('w2-matmul.ts', timing, 300, 'W2 singlora-cpu'));
    if (threaded) jobs.push(ours('w2-matmul.ts', [...timing, '--threads', '2'], 300, 'W2 singlora-cpu-2t'));
    anchor('W2 tfjs-wasm', 'js/w2_matmul.mjs', ['--system', 'tfjs-wasm', ...timing], 300);
    // The naive loop takes about 2 s per product at n = 1024, so quick mode leaves that size out.
    anchor('W2 js-naive', 'js/w2_matmul.mjs', quick ? ['--system', 'js-naive', '--sizes', '128,256,512', '--minReps', '1', '--maxReps', '3', '--budgetMs', '300']
      : ['--system', 'js-naive', ...timing], 300);
    torch('W2 pytorch-1t', 'py/w2_matmul_torch.py', quick ? ['--min-reps', '2', '--max-reps', '5', '--budget-s', '0.3'] : ['--min-reps', '3', '--budget-s', '2.5'], 300);
    for (const { mode, wrapper } of modes) {
      jobs.push(ours('w2-matmul.ts', ['--device', 'gpu', '--gpuMode', mode, '--sizes', quick ? '128,256' : '128,256,512',
        '--minReps', '1', '--maxReps', '3', '--budgetMs', '0'], quick ? 60 : 300, `W2 singlora-gpu-${mode}`, wrapper));
    }
  }

  if (only.has('w3')) {
    const timing = quick ? ['--minReps', '3', '--maxReps', '10', '--budgetMs', '500'] : ['--budgetMs', '3000'];
    jobs.push(ours('w3-adapter.ts', timing, 600, 'W3 singlora-cpu'));
    if (threaded) jobs.push(ours('w3-adapter.ts', [...timing, '--threads', '2'], 600, 'W3 singlora-cpu-2t'));
    anchor('W3 tfjs-wasm', 'js/w3_adapter_tfjs.mjs', ['--backend', 'wasm', ...timing], 600);
    torch('W3 pytorch-1t', 'py/w3_adapter_torch.py', quick ? ['--min-reps', '3', '--max-reps', '10', '--budget-s', '0.5'] : ['--budget-s', '3'], 600);
    for (const { mode, wrapper } of modes) {
      jobs.push(ours('w3-adapter.ts', ['--device', 'gpu', '--gpuMode', mode, '--shapes', '1024x1024', '--warmup', '1',
        '--minReps', '1', '--maxReps', quick ? '1' : '3', '--budgetMs', '0'], quick ? 60 : 300, `W3 singlora-gpu-${mode}`, wrapper));
    }
  }
  return jobs;
}

// ---- main ---------------------------------------------------------------------------------

function main(): void {
  const started = new Date();
  const loadBefore = os.loadavg();
  const notes: string[] = [];
  const anchors = prepareAnchors(notes);
  const python = anchors === null ? null : findPython();
  if (anchors !== null && python === null) {
    notes.push('PyTorch rows skipped: no python3 that imports torch and numpy was found; on Debian, `apt-get install -y python3-torch` provides one (pass --python EXE for another).');
  }
  const modes = gpuModes(notes);

  const jobs = planJobs(anchors, python, modes);
  const records: BenchRecord[] = [];
  const commands: Report['commands'] = [];
  const messages: string[] = [];
  const runStart = performance.now();
  for (const job of jobs) {
    const result = runJob(job);
    records.push(...result.records);
    messages.push(...result.messages.filter((m) => /loss|fact vs mat|rel err/.test(m)).map((m) => `${job.label}: ${m}`));
    const program = job.command === node ? 'node' : job.command;
    commands.push({ label: job.label, command: [program, ...job.args].map(quote).join(' '), cwd: job.cwd === root ? '.' : job.cwd, seconds: result.seconds });
    if (result.failure !== null) notes.push(`${job.label} failed: ${result.failure}.`);
  }

  const report: Report = {
    quick,
    started,
    totalSeconds: (performance.now() - runStart) / 1000,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryGiB: os.totalmem() / 1024 ** 3,
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      loadBefore,
      loadAfter: os.loadavg(),
    },
    invocation: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).map(quote).join(' ')}` : ''}`,
    commands,
    records,
    messages,
    notes,
  };
  const { markdown, summary } = renderReport(report);

  // Write to a temporary file and rename it over the old one, so a reader never sees half a file.
  const temporary = `${options.out}.${process.pid}.tmp`;
  writeFileSync(temporary, markdown);
  renameSync(temporary, options.out);
  console.log(summary);
  log(`wrote ${path.relative(process.cwd(), options.out) || options.out} (${report.totalSeconds.toFixed(0)} s of runs)`);
}

main();

/**
 * Executes the runs of a sweep, one after another in this process, or spread over child
 * processes when jobs > 1. JavaScript runs one thread per process, so separate processes are
 * what lets a 2-core machine train two runs at once. Every run is seeded on its own, so the
 * results do not depend on the number of jobs or on which process trained which run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type RunResult, type RunSpec, type SweepContext, runOne, stepsPerRun } from './finetune-run.js';
import type { Progress } from './progress.js';
import type { FromWorker, ToWorker } from './sweep-worker.js';

export interface PoolOptions {
  jobs: number;
  progress: Progress;
  /** Short name of a run for progress bars. */
  label: (spec: RunSpec) => string;
  /** One line shown when a run finishes. */
  summary: (result: RunResult) => string;
}

/** Runs every spec and returns the results in the order of the specs. */
export async function executeRuns(context: SweepContext, specs: RunSpec[], options: PoolOptions): Promise<RunResult[]> {
  const jobs = Math.max(1, Math.min(options.jobs, specs.length));
  return jobs === 1 ? executeInProcess(context, specs, options) : executeInChildren(context, specs, jobs, options);
}

async function executeInProcess(context: SweepContext, specs: RunSpec[], options: PoolOptions): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const spec of specs) {
    options.progress.startRun(0, options.label(spec), stepsOf(context, spec));
    const result = await runOne(context, spec, (stepsDone, loss) => options.progress.step(0, stepsDone, loss));
    options.progress.finishRun(0, options.summary(result));
    results.push(result);
  }
  return results;
}

function stepsOf(context: SweepContext, spec: RunSpec): number {
  return stepsPerRun(context.train.count, spec.batchSize, spec.epochs);
}

/** Returns the worker module next to this file: sweep-worker.ts under tsx, sweep-worker.js once compiled. */
function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  return here.slice(0, -extname(here).length).replace(/run-pool$/, 'sweep-worker') + extname(here);
}

function executeInChildren(context: SweepContext, specs: RunSpec[], jobs: number, options: PoolOptions): Promise<RunResult[]> {
  const results = new Map<number, RunResult>();
  const pending = [...specs];
  const children: ChildProcess[] = [];
  // Children sent 'exit' because no run is left; their exit is expected.
  const released = new Set<ChildProcess>();
  let settled = false;

  return new Promise<RunResult[]>((resolve, reject) => {
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      for (const child of children) child.kill();
      reject(error);
    };

    const assignNext = (child: ChildProcess, slot: number): void => {
      const spec = pending.shift();
      if (spec === undefined) {
        released.add(child);
        child.send({ type: 'exit' } satisfies ToWorker);
        if (results.size === specs.length && !settled) {
          settled = true;
          resolve(specs.map((s) => results.get(s.index)!));
        }
        return;
      }
      options.progress.startRun(slot, options.label(spec), stepsOf(context, spec));
      child.send({ type: 'run', spec } satisfies ToWorker);
    };

    for (let slot = 0; slot < jobs; slot++) {
      // execArgv carries tsx's loader flags when the CLI runs from source, so the child can load .ts files.
      const child = fork(workerPath(), [], { execArgv: process.execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);

      child.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'step':
            options.progress.step(slot, message.stepsDone, message.loss);
            return;
          case 'result':
            results.set(message.result.spec.index, message.result);
            options.progress.finishRun(slot, options.summary(message.result));
            assignNext(child, slot);
            return;
          case 'error': {
            const spec = specs.find((s) => s.index === message.index);
            const error = new Error(`run ${message.index + 1} (${spec === undefined ? '?' : options.label(spec)}) failed: ${message.message}`);
            error.stack = message.stack ?? error.stack;
            fail(error);
          }
        }
      });
      child.on('error', (error) => fail(new Error(`sweep worker process failed: ${error.message}`, { cause: error })));
      child.on('exit', (code, signal) => {
        if (!settled && !(released.has(child) && code === 0)) {
          fail(new Error(`sweep worker process exited early (exit code ${code}, signal ${signal}) with ${specs.length - results.size} runs unfinished`));
        }
      });

      child.send({ type: 'context', context } satisfies ToWorker);
      assignNext(child, slot);
    }
  });
}

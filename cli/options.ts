/**
 * Command-line options of `singlora finetune` and `singlora pretrain`: one table per command
 * drives both parsing (node:util parseArgs) and the --help text, and every value is validated
 * here, so a bad value is rejected with the accepted values before any work starts.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

import type { Device } from '../index.js';
import { DEFAULT_METHODS, METHOD_NAMES, type MethodName } from './methods.js';
import { defaultBasePath, displayPath } from './paths.js';
import { formatLr } from './report.js';
import { PRETRAIN_DEFAULTS } from './pretrain.js';

/** A bad command line: unknown option, missing value or invalid value. The CLI exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  /** Long name without the leading `--`. */
  name: string;
  type: 'string' | 'boolean';
  /** Placeholder for the value in the help text, e.g. N or FILE. */
  placeholder?: string;
  /** Help text: the setting the option controls, its unit and its default. */
  help: string;
}

export const DEVICES: readonly Device[] = ['cpu', 'gpu'];

export const FINETUNE_DEFAULTS = {
  methods: DEFAULT_METHODS,
  rank: 4,
  lrs: [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
  epochs: 2,
  batchSize: 32,
  trainSize: 1000,
  seed: 0,
  testFraction: 0.2,
  classes: [5, 6, 7, 8, 9],
  /** The share of a run's optimizer steps over which SingLoRA's ramp u(t) rises from 0 to 1. */
  rampFraction: 0.01,
} as const;

/** Settings that `--quick` overrides to make a run of a few optimizer steps, for smoke tests. */
export const QUICK_SETTINGS = {
  trainSize: 64,
  testSize: 64,
  epochs: 1,
  batchSize: 32,
  lrs: [1e-3, 1e-2],
  pretrainTrainSize: 256,
} as const;

const list = (values: readonly (string | number)[]): string => values.join(',');
const lrList = (lrs: readonly number[]): string => lrs.map(formatLr).join(',');

export const FINETUNE_OPTIONS: readonly OptionSpec[] = [
  { name: 'methods', type: 'string', placeholder: 'LIST', help: `methods to compare, comma-separated; accepted: ${METHOD_NAMES.join(', ')} (default ${list(DEFAULT_METHODS)})` },
  { name: 'rank', type: 'string', placeholder: 'N', help: `adapter rank r, a positive integer shared by every adapter method (default ${FINETUNE_DEFAULTS.rank})` },
  { name: 'alpha', type: 'string', placeholder: 'X', help: 'adapter scale numerator α: ΔW is scaled by α/r, or α/√r for rslora (default: equal to the rank)' },
  {
    name: 'ramp-steps',
    type: 'string',
    placeholder: 'N',
    help: 'SingLoRA ramp length T in optimizer steps, u(t) = min(t/T, 1); 0 turns the ramp off (default: 1 % of the optimizer steps of each run, at least 1)',
  },
  { name: 'lrs', type: 'string', placeholder: 'LIST', help: `learning rates to sweep, comma-separated positive numbers, the same grid for every method (default ${lrList(FINETUNE_DEFAULTS.lrs)})` },
  { name: 'epochs', type: 'string', placeholder: 'N', help: `passes over the training examples in each run (default ${FINETUNE_DEFAULTS.epochs})` },
  { name: 'batch-size', type: 'string', placeholder: 'N', help: `training examples per optimizer step (default ${FINETUNE_DEFAULTS.batchSize})` },
  {
    name: 'train-size',
    type: 'string',
    placeholder: 'N',
    help: `training examples to use, a seeded random subset of the training split; 0 means all (default ${FINETUNE_DEFAULTS.trainSize})`,
  },
  { name: 'seed', type: 'string', placeholder: 'N', help: `seed of the data split, subset and batch order, and of the new head and adapter initialisation (default ${FINETUNE_DEFAULTS.seed})` },
  { name: 'device', type: 'string', placeholder: 'cpu|gpu', help: "where tensors live: 'cpu' or 'gpu' (the gpu.js backend) (default cpu)" },
  { name: 'jobs', type: 'string', placeholder: 'N', help: `training runs executed in parallel, one process each (default: the number of CPU cores, ${availableParallelism()} here)` },
  { name: 'out', type: 'string', placeholder: 'DIR', help: 'folder for results.md, results.json and accuracy-vs-lr.svg (default runs/<UTC date and time>)' },
  { name: 'base', type: 'string', placeholder: 'FILE', help: `pretrained checkpoint to adapt, written by \`singlora pretrain\` (default ${displayPath(defaultBasePath())})` },
  { name: 'train-images', type: 'string', placeholder: 'FILE', help: 'training images as an IDX file (MNIST format, gzipped or not); needs --train-labels' },
  { name: 'train-labels', type: 'string', placeholder: 'FILE', help: 'training labels as an IDX file (gzipped or not); needs --train-images' },
  { name: 'test-images', type: 'string', placeholder: 'FILE', help: 'test images as an IDX file; needs --test-labels (default: hold out --test-fraction of the training files)' },
  { name: 'test-labels', type: 'string', placeholder: 'FILE', help: 'test labels as an IDX file; needs --test-images' },
  { name: 'csv', type: 'string', placeholder: 'FILE', help: "training examples as CSV, one 'label,pixel0,pixel1,...' line per image, pixels 0-255 or 0-1" },
  { name: 'test-csv', type: 'string', placeholder: 'FILE', help: 'test examples as CSV in the same layout; needs --csv (default: hold out --test-fraction of --csv)' },
  { name: 'test-fraction', type: 'string', placeholder: 'X', help: `share of the examples held out for testing when no test file is given, in (0, 1) (default ${FINETUNE_DEFAULTS.testFraction})` },
  {
    name: 'classes',
    type: 'string',
    placeholder: 'LIST',
    help: `labels to classify, comma-separated, remapped to 0..k-1 in the given order (default ${list(FINETUNE_DEFAULTS.classes)} for MNIST, every label present for your own files)`,
  },
  {
    name: 'quick',
    type: 'boolean',
    help: `a tiny run for smoke tests: ${QUICK_SETTINGS.trainSize} training and ${QUICK_SETTINGS.testSize} test examples, ${QUICK_SETTINGS.epochs} epoch, lrs ${lrList(QUICK_SETTINGS.lrs)} unless --lrs is given`,
  },
  { name: 'help', type: 'boolean', help: 'show this help and exit' },
];

export const PRETRAIN_OPTIONS: readonly OptionSpec[] = [
  { name: 'seed', type: 'string', placeholder: 'N', help: `seed of the data split, initialisation and batch order (default ${PRETRAIN_DEFAULTS.seed})` },
  { name: 'epochs', type: 'string', placeholder: 'N', help: `passes over the training split (default ${PRETRAIN_DEFAULTS.epochs})` },
  { name: 'batch-size', type: 'string', placeholder: 'N', help: `training examples per optimizer step (default ${PRETRAIN_DEFAULTS.batchSize})` },
  { name: 'lr', type: 'string', placeholder: 'X', help: `peak AdamW learning rate, after a linear warmup over 5 % of the steps and before cosine decay (default ${PRETRAIN_DEFAULTS.lr})` },
  { name: 'device', type: 'string', placeholder: 'cpu|gpu', help: "where tensors live: 'cpu' or 'gpu' (the gpu.js backend) (default cpu)" },
  {
    name: 'out',
    type: 'string',
    placeholder: 'FILE',
    help: `checkpoint to write, with a .json description next to it (default ${displayPath(defaultBasePath())}, or runs/pretrain-quick.safetensors with --quick)`,
  },
  { name: 'quick', type: 'boolean', help: `a tiny run for smoke tests: ${QUICK_SETTINGS.pretrainTrainSize} training examples, 1 epoch` },
  { name: 'help', type: 'boolean', help: 'show this help and exit' },
];

export type DataSource =
  | { kind: 'mnist' }
  | { kind: 'idx'; trainImages: string; trainLabels: string; testImages?: string; testLabels?: string }
  | { kind: 'csv'; train: string; test?: string };

export interface FinetuneOptions {
  methods: MethodName[];
  rank: number;
  /** undefined: equal to the rank. */
  alpha: number | undefined;
  /** undefined: 1 % of each run's optimizer steps, at least 1. */
  rampSteps: number | undefined;
  lrs: number[];
  epochs: number;
  batchSize: number;
  /** undefined: every training example. */
  trainSize: number | undefined;
  /** undefined: every test example. Only --quick sets it. */
  testSize: number | undefined;
  seed: number;
  device: Device;
  jobs: number | undefined;
  out: string | undefined;
  base: string;
  data: DataSource;
  /** undefined: 5-9 for MNIST, every label present for files. */
  classes: number[] | undefined;
  testFraction: number;
  quick: boolean;
  help: boolean;
}

export interface PretrainCliOptions {
  seed: number;
  epochs: number;
  batchSize: number;
  lr: number;
  device: Device;
  out: string | undefined;
  quick: boolean;
  help: boolean;
}

/** Parses the arguments after `finetune`; throws a UsageError for anything invalid. */
export function parseFinetuneOptions(args: string[]): FinetuneOptions {
  const values = parseWith('finetune', FINETUNE_OPTIONS, args);
  const quick = values['quick'] === true;

  const rank = optionalNumber(values, 'rank', 'a positive integer', isPositiveInteger) ?? FINETUNE_DEFAULTS.rank;
  const trainSize = optionalNumber(values, 'train-size', 'a non-negative integer', isNonNegativeInteger);

  return {
    methods: parseMethods(values['methods']),
    rank,
    alpha: optionalNumber(values, 'alpha', 'a positive number', (x) => x > 0),
    rampSteps: optionalNumber(values, 'ramp-steps', 'a non-negative integer', isNonNegativeInteger),
    lrs: parseLrs(values['lrs']) ?? [...(quick ? QUICK_SETTINGS.lrs : FINETUNE_DEFAULTS.lrs)],
    epochs: optionalNumber(values, 'epochs', 'a positive integer', isPositiveInteger) ?? (quick ? QUICK_SETTINGS.epochs : FINETUNE_DEFAULTS.epochs),
    batchSize: optionalNumber(values, 'batch-size', 'a positive integer', isPositiveInteger) ?? (quick ? QUICK_SETTINGS.batchSize : FINETUNE_DEFAULTS.batchSize),
    trainSize: resolveTrainSize(trainSize, quick),
    testSize: quick ? QUICK_SETTINGS.testSize : undefined,
    seed: optionalNumber(values, 'seed', 'a non-negative integer', isNonNegativeInteger) ?? FINETUNE_DEFAULTS.seed,
    device: parseDevice(values['device']),
    jobs: optionalNumber(values, 'jobs', 'a positive integer', isPositiveInteger),
    out: optionalString(values, 'out'),
    base: optionalString(values, 'base') ?? defaultBasePath(),
    data: parseDataSource(values),
    classes: parseClasses(values['classes']),
    testFraction: parseTestFraction(values),
    quick,
    help: values['help'] === true,
  };
}

/** Parses the arguments after `pretrain`; throws a UsageError for anything invalid. */
export function parsePretrainOptions(args: string[]): PretrainCliOptions {
  const values = parseWith('pretrain', PRETRAIN_OPTIONS, args);
  const quick = values['quick'] === true;
  return {
    seed: optionalNumber(values, 'seed', 'a non-negative integer', isNonNegativeInteger) ?? PRETRAIN_DEFAULTS.seed,
    epochs: optionalNumber(values, 'epochs', 'a positive integer', isPositiveInteger) ?? (quick ? 1 : PRETRAIN_DEFAULTS.epochs),
    batchSize: optionalNumber(values, 'batch-size', 'a positive integer', isPositiveInteger) ?? PRETRAIN_DEFAULTS.batchSize,
    lr: optionalNumber(values, 'lr', 'a positive number', (x) => x > 0) ?? PRETRAIN_DEFAULTS.lr,
    device: parseDevice(values['device']),
    out: optionalString(values, 'out'),
    quick,
    help: values['help'] === true,
  };
}

/** Formats the help text of a command from its option table. */
export function formatHelp(command: string, summary: string, specs: readonly OptionSpec[]): string {
  const usage = specs.map((spec) => (spec.placeholder === undefined ? `--${spec.name}` : `--${spec.name} ${spec.placeholder}`));
  const width = Math.max(...usage.map((text) => text.length)) + 2;
  const lines = specs.map((spec, i) => `  ${usage[i]!.padEnd(width)}${spec.help}`);
  return [`Usage: singlora ${command} [options]`, '', summary, '', 'Options:', ...lines, ''].join('\n');
}

type ParsedValues = Record<string, string | boolean | undefined>;

function parseWith(command: string, specs: readonly OptionSpec[], args: string[]): ParsedValues {
  const config = Object.fromEntries(specs.map((spec) => [spec.name, { type: spec.type }]));
  let parsed: { values: ParsedValues; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: config, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }, specs));
  }

  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}'; every setting is an option such as --lrs 1e-3,1e-2 (see singlora ${command} --help)`);
  }
  return parsed.values;
}

/** Rewrites a parseArgs error (unknown option, missing or ambiguous value) as one line with the fix. */
function describeParseError(error: Error & { code?: string }, specs: readonly OptionSpec[]): string {
  const option = /'(-[^' ]*)/.exec(error.message)?.[1] ?? '?';
  const accepted = specs.map((spec) => `--${spec.name}`).join(', ');
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return `unknown option '${option}'; accepted options: ${accepted}`;
  }
  if (error.message.includes('ambiguous')) {
    return `${option} needs a value; for a value that starts with '-', write ${option}=VALUE (e.g. ${option}=-1)`;
  }
  if (error.message.includes('argument missing')) {
    return `${option} needs a value`;
  }
  if (error.message.includes('does not take an argument')) {
    return `${option} is a flag and takes no value; write ${option} alone`;
  }
  return `${error.message.split('\n')[0]!.replace(/\.$/, '')}; accepted options: ${accepted}`;
}

// A decimal number with optional sign, fraction and exponent. Stricter than Number(), which
// also accepts '', whitespace, hexadecimal and 'Infinity'.
const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function isPositiveInteger(x: number): boolean {
  return Number.isSafeInteger(x) && x > 0;
}

function isNonNegativeInteger(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}

function parseNumber(text: string): number | undefined {
  const trimmed = text.trim();
  return NUMBER_PATTERN.test(trimmed) ? Number(trimmed) : undefined;
}

function optionalString(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`--${name} needs a non-empty value`);
  return value;
}

function optionalNumber(values: ParsedValues, name: string, expected: string, isValid: (x: number) => boolean): number | undefined {
  const text = optionalString(values, name);
  if (text === undefined) return undefined;
  const value = parseNumber(text);
  if (value === undefined || !isValid(value)) {
    throw new UsageError(`--${name} must be ${expected}, got '${text}'`);
  }
  return value;
}

function parseMethods(value: string | boolean | undefined): MethodName[] {
  if (value === undefined) return [...DEFAULT_METHODS];
  const names = String(value)
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const methods: MethodName[] = [];
  for (const name of names) {
    if (!(METHOD_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--methods: unknown method '${name}'; accepted methods: ${METHOD_NAMES.join(', ')}`);
    }
    if (methods.includes(name as MethodName)) {
      throw new UsageError(`--methods: '${name}' is listed twice; list each method once`);
    }
    methods.push(name as MethodName);
  }
  return methods;
}

function parseLrs(value: string | boolean | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const items = String(value).split(',');
  const lrs: number[] = [];
  for (const item of items) {
    const lr = parseNumber(item);
    if (lr === undefined || !(lr > 0) || !Number.isFinite(lr)) {
      throw new UsageError(`--lrs: '${item}' is not a positive number; accepted: a comma-separated list such as 3e-4,1e-3,3e-3,1e-2`);
    }
    if (lrs.includes(lr)) throw new UsageError(`--lrs: ${item} is listed twice; list each learning rate once`);
    lrs.push(lr);
  }
  return lrs.sort((a, b) => a - b);
}

function parseDevice(value: string | boolean | undefined): Device {
  if (value === undefined) return 'cpu';
  if (!(DEVICES as readonly string[]).includes(String(value))) {
    throw new UsageError(`--device: unknown device '${String(value)}'; accepted devices: ${DEVICES.join(', ')}`);
  }
  return value as Device;
}

function parseClasses(value: string | boolean | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const classes: number[] = [];
  for (const item of String(value).split(',')) {
    const label = parseNumber(item);
    if (label === undefined || !Number.isInteger(label) || label < 0 || label > 255) {
      throw new UsageError(`--classes: '${item}' is not a label; accepted: comma-separated integers in 0-255, such as 5,6,7,8,9`);
    }
    if (classes.includes(label)) throw new UsageError(`--classes: label ${label} is listed twice; list each label once`);
    classes.push(label);
  }
  if (classes.length < 2) throw new UsageError(`--classes: got ${classes.length} label, but a classifier needs at least 2`);
  return classes;
}

function parseTestFraction(values: ParsedValues): number {
  const fraction = optionalNumber(values, 'test-fraction', 'a number strictly between 0 and 1', (x) => x > 0 && x < 1);
  const hasTestFiles = values['test-images'] !== undefined || values['test-csv'] !== undefined;
  if (fraction !== undefined && hasTestFiles) {
    throw new UsageError('--test-fraction cannot be combined with --test-images or --test-csv; the test files are the test set');
  }
  return fraction ?? FINETUNE_DEFAULTS.testFraction;
}

function resolveTrainSize(value: number | undefined, quick: boolean): number | undefined {
  if (value === 0) return undefined;
  if (value !== undefined) return value;
  return quick ? QUICK_SETTINGS.trainSize : FINETUNE_DEFAULTS.trainSize;
}

function parseDataSource(values: ParsedValues): DataSource {
  const file = (name: string): string | undefined => optionalString(values, name);
  const trainImages = file('train-images');
  const trainLabels = file('train-labels');
  const testImages = file('test-images');
  const testLabels = file('test-labels');
  const csv = file('csv');
  const testCsv = file('test-csv');

  if ((trainImages !== undefined || trainLabels !== undefined) && csv !== undefined) {
    throw new UsageError('--csv cannot be combined with --train-images/--train-labels; give one training source');
  }
  if ((trainImages === undefined) !== (trainLabels === undefined)) {
    throw new UsageError('--train-images and --train-labels must be given together');
  }
  if ((testImages === undefined) !== (testLabels === undefined)) {
    throw new UsageError('--test-images and --test-labels must be given together');
  }
  if (testImages !== undefined && trainImages === undefined) {
    throw new UsageError('--test-images needs --train-images and --train-labels');
  }
  if (testCsv !== undefined && csv === undefined) {
    throw new UsageError('--test-csv needs --csv');
  }

  if (trainImages !== undefined && trainLabels !== undefined) {
    return { kind: 'idx', trainImages, trainLabels, testImages, testLabels };
  }
  if (csv !== undefined) return { kind: 'csv', train: csv, test: testCsv };
  return { kind: 'mnist' };
}

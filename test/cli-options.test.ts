import assert from 'node:assert/strict';

import { parseFinetuneOptions } from '../cli/options.js';
import { runCli } from './cli-helpers.js';

// Written out here rather than read from the option tables, so a dropped option fails the test.
const FINETUNE_OPTION_NAMES = [
  'methods', 'rank', 'alpha', 'ramp-steps', 'lrs', 'epochs', 'batch-size', 'train-size', 'seed', 'device', 'jobs', 'out', 'base',
  'train-images', 'train-labels', 'test-images', 'test-labels', 'csv', 'test-csv', 'test-fraction', 'classes', 'quick', 'help',
];
const PRETRAIN_OPTION_NAMES = ['seed', 'epochs', 'batch-size', 'lr', 'device', 'out', 'quick', 'help'];
const ALL_METHODS = ['full', 'lora', 'rslora', 'loraplus', 'dora', 'singlora', 'singlora-dora'];

/** Finds the help line of one option, which starts with the option after two spaces of indentation. */
function helpLine(help: string, option: string): string | undefined {
  return help.split('\n').find((line) => line.startsWith(`  --${option} `) || line === `  --${option}`);
}

describe('cli options', () => {
  it('finetune --help lists every option', async () => {
    const run = await runCli(['finetune', '--help']);
    assert.equal(run.code, 0);
    for (const option of FINETUNE_OPTION_NAMES) {
      assert.ok(helpLine(run.stdout, option) !== undefined, `--help lacks --${option}`);
    }
  });

  it('help states defaults and units', async () => {
    const run = await runCli(['finetune', '--help']);
    assert.match(helpLine(run.stdout, 'rank')!, /default 4/);
    assert.match(helpLine(run.stdout, 'lrs')!, /default 3e-4,1e-3,3e-3,1e-2,3e-2/);
    assert.match(helpLine(run.stdout, 'ramp-steps')!, /optimizer steps.*1 %/);
    assert.match(helpLine(run.stdout, 'batch-size')!, /examples per optimizer step/);
    assert.match(helpLine(run.stdout, 'methods')!, new RegExp(ALL_METHODS.join(', ')));
  });

  it('pretrain --help lists every option', async () => {
    const run = await runCli(['pretrain', '--help']);
    assert.equal(run.code, 0);
    for (const option of PRETRAIN_OPTION_NAMES) {
      assert.ok(helpLine(run.stdout, option) !== undefined, `pretrain --help lacks --${option}`);
    }
  });

  it('top-level help covers both commands', async () => {
    for (const args of [['--help'], ['help']]) {
      const run = await runCli(args);
      assert.equal(run.code, 0, args.join(' '));
      assert.match(run.stdout, /singlora finetune/);
      assert.match(run.stdout, /singlora pretrain/);
      for (const option of [...FINETUNE_OPTION_NAMES, ...PRETRAIN_OPTION_NAMES]) {
        assert.ok(helpLine(run.stdout, option) !== undefined, `${args.join(' ')} lacks --${option}`);
      }
    }
  });

  const badValues: { args: string[]; mentions: string[] }[] = [
    { args: ['--methods', 'lora,qlora'], mentions: ["'qlora'", ...ALL_METHODS] },
    { args: ['--rank=-2'], mentions: ['--rank', '-2', 'positive integer'] },
    { args: ['--rank', '-2'], mentions: ['--rank needs a value', '--rank=VALUE'] },
    { args: ['--rank', '2.5'], mentions: ['--rank', '2.5', 'positive integer'] },
    { args: ['--lrs', '1e-3,fast'], mentions: ["'fast'", 'positive number', '3e-4,1e-3'] },
    { args: ['--lrs', '1e-3,-1e-2'], mentions: ["'-1e-2'", 'positive number'] },
    { args: ['--epochs', 'two'], mentions: ['--epochs', "'two'", 'positive integer'] },
    { args: ['--device', 'tpu'], mentions: ["'tpu'", 'cpu, gpu'] },
    { args: ['--test-fraction', '1.5'], mentions: ['--test-fraction', 'between 0 and 1'] },
    { args: ['--classes', '5,x'], mentions: ["'x'", '0-255'] },
    { args: ['--learning-rate', '1e-3'], mentions: ["unknown option '--learning-rate'", '--lrs', '--methods', '--rank'] },
    { args: ['--rank'], mentions: ['--rank needs a value'] },
    { args: ['--quick=yes'], mentions: ['--quick is a flag'] },
    { args: ['--train-images', 'a.idx'], mentions: ['--train-labels'] },
    { args: ['--csv', 'a.csv', '--train-images', 'a', '--train-labels', 'b'], mentions: ['--csv', '--train-images'] },
    { args: ['stray'], mentions: ["unknown command 'stray'", 'finetune, pretrain, help'] },
  ];

  for (const { args, mentions } of badValues) {
    it(`rejects ${args.join(' ')} with code 2`, async () => {
      const run = await runCli(args);
      assert.equal(run.code, 2, run.stderr);
      for (const text of mentions) assert.ok(run.stderr.includes(text), `stderr "${run.stderr}" lacks "${text}"`);
      assert.doesNotMatch(run.stderr, /^\s+at /m, 'stderr shows a stack trace');
    });
  }

  it('pretrain rejects a bad lr with code 2', async () => {
    const run = await runCli(['pretrain', '--lr', 'high']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--lr must be a positive number, got 'high'/);
  });

  it('defaults match the documented demo', () => {
    const options = parseFinetuneOptions([]);
    assert.deepEqual(options.methods, ['full', 'lora', 'loraplus', 'dora', 'singlora']);
    assert.deepEqual(options.lrs, [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]);
    assert.equal(options.rank, 4);
    assert.equal(options.alpha, undefined, 'alpha follows the rank');
    assert.equal(options.rampSteps, undefined, 'ramp follows the step count');
    assert.deepEqual(options.data, { kind: 'mnist' });
  });

  it('lrs are parsed and sorted', () => {
    const options = parseFinetuneOptions(['--lrs', '1e-2, 3e-4,0.001']);
    assert.deepEqual(options.lrs, [3e-4, 1e-3, 1e-2]);
  });

  it('train size 0 means every example', () => {
    assert.equal(parseFinetuneOptions(['--train-size', '0']).trainSize, undefined);
    assert.equal(parseFinetuneOptions(['--train-size', '250']).trainSize, 250);
  });
});

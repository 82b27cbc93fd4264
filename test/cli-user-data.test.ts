import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { writeIdxFile } from '../data/index.js';
import { csvLines, makeTempDir, mnistDigits, runCli, writeIdxPair } from './cli-helpers.js';

interface ResultsSubset {
  data: { classes: number[]; trainCount: number; testCount: number; description: string };
  runs: unknown[];
}

function readResults(directory: string): ResultsSubset {
  return JSON.parse(readFileSync(join(directory, 'results.json'), 'utf8')) as ResultsSubset;
}

/** Asserts a clean failure: exit code 1, a message with every part, and no stack trace. */
function assertCleanError(run: { code: number; stderr: string }, parts: string[]): void {
  assert.equal(run.code, 1, run.stderr);
  for (const part of parts) assert.ok(run.stderr.includes(part), `stderr "${run.stderr}" lacks "${part}"`);
  assert.doesNotMatch(run.stderr, /^\s+at /m, 'stderr shows a stack trace');
}

describe('cli finetune on user files', function () {
  this.timeout(60_000);
  let directory: string;
  const quick = ['--quick', '--jobs', '1', '--methods', 'lora,singlora', '--lrs', '1e-2'];

  before(() => {
    directory = makeTempDir('user-data');
  });

  after(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('IDX train plain and test gzipped', async () => {
    const train = writeIdxPair(directory, 'train', mnistDigits([1, 3, 7], 30), false);
    const test = writeIdxPair(directory, 'test', mnistDigits([1, 3, 7], 10), true);
    const out = join(directory, 'idx-out');

    const run = await runCli(['finetune', ...quick, '--train-images', train.images, '--train-labels', train.labels, '--test-images', test.images, '--test-labels', test.labels, '--out', out]);
    assert.equal(run.code, 0, run.stderr);

    const results = readResults(out);
    assert.deepEqual(results.data.classes, [1, 3, 7], 'every label present, in order');
    assert.equal(results.data.trainCount, 64, '--quick keeps 64 of 90 training digits');
    assert.equal(results.data.testCount, 30);
    assert.equal(results.runs.length, 2);
    assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /\| SingLoRA/);
  });

  it('IDX gzipped with a held-out fraction', async () => {
    const train = writeIdxPair(directory, 'all', mnistDigits([2, 4], 40), true);
    const out = join(directory, 'idx-fraction-out');

    const run = await runCli(['finetune', ...quick, '--train-images', train.images, '--train-labels', train.labels, '--test-fraction', '0.25', '--out', out]);
    assert.equal(run.code, 0, run.stderr);

    const results = readResults(out);
    assert.deepEqual(results.data.classes, [2, 4]);
    assert.equal(results.data.testCount, 20, '25 % of 80 digits');
    assert.equal(results.data.trainCount, 60);
  });

  it('CSV with chosen classes', async () => {
    const path = join(directory, 'digits.csv');
    writeFileSync(path, csvLines(mnistDigits([0, 6, 8], 20)).join('\n') + '\n');
    const out = join(directory, 'csv-out');

    const run = await runCli(['finetune', ...quick, '--csv', path, '--classes', '8,6', '--test-fraction', '0.25', '--out', out]);
    assert.equal(run.code, 0, run.stderr);

    const results = readResults(out);
    assert.deepEqual(results.data.classes, [8, 6]);
    assert.equal(results.data.testCount, 10, '25 % of the 40 digits labelled 6 or 8');
    assert.equal(results.data.trainCount, 30);
    assert.ok(results.data.description.includes(path), results.data.description);
  });

  it('malformed CSV names file and line', async () => {
    const path = join(directory, 'broken.csv');
    const lines = csvLines(mnistDigits([0, 1], 2));
    lines[2] = lines[2]!.split(',').slice(0, 100).join(',');
    writeFileSync(path, lines.join('\n') + '\n');

    const run = await runCli(['finetune', ...quick, '--csv', path]);
    assertCleanError(run, [path, 'line 3', 'found 100']);
  });

  it('IDX count mismatch names the labels file', async () => {
    const train = writeIdxPair(directory, 'mismatch', mnistDigits([1, 2], 5), false);
    writeIdxFile(train.labels, [7], 'u8', [1, 2, 1, 2, 1, 2, 1]);

    const run = await runCli(['finetune', ...quick, '--train-images', train.images, '--train-labels', train.labels]);
    assertCleanError(run, [train.labels, '7', '10']);
  });

  it('wrong image size asks for a matching base', async () => {
    const path = join(directory, 'small.csv');
    writeFileSync(path, ['0,' + Array(16).fill(0).join(','), '1,' + Array(16).fill(255).join(',')].join('\n'));

    const run = await runCli(['finetune', ...quick, '--csv', path]);
    assertCleanError(run, ['4 × 4', '28 × 28', '--base']);
  });

  it('missing file is a clean error', async () => {
    const path = join(directory, 'absent.csv');
    const run = await runCli(['finetune', ...quick, '--csv', path]);
    assertCleanError(run, [path]);
  });

  it('missing base checkpoint is a clean error', async () => {
    const path = join(directory, 'absent.safetensors');
    const run = await runCli(['finetune', ...quick, '--base', path]);
    assertCleanError(run, [path]);
  });
});

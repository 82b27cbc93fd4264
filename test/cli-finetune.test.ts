import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { RunResult } from '../cli/finetune-run.js';
import type { MethodSummary } from '../cli/report.js';
import { makeTempDir, runCli } from './cli-helpers.js';

interface ResultsJson {
  data: { classes: number[]; trainCount: number; testCount: number };
  settings: { rank: number; alpha: number; rampSteps: number; lrs: number[]; epochs: number };
  summary: MethodSummary[];
  runs: RunResult[];
}

function readResults(directory: string): ResultsJson {
  return JSON.parse(readFileSync(join(directory, 'results.json'), 'utf8')) as ResultsJson;
}

/** Splits the data rows of the Markdown table (lines starting with '|' after the header and rule) into cells. */
function tableRows(markdown: string): string[][] {
  const lines = markdown.split('\n').filter((line) => line.startsWith('|'));
  return lines.slice(2).map((line) =>
    line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );
}

describe('cli finetune on MNIST', function () {
  this.timeout(60_000);
  let directory: string;

  before(() => {
    directory = makeTempDir('finetune');
  });

  after(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('quick run writes table, JSON and plot', async () => {
    const out = join(directory, 'default-methods');
    const run = await runCli(['finetune', '--quick', '--jobs', '1', '--out', out]);
    assert.equal(run.code, 0, run.stderr);

    const rows = tableRows(readFileSync(join(out, 'results.md'), 'utf8'));
    assert.deepEqual(
      rows.map((row) => row[0]),
      ['Full FT', 'LoRA', 'LoRA+', 'DoRA', 'SingLoRA'],
    );
    // method, rank, params, 2 learning rates (quick grid), best, median, spread
    for (const row of rows) assert.equal(row.length, 8, `row ${row.join(' | ')}`);

    const results = readResults(out);
    assert.equal(results.runs.length, 10);
    assert.deepEqual(results.settings.lrs, [1e-3, 1e-2]);
    assert.deepEqual(results.data.classes, [5, 6, 7, 8, 9]);
    assert.equal(results.data.trainCount, 64);
    assert.equal(results.data.testCount, 64);
    for (const result of results.runs) {
      assert.ok(result.testAccuracy >= 0, `accuracy ${result.testAccuracy}`);
      assert.ok(result.testAccuracy <= 1, `accuracy ${result.testAccuracy}`);
      assert.equal(result.epochLosses.length, 1);
      assert.equal(result.steps, 2, 'ceil(64 / 32) steps in 1 epoch');
    }

    const svg = readFileSync(join(out, 'accuracy-vs-lr.svg'), 'utf8');
    assert.ok(svg.startsWith('<svg'), svg.slice(0, 40));
    for (const label of ['Full FT', 'LoRA+', 'DoRA', 'SingLoRA']) assert.ok(svg.includes(label), `plot legend lacks ${label}`);

    assert.ok(run.stdout.includes('| SingLoRA'), run.stdout);
    assert.match(run.stderr, /\[10\/10\] /, 'one progress line per finished run on a non-TTY stream');
  });

  it('parameter counts follow each method', async () => {
    const results = readResults(join(directory, 'default-methods'));
    const byMethod = new Map(results.summary.map((s) => [s.method, s.trainableParameters]));
    // ViT dModel 32, 2 blocks, MLP 32 -> 64 -> 32, new 5-class head; rank 4.
    const head = 32 * 5 + 5;
    const perBlockLora = 4 * 4 * (32 + 32) + 4 * (32 + 64) * 2;
    const perBlockSingLora = 4 * 4 * 32 + 4 * 64 * 2;
    const perBlockDoraMagnitudes = 4 * 32 + 64 + 32;
    assert.equal(byMethod.get('lora'), head + 2 * perBlockLora);
    assert.equal(byMethod.get('loraplus'), head + 2 * perBlockLora);
    assert.equal(byMethod.get('singlora'), head + 2 * perBlockSingLora);
    assert.equal(byMethod.get('dora'), head + 2 * (perBlockLora + perBlockDoraMagnitudes));
  });

  it('two jobs reproduce the in-process results', async () => {
    const out = join(directory, 'two-jobs');
    const run = await runCli(['finetune', '--quick', '--methods', 'lora,singlora', '--jobs', '2', '--out', out]);
    assert.equal(run.code, 0, run.stderr);

    const parallel = readResults(out).runs;
    const serial = readResults(join(directory, 'default-methods')).runs;
    for (const result of parallel) {
      const same = serial.find((r) => r.spec.method === result.spec.method && r.spec.lr === result.spec.lr);
      assert.ok(same !== undefined, `no serial run for ${result.spec.method} at ${result.spec.lr}`);
      assert.equal(result.testAccuracy, same.testAccuracy, `${result.spec.method} lr ${result.spec.lr}: accuracy`);
      assert.deepEqual(result.epochLosses, same.epochLosses, `${result.spec.method} lr ${result.spec.lr}: losses`);
    }
  });

  it('ramp length defaults to 1 % of steps', async () => {
    const results = readResults(join(directory, 'default-methods'));
    assert.equal(results.settings.rampSteps, 1, 'max(1, round(0.01 · 2)) for a 2-step run');
    assert.equal(results.settings.alpha, results.settings.rank);
  });

  it('runs as a program with exit code 0', () => {
    const out = join(directory, 'spawned');
    const child = spawnSync('npx', ['tsx', 'cli/main.ts', '--quick', '--methods', 'singlora', '--lrs', '1e-2', '--out', out], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /\| SingLoRA/);
    assert.equal(readResults(out).runs.length, 1);
  });
});

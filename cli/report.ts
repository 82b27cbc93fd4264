/**
 * The sweep's summary: per method the test accuracy at each learning rate, the best, the median
 * and the spread. The spread is max − min over the rates, the learning-rate robustness statistic
 * of the SingLoRA paper (Bensaïd et al., arXiv 2507.05566). The table is Markdown that also reads
 * well in a terminal.
 */
import type { RunResult } from './finetune-run.js';
import { type MethodName, methodInfo } from './methods.js';

export interface MethodSummary {
  method: MethodName;
  label: string;
  /** null for full fine-tuning. */
  rank: number | null;
  trainableParameters: number;
  /** Test accuracy in [0, 1] at each learning rate of the grid, in grid order. */
  accuracies: number[];
  /** Whether the run at each learning rate diverged (NaN or infinite training loss). */
  diverged: boolean[];
  best: number;
  bestLr: number;
  median: number;
  /** max − min of the accuracies over the grid. */
  spread: number;
}

/** Groups the runs by method (in the order given) and computes best, median and spread. */
export function summarize(methods: readonly MethodName[], lrs: readonly number[], results: readonly RunResult[]): MethodSummary[] {
  return methods.map((method) => {
    const runs = lrs.map((lr) => {
      const run = results.find((r) => r.spec.method === method && r.spec.lr === lr);
      if (run === undefined) throw new Error(`summarize: no result for method ${method} at lr ${lr}`);
      return run;
    });
    const accuracies = runs.map((run) => run.testAccuracy);
    const bestIndex = accuracies.indexOf(Math.max(...accuracies));
    return {
      method,
      label: methodInfo(method).label,
      rank: methodInfo(method).adapter === null ? null : runs[0]!.spec.rank,
      trainableParameters: runs[0]!.trainableParameters,
      accuracies,
      diverged: runs.map((run) => run.diverged),
      best: accuracies[bestIndex]!,
      bestLr: lrs[bestIndex]!,
      median: median(accuracies),
      spread: Math.max(...accuracies) - Math.min(...accuracies),
    };
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Formats a learning rate compactly: 0.0003 -> 3e-4, 0.01 -> 1e-2, 0.0025 -> 2.5e-3. */
export function formatLr(lr: number): string {
  const [mantissa, exponent] = lr.toExponential().split('e');
  return `${Number(Number(mantissa).toPrecision(3))}e${Number(exponent)}`;
}

/** Accuracy in percent with one decimal, the resolution a test set of about 1,000 examples supports. */
export function formatPercent(fraction: number): string {
  return (100 * fraction).toFixed(1);
}

/** Table columns: method, rank, trainable parameters, one per learning rate, best, median, spread. */
export function formatTable(summaries: readonly MethodSummary[], lrs: readonly number[]): string {
  const header = ['method', 'rank', 'trainable params', ...lrs.map((lr) => `lr ${formatLr(lr)}`), 'best', 'median', 'spread'];
  const rows = summaries.map((s) => [
    s.label,
    s.rank === null ? '–' : String(s.rank),
    s.trainableParameters.toLocaleString('en-US'),
    ...s.accuracies.map((accuracy, i) => formatPercent(accuracy) + (s.diverged[i] ? ' †' : '')),
    `${formatPercent(s.best)} (${formatLr(s.bestLr)})`,
    formatPercent(s.median),
    formatPercent(s.spread),
  ]);

  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  // Text columns align left, numbers right, in the padding and in the Markdown alignment row.
  const alignRight = header.map((_, column) => column >= 1);
  const formatRow = (cells: string[]): string =>
    `| ${cells.map((cell, column) => (alignRight[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (alignRight[column] ? `${'-'.repeat(width + 1)}:` : `:${'-'.repeat(width + 1)}`)).join('|')}|`;

  const lines = [formatRow(header), rule, ...rows.map(formatRow)];
  if (summaries.some((s) => s.diverged.some(Boolean))) {
    lines.push('', '† the training loss became NaN or infinite; training stopped there and the model was tested as it was.');
  }
  return lines.join('\n');
}

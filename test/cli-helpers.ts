/** Shared helpers of the CLI tests: run `main` in process with captured output, and write data files. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { filterByLabels, loadMnist, subset, writeIdxFile } from '../data/index.js';
import { main } from '../cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Creates a non-TTY stream that collects what is written, so progress falls back to plain lines. */
function collector(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => text };
}

/** Runs the CLI's main function with `args` and returns the exit code and both outputs. */
export async function runCli(args: string[]): Promise<CliRun> {
  const stdout = collector();
  const stderr = collector();
  const code = await main(args, { stdout: stdout.stream, stderr: stderr.stream });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `singlora-${prefix}-`));
}

/** Collects the first `countPerLabel` MNIST digits of each label in `labels`, with their original labels. */
export function mnistDigits(labels: number[], countPerLabel: number): { images: Float32Array; labels: Int32Array; count: number } {
  const parts = labels.map((label) => {
    const digits = filterByLabels(loadMnist(), [label]);
    return subset(digits, Array.from({ length: countPerLabel }, (_, i) => i));
  });
  const count = parts.reduce((n, part) => n + part.count, 0);
  const images = new Float32Array(count * 28 * 28);
  const allLabels = new Int32Array(count);
  let offset = 0;
  for (const part of parts) {
    images.set(part.images, offset * 28 * 28);
    allLabels.set(part.labels, offset);
    offset += part.count;
  }
  return { images, labels: allLabels, count };
}

/** Writes digits as an MNIST-style pair of IDX files (u8 pixels 0-255) and returns their paths. */
export function writeIdxPair(directory: string, name: string, digits: ReturnType<typeof mnistDigits>, gzip: boolean): { images: string; labels: string } {
  const suffix = gzip ? '.gz' : '';
  const images = join(directory, `${name}-images-idx3-ubyte${suffix}`);
  const labels = join(directory, `${name}-labels-idx1-ubyte${suffix}`);
  const bytes = Uint8Array.from(digits.images, (value) => Math.round(value * 255));
  writeIdxFile(images, [digits.count, 28, 28], 'u8', bytes, { gzip });
  writeIdxFile(labels, [digits.count], 'u8', digits.labels, { gzip });
  return { images, labels };
}

/** Formats digits as CSV lines `label,pixel0,...,pixel783` with pixels 0-255. */
export function csvLines(digits: ReturnType<typeof mnistDigits>): string[] {
  const lines: string[] = [];
  for (let i = 0; i < digits.count; i++) {
    const pixels = Array.from(digits.images.subarray(i * 784, (i + 1) * 784), (value) => Math.round(value * 255));
    lines.push([digits.labels[i], ...pixels].join(','));
  }
  return lines;
}

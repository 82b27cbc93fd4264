/**
 * Summarises a V8 CPU profile (the .cpuprofile file that `node --cpu-prof` writes): the functions
 * with the most self time, and with --inclusive the most total time (self plus callees).
 *
 *   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/w1-transformer.ts --configs small
 *   npx tsx bench/profile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 30] [--inclusive]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { parseOptions } from './common.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds between consecutive samples. */
  timeDeltas: number[];
}

/** Names a function by its name and where it is defined, e.g. `binary (core/cpu/backend.ts:97)`. */
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  // Code loaded through tsx reports line 0 for every function, so a line is shown only when known.
  const line = lineNumber > 0 ? `:${lineNumber + 1}` : '';
  const file = url === '' ? '' : ` (${path.relative(process.cwd(), url.replace(/^file:\/\//, ''))}${line})`;
  return `${functionName === '' ? '(anonymous)' : functionName}${file}`;
}

/** Returns the self and inclusive time of each function, in microseconds, summed over call sites. */
export function summarise(profile: CpuProfile): { self: Map<string, number>; inclusive: Map<string, number>; total: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfById = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    selfById.set(id, (selfById.get(id) ?? 0) + delta);
    total += delta;
  });

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, time] of selfById) {
    const name = frameName(byId.get(id)!);
    self.set(name, (self.get(name) ?? 0) + time);
    // Credit each distinct function on the stack once, so recursion is not counted twice.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = frameName(byId.get(at)!);
      if (seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + time);
    }
  }
  return { self, inclusive, total };
}

function printTable(title: string, times: Map<string, number>, total: number, top: number): void {
  console.log(`\n${title}\n`);
  console.log('|    ms |     % | function |');
  console.log('|------:|------:|---|');
  const rows = [...times].sort((x, y) => y[1] - x[1]).slice(0, top);
  for (const [name, time] of rows) {
    console.log(`| ${(time / 1000).toFixed(0).padStart(5)} | ${((100 * time) / total).toFixed(1).padStart(5)} | ${name} |`);
  }
}

function main(): void {
  const files = process.argv.slice(2).filter((arg) => !arg.startsWith('--') && !/^\d+$/.test(arg));
  const options = parseOptions('profile-summary', process.argv.slice(2).filter((arg) => !files.includes(arg)), { top: 25, inclusive: false });
  if (files.length === 0) throw new Error('profile-summary: pass one or more .cpuprofile files (written by node --cpu-prof)');

  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const { self, inclusive, total } = summarise(profile);
    console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
    printTable('Self time', self, total, options.top);
    if (options.inclusive) printTable('Total time (self + callees)', inclusive, total, options.top);
  }
}

main();

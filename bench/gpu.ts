// Measures the gpu backend's matmul kernel in GFLOP/s (2 n^3 floating-point operations per n x n
// product) and its elementwise add in GB/s (two float32 inputs read and one output written per
// element) in each gpu.js mode that starts here, next to the 'cpu' device, and prints Markdown
// tables.
//
// A product's time is the median over timed runs of matmul plus reading the result back, because
// a GL kernel call only queues work and the read waits for it. The read alone is timed separately
// and subtracted for the kernel column. Compile time (the first call) is reported on its own.
//
// Run with `npx tsx bench/gpu.ts`; for headlessgl run it under Xvfb:
// `xvfb-run -a npx tsx bench/gpu.ts`. Options: --sizes=128,256 --modes=headlessgl,cpu
// --runs=N (timed runs per cell, default 3; fewer when one run takes over 5 s).

import { add, matmul, randn, type Tensor } from '../index.js';
import { dispose, isGpuModeSupported, setGpuLogger, setGpuMode, type GpuMode } from '../gpu/index.js';

const options = parseOptions(process.argv.slice(2));

interface Cell {
  mode: string;
  n: number;
  compileMs: number;
  productMs: number;
  readMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

function measure(mode: string, n: number, device: 'cpu' | 'gpu'): Cell {
  const a = randn([n, n]).to(device);
  const b = randn([n, n]).to(device);
  const product = (): Tensor => {
    const c = matmul(a, b);
    c.toTypedArray();
    return c;
  };

  let last: Tensor | null = null;
  const compileMs = time(() => {
    last = product();
  });
  const readMs = median([0, 1, 2].map(() => time(() => last?.toTypedArray())));
  dispose(last);

  const times: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    let c: Tensor | null = null;
    times.push(time(() => {
      c = product();
    }));
    dispose(c);
    if (times[times.length - 1] > 5000) break;
  }
  dispose([a, b]);
  return { mode, n, compileMs, productMs: median(times), readMs: device === 'gpu' ? readMs : 0 };
}

interface BandwidthCell {
  mode: string;
  elements: number;
  ms: number;
}

/** Times x + y on `elements` float32 values, reading the result back, as for matmul. */
function measureAdd(mode: string, elements: number, device: 'cpu' | 'gpu'): BandwidthCell {
  const x = randn([elements]).to(device);
  const y = randn([elements]).to(device);
  dispose(add(x, y));
  const times: number[] = [];
  for (let run = 0; run < Math.max(options.runs, 3); run++) {
    let z: Tensor | null = null;
    times.push(time(() => {
      z = add(x, y);
      z.toTypedArray();
    }));
    dispose(z);
  }
  dispose([x, y]);
  return { mode, elements, ms: median(times) };
}

function gflops(n: number, ms: number): string {
  return ms > 0 ? ((2 * n ** 3) / (ms * 1e6)).toFixed(2) : '-';
}

const cells: Cell[] = [];
const bandwidth: BandwidthCell[] = [];
setGpuLogger(null);
for (const mode of options.modes) {
  if (mode !== 'cpu-device' && !isGpuModeSupported(mode)) {
    console.log(`skipping gpu.js mode '${mode}': it cannot start here${mode === 'headlessgl' ? ' (run under xvfb-run -a after .ci/gpu-setup.sh)' : ''}`);
    continue;
  }
  if (mode !== 'cpu-device') setGpuMode(mode);
  for (const n of options.sizes) {
    const cell = measure(mode === 'cpu-device' ? "singlora 'cpu' device" : `gpu.js ${mode}`, n, mode === 'cpu-device' ? 'cpu' : 'gpu');
    cells.push(cell);
    console.error(`${cell.mode} n=${n}: ${cell.productMs.toFixed(1)} ms`);
  }
  const label = mode === 'cpu-device' ? "singlora 'cpu' device" : `gpu.js ${mode}`;
  bandwidth.push(measureAdd(label, 1 << 20, mode === 'cpu-device' ? 'cpu' : 'gpu'));
}

console.log('\n| backend | n | first call (compile), ms | matmul + read, ms | read alone, ms | GFLOP/s kernel | GFLOP/s with read |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const c of cells) {
  const kernelMs = c.productMs - c.readMs;
  console.log(
    `| ${c.mode} | ${c.n} | ${c.compileMs.toFixed(0)} | ${c.productMs.toFixed(1)} | ${c.readMs.toFixed(1)} | ${gflops(c.n, kernelMs)} | ${gflops(c.n, c.productMs)} |`,
  );
}

console.log('\n| backend | elements | add + read, ms | GB/s (12 bytes per element) |');
console.log('|---|---:|---:|---:|');
for (const b of bandwidth) {
  console.log(`| ${b.mode} | ${b.elements} | ${b.ms.toFixed(2)} | ${((12 * b.elements) / (b.ms * 1e6)).toFixed(2)} |`);
}

function parseOptions(args: string[]): { sizes: number[]; modes: (Exclude<GpuMode, 'auto'> | 'cpu-device')[]; runs: number } {
  const value = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const sizes = (value('sizes') ?? '128,256,512,1024').split(',').map(Number);
  const modes = (value('modes') ?? 'headlessgl,webasm,cpu,cpu-device').split(',') as (Exclude<GpuMode, 'auto'> | 'cpu-device')[];
  const runs = Number(value('runs') ?? 3);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--sizes must be positive integers, got ${value('sizes')}`);
  if (!Number.isInteger(runs) || runs <= 0) throw new Error(`--runs must be a positive integer, got ${value('runs')}`);
  return { sizes, modes, runs };
}

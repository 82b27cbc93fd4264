/**
 * Trains a small two-block GPT on 'gpu' for many steps inside `tidy` and prints the GPU memory
 * (live buffers and bytes) every 100 steps, to show that training does not grow device memory.
 *
 *   SINGLORA_GPU_MODE=cpu npx tsx examples/gpu-memory.ts [steps]
 *   SINGLORA_GPU_MODE=headlessgl xvfb-run -a npx tsx examples/gpu-memory.ts [steps]
 */
import { Generator, crossEntropy, nn, randint } from '../index.js';
import { getGpuMode, memoryInfo, tidy } from '../gpu/index.js';

const steps = Number(process.argv[2] ?? 1000);
const generator = new Generator(0);
const model = new nn.GPT({ vocabSize: 32, blockSize: 8, dModel: 16, numHeads: 2, numLayers: 2, generator });
model.to('gpu');
const optimizer = new nn.AdamW(model.parameters(), { lr: 1e-3 });
const inputs = randint(0, 32, [4, 8], { generator }).to('gpu');
const targets = randint(0, 32, [4 * 8], { generator }).to('gpu');

console.log(`gpu.js mode: ${getGpuMode()}`);
const started = Date.now();
for (let step = 1; step <= steps; step++) {
  const loss = tidy(() => {
    optimizer.zeroGrad();
    const logits = model.call(inputs).reshape(-1, 32);
    const value = crossEntropy(logits, targets);
    value.backward();
    optimizer.step();
    return value.item();
  });
  if (step === 1 || step % 100 === 0) {
    const { buffers, bytes } = memoryInfo();
    console.log(`step ${String(step).padStart(5)}  loss ${loss.toFixed(4)}  live buffers ${buffers}  bytes ${bytes}  ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

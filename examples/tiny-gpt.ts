/**
 * Trains a character-level GPT on examples/data/tiny.txt with plain SGD and prints a sample.
 *
 *   npx tsx examples/tiny-gpt.ts [steps]
 *
 * The text is under 3 KB, so the model memorises fragments rather than learning English. The
 * point is to watch the loss fall and to see the whole training loop in one page.
 */
import { readFileSync } from 'node:fs';

import { Generator, type Tensor, crossEntropy, nn, noGrad, tensor } from '../index.js';

const steps = Number(process.argv[2] ?? 300);
const batchSize = 16;
const blockSize = 32;
const learningRate = 0.5;

const text = readFileSync(new URL('./data/tiny.txt', import.meta.url), 'utf8');
const vocabulary = [...new Set(text)].sort();
const index = new Map(vocabulary.map((character, i) => [character, i]));
const encoded = Int32Array.from(text, (character) => index.get(character) as number);

const sampler = new Generator(0);

/** Draws random windows of the text as inputs and the same windows shifted by one as targets. */
function sampleBatch(): [Tensor, Tensor] {
  const inputs = new Int32Array(batchSize * blockSize);
  const targets = new Int32Array(batchSize * blockSize);
  for (let b = 0; b < batchSize; b++) {
    const start = sampler.randint(0, encoded.length - blockSize - 1);
    inputs.set(encoded.subarray(start, start + blockSize), b * blockSize);
    targets.set(encoded.subarray(start + 1, start + blockSize + 1), b * blockSize);
  }
  return [tensor(inputs, { shape: [batchSize, blockSize], dtype: 'int32' }), tensor(targets, { dtype: 'int32' })];
}

const model = new nn.GPT({ vocabSize: vocabulary.length, blockSize, dModel: 48, numHeads: 4, numLayers: 2, generator: new Generator(1) });
console.log(String(model));
console.log(`${model.numParameters()} parameters, vocabulary of ${vocabulary.length} characters`);

for (let step = 1; step <= steps; step++) {
  const [inputs, targets] = sampleBatch();
  const loss = crossEntropy(model.call(inputs).reshape([-1, vocabulary.length]), targets);
  model.zeroGrad();
  loss.backward();
  noGrad(() => {
    for (const param of model.parameters()) param.sub_((param.grad as Tensor).mul(learningRate));
  });
  if (step % 25 === 0 || step === 1) console.log(`step ${step}: loss ${loss.item().toFixed(3)}`);
}

const prompt = tensor([[index.get('T') as number]], { dtype: 'int32' });
const sample = model.generate(prompt, 200, { temperature: 0.8, generator: new Generator(2) });
console.log(Array.from(sample.toTypedArray(), (id) => vocabulary[id]).join(''));

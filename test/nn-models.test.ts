import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import fc from 'fast-check';

import { Generator, type Tensor, crossEntropy, gradcheck, noGrad, randn, tensor } from '../index.js';
import { nn } from '../index.js';

function tinyGPT(seed: number, overrides: Partial<nn.GPTConfig> = {}): nn.GPT {
  return new nn.GPT({ vocabSize: 7, blockSize: 6, dModel: 8, numHeads: 2, numLayers: 2, generator: new Generator(seed), ...overrides });
}

function ids(rows: number[][]): Tensor {
  return tensor(rows, { dtype: 'int32' });
}

describe('nn.GPT', () => {
  it('maps (B, T) ids to (B, T, vocab) logits', () => {
    assert.deepEqual(tinyGPT(1).call(ids([[1, 2, 3], [4, 5, 6]])).shape, [2, 3, 7]);
  });

  it('names its parameters like GPT-2', () => {
    const names = tinyGPT(2, { numLayers: 1 }).namedParameters().map(([name]) => name);
    assert.deepEqual(names, [
      'wte.weight',
      'wpe.weight',
      'blocks.0.ln1.weight',
      'blocks.0.ln1.bias',
      'blocks.0.attn.q_proj.weight',
      'blocks.0.attn.q_proj.bias',
      'blocks.0.attn.k_proj.weight',
      'blocks.0.attn.k_proj.bias',
      'blocks.0.attn.v_proj.weight',
      'blocks.0.attn.v_proj.bias',
      'blocks.0.attn.out_proj.weight',
      'blocks.0.attn.out_proj.bias',
      'blocks.0.ln2.weight',
      'blocks.0.ln2.bias',
      'blocks.0.mlp.fc1.weight',
      'blocks.0.mlp.fc1.bias',
      'blocks.0.mlp.fc2.weight',
      'blocks.0.mlp.fc2.bias',
      'ln_f.weight',
      'ln_f.bias',
      'lm_head.weight',
    ]);
  });

  it('rejects sequences longer than blockSize', () => {
    assert.throws(() => tinyGPT(3).call(ids([[0, 1, 2, 3, 4, 5, 6]])), /7 tokens exceeds blockSize 6/);
  });

  it('later tokens do not change earlier logits', () => {
    const model = tinyGPT(4);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 2, maxLength: 6 }), fc.integer({ min: 0, max: 6 }), (tokens, replacement) => {
        const changed = [...tokens];
        changed[changed.length - 1] = replacement;
        const cut = tokens.length - 1;
        const before = model.call(ids([tokens])).slice(1, 0, cut).toTypedArray();
        const after = model.call(ids([changed])).slice(1, 0, cut).toTypedArray();
        assert.deepEqual(after, before);
      }),
      { numRuns: 25 },
    );
  });

  it('a state dict round trip gives identical logits', () => {
    const source = tinyGPT(5);
    const target = tinyGPT(6);
    const input = ids([[1, 0, 6, 3]]);
    target.loadStateDict(source.stateDict());
    assert.deepEqual(target.call(input).toTypedArray(), source.call(input).toTypedArray());
  });

  it('gradcheck of the logits with respect to every parameter', () => {
    const model = new nn.GPT({ vocabSize: 5, blockSize: 4, dModel: 4, numHeads: 2, numLayers: 1, mlpRatio: 2, dtype: 'float64', generator: new Generator(7) });
    const input = ids([[0, 4, 2]]);
    assert.ok(gradcheck(() => model.call(input), model.parameters()));
  });

  it('generate appends tokens, repeats with a seed and restores the mode', () => {
    const model = tinyGPT(8, { dropout: 0.2 });
    const prompt = ids([[1, 2], [3, 4]]);
    const first = model.generate(prompt, 7, { generator: new Generator(9) });
    const second = model.generate(prompt, 7, { generator: new Generator(9) });
    assert.deepEqual(first.shape, [2, 9]);
    assert.deepEqual(first.tolist(), second.tolist());
    assert.deepEqual((first.tolist() as number[][]).map((row) => row.slice(0, 2)), [[1, 2], [3, 4]]);
    assert.ok(Array.from(first.toTypedArray()).every((token) => token >= 0 && token < 7));
    assert.ok(model.training);
  });

  it('generate with temperature 0 picks the most likely token', () => {
    const model = tinyGPT(10);
    const prompt = ids([[5, 1, 2]]);
    const logits = Array.from(model.call(prompt).select(1, -1).toTypedArray());
    const best = logits.indexOf(Math.max(...logits));
    assert.equal(model.generate(prompt, 1, { temperature: 0 }).get(0, 3), best);
  });

  it('SGD on a small text lowers the loss', function () {
    this.timeout(20000);
    const text = readFileSync(new URL('../examples/data/tiny.txt', import.meta.url), 'utf8');
    const vocabulary = [...new Set(text)].sort();
    const index = new Map(vocabulary.map((character, i) => [character, i]));
    const encoded = Int32Array.from(text, (character) => index.get(character) as number);
    const batchSize = 8;
    const blockSize = 16;

    const sampler = new Generator(11);
    const sampleBatch = (): [Tensor, Tensor] => {
      const inputs = new Int32Array(batchSize * blockSize);
      const targets = new Int32Array(batchSize * blockSize);
      for (let b = 0; b < batchSize; b++) {
        const start = sampler.randint(0, encoded.length - blockSize - 1);
        inputs.set(encoded.subarray(start, start + blockSize), b * blockSize);
        targets.set(encoded.subarray(start + 1, start + blockSize + 1), b * blockSize);
      }
      return [tensor(inputs, { shape: [batchSize, blockSize], dtype: 'int32' }), tensor(targets, { dtype: 'int32' })];
    };

    const model = new nn.GPT({ vocabSize: vocabulary.length, blockSize, dModel: 32, numHeads: 2, numLayers: 1, generator: new Generator(12) });
    const loss = (inputs: Tensor, targets: Tensor): Tensor => crossEntropy(model.call(inputs).reshape([-1, vocabulary.length]), targets);
    const heldOut = Array.from({ length: 4 }, sampleBatch);
    const evaluate = (): number => noGrad(() => heldOut.reduce((sum, [x, y]) => sum + loss(x, y).item(), 0) / heldOut.length);

    const initial = evaluate();
    // At initialisation the predictions are near uniform, so the loss is near ln(vocabulary size).
    assert.ok(Math.abs(initial - Math.log(vocabulary.length)) < 0.2, `initial loss ${initial}, ln V = ${Math.log(vocabulary.length)}`);

    const learningRate = 0.5;
    for (let step = 0; step < 30; step++) {
      const [inputs, targets] = sampleBatch();
      model.zeroGrad();
      loss(inputs, targets).backward();
      noGrad(() => {
        for (const param of model.parameters()) param.sub_((param.grad as Tensor).mul(learningRate));
      });
    }
    const final = evaluate();
    assert.ok(final < initial - 0.5, `loss fell only from ${initial.toFixed(3)} to ${final.toFixed(3)}`);
  });
});

describe('nn.ViT', () => {
  it('patchify cuts a 4x4 image into row-major 2x2 patches', () => {
    const image = tensor([Array.from({ length: 4 }, (_, r) => Array.from({ length: 4 }, (_, c) => 4 * r + c))]);
    assert.deepEqual(nn.patchify(image, 2).tolist(), [
      [
        [0, 1, 4, 5],
        [2, 3, 6, 7],
        [8, 9, 12, 13],
        [10, 11, 14, 15],
      ],
    ]);
  });

  it('patchify flattens each patch as (channel, row, column)', () => {
    // The pixel at channel c, row r, column col has the value 100 c + 10 r + col.
    const image = tensor([[0, 1].map((c) => [0, 1].map((r) => [0, 1, 2, 3].map((col) => 100 * c + 10 * r + col)))]);
    assert.deepEqual(nn.patchify(image, 2).tolist(), [
      [
        [0, 1, 10, 11, 100, 101, 110, 111],
        [2, 3, 12, 13, 102, 103, 112, 113],
      ],
    ]);
  });

  it('patchify rejects a patch size that does not divide the image', () => {
    assert.throws(() => nn.patchify(randn([1, 5, 4]), 2), /patchSize 2 must be a positive integer dividing the image height 5/);
  });

  it('maps images to (B, numClasses) logits', () => {
    const model = new nn.ViT({ dModel: 8, numHeads: 2, numLayers: 1, generator: new Generator(13) });
    assert.deepEqual(model.call(randn([3, 28, 28])).shape, [3, 10]);
    assert.deepEqual(model.call(randn([2, 1, 28, 28])).shape, [2, 10]);
    assert.equal(model.numPatches, 16);
  });

  it('rejects images of the wrong size', () => {
    const model = new nn.ViT({ dModel: 8, numHeads: 2, numLayers: 1 });
    assert.throws(() => model.call(randn([1, 27, 28])), /expected images of shape \(B, 1, 28, 28\).*got \[1, 27, 28\]/);
  });

  it('names its parameters', () => {
    const names = new nn.ViT({ dModel: 8, numHeads: 2, numLayers: 1 }).namedParameters().map(([name]) => name);
    assert.deepEqual(names.slice(0, 4), ['cls_token', 'pos_embed', 'patch_embed.weight', 'patch_embed.bias']);
    assert.deepEqual(names.slice(-4), ['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
  });

  it('gradcheck with respect to the images and every parameter', () => {
    const model = new nn.ViT({ imageSize: 4, patchSize: 2, inChannels: 2, dModel: 4, numHeads: 2, numLayers: 1, numClasses: 3, dtype: 'float64', generator: new Generator(14) });
    const images = randn([2, 2, 4, 4], { dtype: 'float64', generator: new Generator(15) }).requiresGrad_();
    assert.ok(gradcheck((x) => model.call(x), [images, ...model.parameters()]));
  });
});

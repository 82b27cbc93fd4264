/**
 * End to end: a small 2-block pre-norm transformer language model, written with ops only,
 * trained for two steps on 'gpu' (float32) and on 'cpu' (float64) from the same weights.
 */
import assert from 'node:assert/strict';

import { Generator, Tensor, gather, indexSelect, linear, noGrad, randint, tensor, where } from '../index.js';
import { dispose, transferCounts } from '../gpu/index.js';
import { describeGpu, expectClose, sample } from './gpu-harness.js';

const VOCAB = 13;
const WIDTH = 16;
const HEADS = 2;
const HEAD_WIDTH = WIDTH / HEADS;
const HIDDEN = 32;
const BLOCKS = 2;
const BATCH = 2;
const LENGTH = 6;

type Params = Record<string, Tensor>;

/** Float32 CPU weights from a fixed seed; each test moves a copy to its device and dtype. */
function initialWeights(): Params {
  let seed = 100;
  const normal = (shape: number[], std: number) => sample(shape, seed++, std);
  const params: Params = {
    embedding: normal([VOCAB, WIDTH], 0.5),
    position: normal([LENGTH, WIDTH], 0.1),
    finalGain: normal([WIDTH], 0.1).add(1),
    finalBias: normal([WIDTH], 0.1),
    output: normal([VOCAB, WIDTH], 0.3),
  };
  for (let b = 0; b < BLOCKS; b++) {
    for (const name of ['query', 'key', 'value', 'projection']) params[`${b}.${name}`] = normal([WIDTH, WIDTH], 0.3);
    params[`${b}.projectionBias`] = normal([WIDTH], 0.1);
    params[`${b}.up`] = normal([HIDDEN, WIDTH], 0.3);
    params[`${b}.upBias`] = normal([HIDDEN], 0.1);
    params[`${b}.down`] = normal([WIDTH, HIDDEN], 0.2);
    params[`${b}.downBias`] = normal([WIDTH], 0.1);
    for (const norm of ['norm1', 'norm2']) {
      params[`${b}.${norm}Gain`] = normal([WIDTH], 0.1).add(1);
      params[`${b}.${norm}Bias`] = normal([WIDTH], 0.1);
    }
  }
  return params;
}

/** Layer norm over the last dim with population variance, as torch.nn.LayerNorm computes it. */
function layerNorm(x: Tensor, gain: Tensor, bias: Tensor): Tensor {
  const centered = x.sub(x.mean(-1, true));
  const variance = centered.square().mean(-1, true);
  return centered.mul(variance.add(1e-5).rsqrt()).mul(gain).add(bias);
}

/** Causal self-attention: each position attends to itself and earlier positions. */
function attention(x: Tensor, p: Params, block: number, futureMask: Tensor): Tensor {
  const heads = (t: Tensor) => t.reshape([BATCH, LENGTH, HEADS, HEAD_WIDTH]).permute([0, 2, 1, 3]);
  const query = heads(linear(x, p[`${block}.query`]));
  const key = heads(linear(x, p[`${block}.key`]));
  const value = heads(linear(x, p[`${block}.value`]));
  const scores = query.matmul(key.transpose(-1, -2)).mul(1 / Math.sqrt(HEAD_WIDTH));
  const weights = where(futureMask, -Infinity, scores).softmax(-1);
  const merged = weights.matmul(value).permute([0, 2, 1, 3]).reshape([BATCH, LENGTH, WIDTH]);
  return linear(merged, p[`${block}.projection`], p[`${block}.projectionBias`]);
}

/** Mean next-token cross-entropy, through logSoftmax and gather. */
function lossOf(p: Params, tokens: Tensor, targets: Tensor, futureMask: Tensor): Tensor {
  let x = indexSelect(p.embedding, 0, tokens).reshape([BATCH, LENGTH, WIDTH]).add(p.position);
  for (let b = 0; b < BLOCKS; b++) {
    x = x.add(attention(layerNorm(x, p[`${b}.norm1Gain`], p[`${b}.norm1Bias`]), p, b, futureMask));
    const hidden = linear(layerNorm(x, p[`${b}.norm2Gain`], p[`${b}.norm2Bias`]), p[`${b}.up`], p[`${b}.upBias`]).gelu();
    x = x.add(linear(hidden, p[`${b}.down`], p[`${b}.downBias`]));
  }
  const logits = linear(layerNorm(x, p.finalGain, p.finalBias), p.output);
  const logProbabilities = logits.logSoftmax(-1).reshape([BATCH * LENGTH, VOCAB]);
  return gather(logProbabilities, 1, targets).mean().neg();
}

/** Runs forward, backward and one SGD update; returns the loss (still on the device). */
function trainingStep(p: Params, tokens: Tensor, targets: Tensor, futureMask: Tensor): Tensor {
  const loss = lossOf(p, tokens, targets, futureMask);
  loss.backward();
  noGrad(() => {
    for (const param of Object.values(p)) param.sub_((param.grad as Tensor).mul(0.1));
  });
  return loss;
}

describeGpu('gpu transformer training step', () => {
  it('two training steps match float64 cpu', () => {
    const generator = new Generator(21);
    const tokens = randint(0, VOCAB, [BATCH * LENGTH], { generator });
    const targets = randint(0, VOCAB, [BATCH * LENGTH, 1], { generator });
    const positions = [...Array(LENGTH).keys()];
    const futureMask = tensor(positions.map((i) => positions.map((j) => j > i)));
    const weights = initialWeights();

    const reference = Object.fromEntries(Object.entries(weights).map(([name, w]) => [name, w.double().requiresGrad_()]));
    const onGpu = Object.fromEntries(Object.entries(weights).map(([name, w]) => [name, w.gpu().requiresGrad_()]));
    const [gpuTokens, gpuTargets, gpuMask] = [tokens.gpu(), targets.gpu(), futureMask.gpu()];

    const readsBefore = transferCounts().readbacks;
    const gpuLosses = [trainingStep(onGpu, gpuTokens, gpuTargets, gpuMask)];
    for (const param of Object.values(onGpu)) param.grad = null;
    gpuLosses.push(trainingStep(onGpu, gpuTokens, gpuTargets, gpuMask));
    // Two forward and backward passes and two updates without reading the device once.
    assert.equal(transferCounts().readbacks - readsBefore, 0);
    for (const [name, param] of Object.entries(onGpu)) {
      assert.equal(param.device, 'gpu', `${name} left the device`);
      assert.equal((param.grad as Tensor).device, 'gpu', `the gradient of ${name} is not on the device`);
    }

    const cpuLosses = [trainingStep(reference, tokens, targets, futureMask)];
    for (const param of Object.values(reference)) param.grad = null;
    cpuLosses.push(trainingStep(reference, tokens, targets, futureMask));

    gpuLosses.forEach((loss, i) => {
      const expected = cpuLosses[i].item();
      const actual = loss.item();
      assert.ok(Math.abs(actual - expected) <= 1e-4 * Math.abs(expected), `step ${i + 1}: gpu loss ${actual}, cpu float64 loss ${expected}`);
    });
    assert.ok(cpuLosses[1].item() < cpuLosses[0].item(), 'the first update should lower the loss');
    for (const name of Object.keys(onGpu)) {
      expectClose(onGpu[name], reference[name], { atol: 1e-4, rtol: 1e-3 }, `${name} after two updates`);
    }
    dispose([...Object.values(onGpu), ...Object.values(onGpu).map((p) => p.grad), gpuTokens, gpuTargets, gpuMask]);
  });
});

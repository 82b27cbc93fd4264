/**
 * The parametrization mechanism (parametrize / removeParametrization) on Linear, on the
 * projections of MultiheadAttention and on Embedding: computed weights, stacking, parameter
 * names, merging on removal, the shape and dtype check, and SingLoRA on an embedding table.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { Generator, type Tensor, linear, noGrad, tensor } from '../index.js';
import {
  LoRA,
  type Parametrization,
  SingLoRA,
  getParametrizations,
  injectAdapters,
  isParametrized,
  parametrize,
  removeParametrization,
} from '../adapters/index.js';
import { DoRA } from '../adapters/dora.js';
import { MultiheadAttention } from '../nn/attention.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import {
  type Matrix,
  fillRandom,
  layerShapeArbitrary,
  matmulPlain,
  maxAbs,
  maxAbsDifference,
  originalWeight,
  randomTensor,
  seedArbitrary,
  toMatrix,
  transposePlain,
} from './adapters-helpers.js';

/** W ↦ W + c: a parametrization with no factored form, so a Linear must materialise it. */
class AddConstant extends Module implements Parametrization {
  constructor(readonly value: number) {
    super();
  }

  forward(weight: Tensor): Tensor {
    return weight.add(this.value);
  }
}

/** W ↦ W^T: changes the shape of a non-square weight. */
class Transpose extends Module implements Parametrization {
  forward(weight: Tensor): Tensor {
    return weight.mT.contiguous();
  }
}

/** W ↦ W in float32: changes the dtype. */
class ToFloat32 extends Module implements Parametrization {
  forward(weight: Tensor): Tensor {
    return weight.float();
  }
}

function linear64(inFeatures: number, outFeatures: number, seed = 0): Linear {
  return new Linear(inFeatures, outFeatures, { dtype: 'float64', generator: new Generator(seed) });
}

function singlora(outFeatures: number, inFeatures: number, seed: number, rank = 2): SingLoRA {
  return new SingLoRA(outFeatures, inFeatures, { rank, dtype: 'float64', generator: new Generator(seed) });
}

function addPlain(a: Matrix, b: Matrix): Matrix {
  return a.map((row, i) => row.map((v, j) => v + b[i][j]));
}

function assertClose(actual: Tensor, expected: Matrix | Tensor, label?: string): void {
  const e = Array.isArray(expected) ? expected : toMatrix(expected);
  const difference = maxAbsDifference(toMatrix(actual), e);
  assert.ok(difference <= 1e-12 * (1 + maxAbs(e)), `${label ?? 'values'} differ by ${difference}`);
}

describe('parametrize on Linear', () => {
  it('computes the weight from the original on every read', () => {
    const layer = linear64(3, 4);
    const original = layer.weight;
    parametrize(layer, 'weight', new AddConstant(1));
    assert.ok(isParametrized(layer));
    assert.ok(isParametrized(layer, 'weight'));
    assert.ok(!isParametrized(layer, 'bias'));
    assert.equal(originalWeight(layer), original);
    assertClose(layer.weight, toMatrix(original).map((row) => row.map((v) => v + 1)));
    noGrad(() => original.fill_(2));
    assertClose(layer.weight, [[3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]);
    assert.throws(() => {
      layer.weight = new Parameter(randomTensor([4, 3], 1));
    }, /is parametrized; assign to parametrizations.weight.original/);
  });

  it('names the original and the adapter parameters', () => {
    const layer = linear64(3, 5);
    parametrize(layer, 'weight', singlora(5, 3, 1));
    assert.deepEqual(layer.namedParameters().map(([name]) => name), ['bias', 'parametrizations.weight.original', 'parametrizations.weight.0.singlora_A']);
    assert.deepEqual(Object.keys(layer.stateDict()), ['bias', 'parametrizations.weight.original', 'parametrizations.weight.0.singlora_A']);
  });

  it('stacks two parametrizations in order', () => {
    const layer = linear64(2, 2);
    const w = toMatrix(layer.weight);
    parametrize(layer, 'weight', new AddConstant(1));
    parametrize(layer, 'weight', singlora(2, 2, 3));
    assert.deepEqual(getParametrizations(layer, 'weight').map((p) => p.constructor.name), ['AddConstant', 'SingLoRA']);
    const adapter = getParametrizations(layer, 'weight')[1] as SingLoRA;
    const a = toMatrix(adapter.singlora_A);
    const expected = addPlain(w.map((row) => row.map((v) => v + 1)), matmulPlain(a, transposePlain(a)));
    assertClose(layer.weight, expected);
    assert.ok(layer.namedParameters().some(([name]) => name === 'parametrizations.weight.1.singlora_A'));

    // AddConstant has no factored form, so the Linear materialises the weight.
    const x = randomTensor([3, 2], 4);
    assertClose(layer.call(x), linear(x, tensor(expected, { dtype: 'float64' }), layer.bias));
  });

  it('chains the factored forms of stacked adapters', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(6), seedArbitrary, (shape, seed) => {
        const layer = linear64(shape.inFeatures, shape.outFeatures, seed);
        const lora = new LoRA(shape.outFeatures, shape.inFeatures, { rank: shape.rank, dtype: 'float64', generator: new Generator(seed + 1) });
        fillRandom(lora.lora_B, seed + 2);
        parametrize(layer, 'weight', lora);
        parametrize(layer, 'weight', singlora(shape.outFeatures, shape.inFeatures, seed + 3, shape.rank));
        const dora = new DoRA(layer.weight.detach(), { rank: shape.rank, generator: new Generator(seed + 4) });
        fillRandom(dora.lora_B, seed + 5);
        parametrize(layer, 'weight', dora);
        const x = randomTensor([3, shape.inFeatures], seed + 6);
        assertClose(layer.call(x), linear(x, layer.weight, layer.bias), 'factored and materialised outputs');
      }),
      { numRuns: 30 },
    );
  });

  it('removing with merge keeps the value in the same Parameter', () => {
    const layer = linear64(3, 4);
    const original = layer.weight;
    parametrize(layer, 'weight', singlora(4, 3, 5));
    const value = layer.weight.detach().clone();
    removeParametrization(layer, 'weight', { merge: true });
    assert.ok(!isParametrized(layer));
    assert.equal(layer.weight, original);
    assert.ok(layer.weight instanceof Parameter);
    assertClose(layer.weight, value);
    assert.deepEqual(layer.namedParameters().map(([name]) => name).sort(), ['bias', 'weight']);
    assert.equal((layer as unknown as { parametrizations?: unknown }).parametrizations, undefined);
    const x = randomTensor([2, 3], 6);
    assertClose(layer.call(x), linear(x, value, layer.bias));
  });

  it('removing without merge restores the original values', () => {
    const layer = linear64(4, 3);
    const original = layer.weight;
    const before = original.clone();
    parametrize(layer, 'weight', new AddConstant(5));
    parametrize(layer, 'weight', singlora(3, 4, 7));
    removeParametrization(layer, 'weight', { merge: false });
    assert.equal(layer.weight, original);
    assert.deepEqual(Array.from(layer.weight.toTypedArray()), Array.from(before.toTypedArray()));
    const x = randomTensor([2, 4], 8);
    assert.deepEqual(layer.call(x).toArray(), linear(x, before, layer.bias).toArray());
  });

  it('rejects a parametrization that changes the shape', () => {
    const layer = linear64(3, 4);
    assert.throws(() => parametrize(layer, 'weight', new Transpose()), /changes 'weight' from \[4, 3\] float64\s+to \[3, 4\] float64/);
    assert.throws(() => parametrize(layer, 'weight', new ToFloat32()), /changes 'weight' from \[4, 3\] float64\s+to \[4, 3\] float32/);
    assert.throws(() => parametrize(layer, 'weight', singlora(3, 4, 1)), /SingLoRA failed on 'weight' of shape \[4, 3\] float64/);
    assert.ok(!isParametrized(layer), 'a rejected parametrization left the module parametrized');
    assert.ok(layer.weight instanceof Parameter);
    assert.deepEqual(layer.namedParameters().map(([name]) => name), ['weight', 'bias']);

    // A rejected parametrization on an already parametrized weight leaves the stack unchanged.
    parametrize(layer, 'weight', new AddConstant(1));
    assert.throws(() => parametrize(layer, 'weight', new Transpose()), /changes 'weight'/);
    assert.equal(getParametrizations(layer, 'weight').length, 1);

    // A square weight keeps its shape under a transpose.
    parametrize(linear64(3, 3), 'weight', new Transpose());
  });

  it('rejects a name that is not a parameter', () => {
    assert.throws(() => parametrize(linear64(2, 2), 'kernel', new AddConstant(1)), /has no parameter 'kernel'/);
    assert.throws(() => removeParametrization(linear64(2, 2), 'weight'), /is not parametrized/);
  });
});

describe('parametrize on MultiheadAttention projections', () => {
  const embedDim = 4;
  const kdim = 6;

  function attention(seed: number): MultiheadAttention {
    return new MultiheadAttention(embedDim, 2, { kdim, vdim: 3, dtype: 'float64', generator: new Generator(seed) });
  }

  function inputs(seed: number): [Tensor, Tensor, Tensor] {
    return [randomTensor([2, 3, embedDim], seed), randomTensor([2, 5, kdim], seed + 1), randomTensor([2, 5, 3], seed + 2)];
  }

  it('adapts every projection, square and non-square', () => {
    const adaptedAttention = attention(1);
    const reference = attention(1);
    const names = ['q_proj', 'k_proj', 'v_proj', 'out_proj'] as const;
    names.forEach((name, i) => {
      const projection = adaptedAttention[name];
      parametrize(projection, 'weight', singlora(projection.outFeatures, projection.inFeatures, 10 + i));
    });
    noGrad(() => names.forEach((name) => reference[name].weight.copy_(adaptedAttention[name].weight)));
    const [q, k, v] = inputs(20);
    const expected = reference.call(q, k, v).output;
    assertClose(adaptedAttention.call(q, k, v).output.reshape([6, embedDim]), expected.reshape([6, embedDim]));

    names.forEach((name) => removeParametrization(adaptedAttention[name], 'weight', { merge: true }));
    assertClose(adaptedAttention.call(q, k, v).output.reshape([6, embedDim]), expected.reshape([6, embedDim]), 'output after merging');
  });

  it('injectAdapters targets projections by name and unload restores them', () => {
    const model = attention(2);
    const [q, k, v] = inputs(30);
    const before = model.call(q, k, v).output;
    const adapted = injectAdapters(model, { method: 'singlora', rank: 2, targets: ['k_proj', 'v_proj'] });
    assert.deepEqual(adapted.report().targetedModules, ['k_proj', 'v_proj']);
    assert.deepEqual(model.namedParameters().filter(([, p]) => p.requiresGrad).map(([name]) => name), [
      'k_proj.parametrizations.weight.0.singlora_A',
      'v_proj.parametrizations.weight.0.singlora_A',
    ]);
    assert.ok(maxAbsDifference(toMatrix(model.call(q, k, v).output.reshape([6, embedDim])), toMatrix(before.reshape([6, embedDim]))) > 1e-6);
    adapted.unload();
    assert.deepEqual(model.call(q, k, v).output.toArray(), before.toArray());
  });
});

describe('SingLoRA on Embedding', () => {
  it('uses the materialised table W0 + ΔW (num x dim)', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(7), seedArbitrary, (shape, seed) => {
        const numEmbeddings = shape.outFeatures;
        const embeddingDim = shape.inFeatures;
        const table = new Embedding(numEmbeddings, embeddingDim, { dtype: 'float64', generator: new Generator(seed) });
        const w0 = toMatrix(table.weight);
        const adapter = singlora(numEmbeddings, embeddingDim, seed + 1, shape.rank);
        parametrize(table, 'weight', adapter);
        assert.deepEqual(adapter.singlora_A.shape, [Math.max(numEmbeddings, embeddingDim), shape.rank]);

        const a = toMatrix(adapter.singlora_A);
        const delta = matmulPlain(a.slice(0, numEmbeddings), transposePlain(a.slice(0, embeddingDim)));
        const weight = addPlain(w0, delta);
        const ids = Array.from({ length: 5 }, (_, i) => (seed + 3 * i) % numEmbeddings);
        const output = table.call(tensor(ids, { dtype: 'int32' }));
        assertClose(output, ids.map((id) => weight[id]));

        // The gradient reaches A through the table.
        output.sum().backward();
        assert.ok(adapter.singlora_A.grad !== null && Array.from(adapter.singlora_A.grad.toTypedArray()).some((g) => g !== 0));

        removeParametrization(table, 'weight', { merge: false });
        assert.ok(table.weight instanceof Parameter);
        assert.deepEqual(toMatrix(table.weight), w0);
      }),
      { numRuns: 25 },
    );
  });

  it('injectAdapters adapts an Embedding and starts at the base table', () => {
    class Model extends Module {
      embed = new Embedding(10, 4, { dtype: 'float64', generator: new Generator(3) });

      forward(ids: Tensor): Tensor {
        return this.embed.call(ids);
      }
    }
    const model = new Model();
    const ids = tensor([1, 7, 7, 0], { dtype: 'int32' });
    const before = model.call(ids).toArray();
    const adapted = injectAdapters(model, { method: 'singlora', rank: 2, targets: ['embed'], rampSteps: 5 });
    assert.deepEqual(model.call(ids).toArray(), before);
    adapted.clock.setStep(5);
    const after = model.call(ids);
    assert.ok(maxAbsDifference(toMatrix(after), before as Matrix) > 1e-6);
    const merged = adapted.mergeAndUnload() as Model;
    assert.ok(merged.embed.weight instanceof Parameter);
    assertClose(merged.call(ids), after);
  });
});

/**
 * The injectAdapters front end and the LoRA, rsLoRA, LoRA+ and DoRA specifics: parameter counts,
 * freezing, target matching, named adapters, enabling and disabling, initial no-op updates,
 * scales, optimizer groups and DoRA's magnitude and row norms.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { type Tensor, linear } from '../index.js';
import { type AdapterMethod, type DoRA, type LoRA, type SingLoRADoRA, injectAdapters, loraPlusParamGroups, matchesTarget } from '../adapters/index.js';
import { factoredRowNorms } from '../adapters/dora.js';
import { ModuleList } from '../nn/containers.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import {
  type Matrix,
  METHODS,
  OneLayer,
  SHAPE_EXAMPLES,
  adapterOf,
  fillRandom,
  layerShapeArbitrary,
  matmulPlain,
  maxAbs,
  maxAbsDifference,
  randomTensor,
  seedArbitrary,
  toMatrix,
  transposePlain,
} from './adapters-helpers.js';

class Attention extends Module {
  q_proj = new Linear(4, 4, { dtype: 'float64' });
  k_proj = new Linear(4, 2, { dtype: 'float64' });
  v_proj = new Linear(4, 2, { dtype: 'float64' });
  out_proj = new Linear(2, 4, { dtype: 'float64' });

  forward(x: Tensor): Tensor {
    return this.out_proj.call(this.v_proj.call(x).add(this.k_proj.call(this.q_proj.call(x))));
  }
}

class Block extends Module {
  attn = new Attention();
  up_proj = new Linear(4, 6, { dtype: 'float64' });
  down_proj = new Linear(6, 4, { dtype: 'float64' });

  forward(x: Tensor): Tensor {
    const h = this.attn.call(x);
    return this.down_proj.call(this.up_proj.call(h).relu()).add(h);
  }
}

/** Two transformer-like blocks: names such as `blocks.0.attn.q_proj` and `blocks.1.up_proj`. */
class TinyNet extends Module {
  blocks = new ModuleList([new Block(), new Block()]);

  forward(x: Tensor): Tensor {
    let h = x;
    for (const block of this.blocks) h = block.call(h);
    return h;
  }
}

function rowNormsPlain(m: Matrix): number[] {
  return m.map((row) => Math.sqrt(row.reduce((sum, v) => sum + v * v, 0)));
}

function assertBitEqual(actual: Tensor, expected: Tensor, label?: string): void {
  assert.deepEqual(Array.from(actual.toTypedArray()), Array.from(expected.toTypedArray()), label);
}

describe('injectAdapters', () => {
  for (const { method, count } of METHODS) {
    it(`${method}: counts trainable parameters`, () => {
      fc.assert(
        fc.property(layerShapeArbitrary(10), seedArbitrary, fc.boolean(), (shape, seed, bias) => {
          const model = new OneLayer(shape, { seed, bias });
          const base = model.numParameters();
          const report = injectAdapters(model, { method, rank: shape.rank, targets: ['layer'] }).report();
          const expected = count(shape);
          assert.equal(report.adapterParameters, expected);
          assert.equal(report.trainableParameters, expected);
          assert.equal(adapterOf(model.layer).numParameters(), expected);
          assert.equal(report.totalParameters, base + expected);
          assert.equal(report.trainableShare, expected / (base + expected));
          assert.deepEqual(report.targetedModules, ['layer']);
          assert.equal(report.method, method);
        }),
        { numRuns: 30, examples: SHAPE_EXAMPLES.map((shape) => [shape, 1, true]) },
      );
    });
  }

  it('SingLoRA uses half the parameters of LoRA on a square layer', () => {
    const lora = injectAdapters(new OneLayer({ inFeatures: 8, outFeatures: 8 }), { method: 'lora', rank: 4, targets: ['layer'] }).report();
    const singlora = injectAdapters(new OneLayer({ inFeatures: 8, outFeatures: 8 }), { method: 'singlora', rank: 4, targets: ['layer'] }).report();
    assert.equal(singlora.adapterParameters * 2, lora.adapterParameters);
  });

  it('freezes the base and trains only the adapter', () => {
    for (const { method } of METHODS) {
      const model = new TinyNet();
      const adapted = injectAdapters(model, { method, rank: 2, targets: ['q_proj'] });
      for (const [name, param] of model.namedParameters()) {
        const isAdapter = /\.parametrizations\.weight\.0\./.test(name);
        assert.equal(param.requiresGrad, isAdapter, `${method}: ${name}`);
      }
      assert.deepEqual(
        adapted.trainableParameters(),
        adapted.namedAdapterParameters().map(([, param]) => param),
      );
    }
  });

  it('matches targets by name suffix', () => {
    const adapted = injectAdapters(new TinyNet(), { method: 'lora', rank: 1, targets: ['q_proj', 'v_proj'] });
    assert.deepEqual(adapted.report().targetedModules.sort(), ['blocks.0.attn.q_proj', 'blocks.0.attn.v_proj', 'blocks.1.attn.q_proj', 'blocks.1.attn.v_proj']);
  });

  it('suffixes match whole name components only', () => {
    assert.ok(matchesTarget('blocks.0.attn.q_proj', ['q_proj']));
    assert.ok(matchesTarget('blocks.0.attn.q_proj', ['attn.q_proj']));
    assert.ok(!matchesTarget('blocks.0.attn.q_proj', ['proj']));
    assert.ok(!matchesTarget('blocks.0.attn.q_proj', ['attn']));
  });

  it('matches a RegExp against the whole name', () => {
    const adapted = injectAdapters(new TinyNet(), { method: 'singlora', rank: 1, targets: [/blocks\.1\..*_proj/] });
    assert.equal(adapted.report().targetedModules.length, 6);
    assert.ok(adapted.report().targetedModules.every((name) => name.startsWith('blocks.1.')));
    assert.ok(!matchesTarget('blocks.0.attn.q_proj', [/q_proj/]));
    assert.ok(matchesTarget('blocks.0.attn.q_proj', [/.*q_proj/g]));
  });

  it('lists adaptable modules for an unknown target', () => {
    const model = new TinyNet();
    assert.throws(
      () => injectAdapters(model, { method: 'lora', rank: 1, targets: ['query'] }),
      (error: Error) => /no module .* matches targets query/.test(error.message) && error.message.includes('blocks.0.attn.q_proj') && error.message.includes('blocks.0.up_proj'),
    );
    assert.ok(model.parameters().every((param) => param.requiresGrad), 'a failed injection froze the model');
  });

  it('rejects invalid configs before changing the model', () => {
    const model = new OneLayer({ inFeatures: 3, outFeatures: 3 });
    assert.throws(() => injectAdapters(model, { method: 'lora', rank: 0, targets: ['layer'] }), /rank must be a positive integer, got 0/);
    assert.throws(() => injectAdapters(model, { method: 'vera' as AdapterMethod, rank: 1, targets: ['layer'] }), /unknown method 'vera'/);
    assert.throws(() => injectAdapters(model, { method: 'lora', rank: 1, targets: [] }), /targets must list/);
    assert.throws(() => injectAdapters(model, { method: 'singlora', rank: 1, targets: ['layer'], rampSteps: 1.5 }), /rampSteps/);
    assert.throws(() => injectAdapters(model, { method: 'lora', rank: 1, targets: ['layer'], dropout: 1 }), /dropout/);
    assert.ok(model.parameters().every((param) => param.requiresGrad), 'a rejected config froze the model');
    assert.ok(model.layer.weight.requiresGrad);
  });
});

describe('named adapters', () => {
  function twoAdapters() {
    const model = new OneLayer({ inFeatures: 3, outFeatures: 5 }, { seed: 2 });
    const frozen = new OneLayer({ inFeatures: 3, outFeatures: 5 }, { seed: 2 });
    const adapted = injectAdapters(model, { method: 'singlora', rank: 2, targets: ['layer'], adapterName: 'first' });
    adapted.addAdapter('second', { method: 'lora', rank: 1, targets: ['layer'] });
    fillRandom((adapterOf(model.layer, 1) as LoRA).lora_B, 3);
    const x = randomTensor([4, 3], 4);
    return { model, frozen, adapted, x };
  }

  it('setAdapter switches the output', () => {
    const { model, frozen, adapted, x } = twoAdapters();
    assert.equal(adapted.activeAdapter, 'second');
    assert.deepEqual(adapted.adapterNames, ['first', 'second']);
    const second = model.call(x);
    adapted.setAdapter('first');
    const first = model.call(x);
    assert.ok(maxAbsDifference(toMatrix(first), toMatrix(second)) > 1e-3, 'switching adapters did not change the output');

    // With 'second' active the output is the base plus the LoRA update alone.
    const lora = adapterOf(model.layer, 1) as LoRA;
    const delta = matmulPlain(toMatrix(lora.lora_B), toMatrix(lora.lora_A));
    const weight = toMatrix(frozen.layer.weight).map((row, i) => row.map((w, j) => w + delta[i][j]));
    const bias = Array.from(frozen.layer.bias!.toTypedArray(), Number);
    const expected = matmulPlain(toMatrix(x), transposePlain(weight)).map((row) => row.map((v, j) => v + bias[j]));
    assert.ok(maxAbsDifference(toMatrix(second), expected) <= 1e-12);
  });

  it('only the active adapter is enabled and trainable', () => {
    const { model, adapted } = twoAdapters();
    adapted.setAdapter('first');
    assert.ok(adapterOf(model.layer, 0).enabled);
    assert.ok(!adapterOf(model.layer, 1).enabled);
    assert.ok(adapterOf(model.layer, 0).parameters().every((p) => p.requiresGrad));
    assert.ok(adapterOf(model.layer, 1).parameters().every((p) => !p.requiresGrad));
    assert.throws(() => adapted.setAdapter('third'), /no adapter named 'third'; adapters: first, second/);
    assert.throws(() => adapted.addAdapter('first', { method: 'lora', rank: 1, targets: ['layer'] }), /already exists/);
  });

  it('disableAdapters gives the base output', () => {
    const { model, frozen, adapted, x } = twoAdapters();
    const adaptedOutput = model.call(x);
    adapted.disableAdapters();
    assertBitEqual(model.call(x), frozen.call(x), 'output with adapters disabled');
    adapted.enableAdapters();
    assertBitEqual(model.call(x), adaptedOutput, 'output after enableAdapters');
    assertBitEqual(adapted.withAdaptersDisabled(() => model.call(x)), frozen.call(x), 'output inside withAdaptersDisabled');
    assertBitEqual(model.call(x), adaptedOutput, 'output after withAdaptersDisabled');
  });

  it('switching or disabling unmerges first', () => {
    const { model, frozen, adapted, x } = twoAdapters();
    model.eval();
    adapted.setAdapter('first');
    const first = model.call(x);
    adapted.setAdapter('second');
    adapted.merge();
    adapted.setAdapter('first');
    assert.ok(!adapted.isMerged);
    assertBitEqual(model.call(x), first, 'output of the first adapter after switching from a merged one');

    adapted.merge();
    adapted.disableAdapters();
    assert.ok(!adapted.isMerged);
    assertBitEqual(model.call(x), frozen.call(x), 'output with adapters disabled after a merge');
  });

  it('a new DoRA adapter starts from the base weight, not from another adapter', () => {
    const { model, frozen, adapted, x } = twoAdapters();
    adapted.addAdapter('third', { method: 'dora', rank: 1, targets: ['layer'] });
    const magnitude = (adapterOf(model.layer, 2) as DoRA).lora_magnitude_vector;
    const expected = rowNormsPlain(toMatrix(frozen.layer.weight));
    assert.ok(maxAbsDifference([Array.from(magnitude.toTypedArray(), Number)], [expected]) <= 1e-12);
    const difference = maxAbsDifference(toMatrix(model.call(x)), toMatrix(frozen.call(x)));
    assert.ok(difference <= 1e-12, `a fresh DoRA adapter changed the output by ${difference}`);
  });
});

describe('LoRA and rsLoRA', () => {
  it('B = 0 at init: output equals the base exactly', () => {
    fc.assert(
      fc.property(fc.constantFrom<AdapterMethod>('lora', 'rslora'), layerShapeArbitrary(8), seedArbitrary, (method, shape, seed) => {
        const frozen = new OneLayer(shape, { seed });
        const model = new OneLayer(shape, { seed });
        injectAdapters(model, { method, rank: shape.rank, targets: ['layer'] });
        const adapter = adapterOf(model.layer) as LoRA;
        assert.ok(Array.from(adapter.lora_B.toTypedArray()).every((v) => v === 0));
        const bound = 1 / Math.sqrt(shape.inFeatures);
        assert.ok(Array.from(adapter.lora_A.toTypedArray()).every((v) => Math.abs(v) <= bound), 'A is outside U(-1/√in, 1/√in)');
        assert.deepEqual(adapter.lora_A.shape, [shape.rank, shape.inFeatures]);
        assert.deepEqual(adapter.lora_B.shape, [shape.outFeatures, shape.rank]);
        const x = randomTensor([3, shape.inFeatures], seed + 1);
        assertBitEqual(model.call(x), frozen.call(x));
      }),
      { numRuns: 30 },
    );
  });

  it('scales by α/r, or α/√r for rsLoRA', () => {
    fc.assert(
      fc.property(fc.boolean(), layerShapeArbitrary(8), seedArbitrary, fc.double({ min: 0.1, max: 16, noNaN: true }), (rs, shape, seed, alpha) => {
        const model = new OneLayer(shape, { seed });
        injectAdapters(model, { method: rs ? 'rslora' : 'lora', rank: shape.rank, alpha, targets: ['layer'] });
        const adapter = adapterOf(model.layer) as LoRA;
        fillRandom(adapter.lora_B, seed + 1);
        const scale = rs ? alpha / Math.sqrt(shape.rank) : alpha / shape.rank;
        const expected = matmulPlain(toMatrix(adapter.lora_B), toMatrix(adapter.lora_A)).map((row) => row.map((v) => scale * v));
        assert.ok(maxAbsDifference(toMatrix(adapter.deltaWeight()), expected) <= 1e-12 * (1 + maxAbs(expected)));
      }),
      { numRuns: 30 },
    );
  });

  it('useRslora works with method lora', () => {
    const model = new OneLayer({ inFeatures: 4, outFeatures: 4 });
    injectAdapters(model, { method: 'lora', rank: 4, alpha: 8, useRslora: true, targets: ['layer'] });
    assert.equal(adapterOf(model.layer).baseScale, 4);
  });
});

describe('LoRA+ parameter groups', () => {
  it('puts every lora_B and 1-D tensor at ratio · lr', () => {
    for (const method of ['lora', 'dora', 'singlora-dora'] as AdapterMethod[]) {
      const model = new TinyNet();
      const adapted = injectAdapters(model, { method, rank: 2, targets: ['q_proj', 'up_proj'] });
      model.blocks.get(0).up_proj.bias!.requiresGrad_(true);
      const [low, high] = loraPlusParamGroups(adapted, { lr: 1e-4, ratio: 20 });
      assert.equal(low.lr, 1e-4);
      assert.ok(Math.abs(high.lr - 2e-3) <= 1e-15);

      const names = new Map(model.namedParameters().map(([name, param]) => [param, name]));
      const highNames = high.params.map((p) => names.get(p)!);
      const lowNames = low.params.map((p) => names.get(p)!);
      for (const [name, param] of model.namedParameters()) {
        if (!param.requiresGrad) {
          assert.ok(!highNames.includes(name), `${method}: frozen ${name} is in the high-rate group`);
          assert.ok(!lowNames.includes(name), `${method}: frozen ${name} is in the low-rate group`);
          continue;
        }
        const expectHigh = name.endsWith('.lora_B') || param.ndim === 1;
        assert.equal(highNames.includes(name), expectHigh, `${method}: ${name}`);
        assert.equal(lowNames.includes(name), !expectHigh, `${method}: ${name}`);
      }
      assert.ok(highNames.includes('blocks.0.up_proj.bias'));
      if (method !== 'singlora-dora') assert.equal(highNames.filter((n) => n.endsWith('.lora_B')).length, 4);
      if (method !== 'lora') assert.equal(highNames.filter((n) => n.endsWith('.lora_magnitude_vector')).length, 4);
    }
  });

  it('rejects a non-positive ratio', () => {
    const adapted = injectAdapters(new OneLayer({ inFeatures: 2, outFeatures: 2 }), { method: 'lora', rank: 1, targets: ['layer'] });
    assert.throws(() => loraPlusParamGroups(adapted, { lr: 1e-3, ratio: 0 }), /ratio > 0/);
  });
});

describe('DoRA', () => {
  for (const method of ['dora', 'singlora-dora'] as const) {
    it(`${method}: init is a no-op with m = ‖W0 rows‖`, () => {
      fc.assert(
        fc.property(layerShapeArbitrary(8), seedArbitrary, (shape, seed) => {
          const frozen = new OneLayer(shape, { seed });
          const model = new OneLayer(shape, { seed });
          injectAdapters(model, { method, rank: shape.rank, targets: ['layer'], rampSteps: 10 });
          const adapter = adapterOf(model.layer) as DoRA | SingLoRADoRA;
          const magnitude = Array.from(adapter.lora_magnitude_vector.toTypedArray(), Number);
          assert.equal(magnitude.length, shape.outFeatures);
          const expected = rowNormsPlain(toMatrix(frozen.layer.weight));
          assert.ok(maxAbsDifference([magnitude], [expected]) <= 1e-12, 'm is not the norm over the input axis of W0');

          const x = randomTensor([3, shape.inFeatures], seed + 1);
          const base = toMatrix(frozen.call(x));
          assert.ok(maxAbsDifference(toMatrix(model.call(x)), base) <= 1e-12 * (1 + maxAbs(base)), 'factored output differs from the base');
          const materialised = toMatrix(linear(x, model.layer.weight, model.layer.bias));
          assert.ok(maxAbsDifference(materialised, base) <= 1e-12 * (1 + maxAbs(base)), 'materialised output differs from the base');
        }),
        { numRuns: 25, examples: SHAPE_EXAMPLES.map((shape) => [shape, 1]) },
      );
    });
  }

  it('factoredRowNorms equals the direct row norm of W0 + s P Q^T', () => {
    fc.assert(
      fc.property(layerShapeArbitrary(8), seedArbitrary, fc.double({ min: -3, max: 3, noNaN: true }), (shape, seed, scale) => {
        const w0 = randomTensor([shape.outFeatures, shape.inFeatures], seed);
        const p = randomTensor([shape.outFeatures, shape.rank], seed + 1);
        const q = randomTensor([shape.inFeatures, shape.rank], seed + 2);
        const delta = matmulPlain(toMatrix(p), transposePlain(toMatrix(q)));
        const v = toMatrix(w0).map((row, i) => row.map((w, j) => w + scale * delta[i][j]));
        const expected = rowNormsPlain(v);
        const actual = Array.from(factoredRowNorms(w0, { p, q, scale }).toTypedArray(), Number);
        assert.ok(maxAbsDifference([actual], [expected]) <= 1e-10 * (1 + Math.max(...expected)));
      }),
      { numRuns: 40 },
    );
  });
});

/**
 * Saving and loading adapters: a round trip into a fresh copy of the base model, the restored
 * SingLoRA step, and clear errors for corrupt or mismatched folders. A Python (numpy) script
 * then rebuilds the adapted layer from the saved PEFT-style keys without using this library.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type Tensor } from '../index.js';
import { type AdapterMethod, injectAdapters, isParametrized } from '../adapters/index.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, loadAdapter, saveAdapter } from '../io/adapter-files.js';
import { saveTensors } from '../io/checkpoint.js';
import { type LayerShape, METHODS, OneLayer, adapterOf, fillRandom, originalWeight, randomTensor } from './adapters-helpers.js';

const CHECK_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'python', 'check_adapter.py');

/** Builds an adapted model whose adapter values are all random, at step 3 of a 4-step ramp. */
function trainedModel(method: AdapterMethod, shape: LayerShape, seed: number, dtype: 'float32' | 'float64' = 'float64') {
  const model = new OneLayer(shape, { seed, dtype });
  const adapted = injectAdapters(model, { method, rank: shape.rank, alpha: 3, targets: ['layer'], rampSteps: 4 });
  adapted.clock.setStep(3);
  adapterOf(model.layer)
    .parameters()
    .forEach((param, i) => fillRandom(param, seed + 10 + i, param.ndim === 1 ? 0.2 : 0.5));
  return { model, adapted };
}

function values(t: Tensor): number[] {
  return Array.from(t.toTypedArray(), Number);
}

describe('saveAdapter and loadAdapter', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'singlora-adapter-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  for (const { method } of METHODS) {
    it(`${method}: round trip gives identical outputs`, async () => {
      const shape = { inFeatures: 3, outFeatures: 5, rank: 2 };
      const { model, adapted } = trainedModel(method, shape, 1);
      const x = randomTensor([4, 3], 2);
      const expected = model.call(x);
      await saveAdapter(adapted, directory);

      const fresh = new OneLayer(shape, { seed: 1 });
      const loaded = await loadAdapter(fresh, directory);
      assert.equal(loaded.clock.step, 3, 'the SingLoRA step was not restored');
      assert.equal(loaded.config().method, method);
      assert.deepEqual(values(fresh.call(x)), values(expected));
      assert.ok(isParametrized(fresh.layer));
      assert.ok(!originalWeight(fresh.layer).requiresGrad, 'the loaded base weight is trainable');
    });
  }

  it('writes PEFT field names and keys', async () => {
    const { adapted } = trainedModel('dora', { inFeatures: 4, outFeatures: 2, rank: 2 }, 3);
    await saveAdapter(adapted, directory);
    const config = JSON.parse(await readFile(join(directory, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    assert.equal(config.peft_type, 'LORA');
    assert.equal(config.r, 2);
    assert.equal(config.lora_alpha, 3);
    assert.equal(config.use_dora, true);
    assert.deepEqual(config.target_modules, ['layer']);
    const header = await readHeader(join(directory, ADAPTER_WEIGHTS_FILE));
    assert.deepEqual(Object.keys(header).filter((key) => key !== '__metadata__').sort(), [
      'base_model.model.layer.lora_A.weight',
      'base_model.model.layer.lora_B.weight',
      'base_model.model.layer.lora_magnitude_vector',
    ]);
  });

  it('loads into an existing AdaptedModel under a new name', async () => {
    const shape = { inFeatures: 4, outFeatures: 4, rank: 2 };
    const { model, adapted } = trainedModel('singlora', shape, 4);
    const x = randomTensor([2, 4], 5);
    const expected = values(model.call(x));
    await saveAdapter(adapted, directory);

    const fresh = new OneLayer(shape, { seed: 4 });
    const target = injectAdapters(fresh, { method: 'lora', rank: 1, targets: ['layer'], adapterName: 'other' });
    const loaded = await loadAdapter(target, directory, 'restored');
    assert.equal(loaded, target);
    assert.deepEqual(target.adapterNames, ['other', 'restored']);
    assert.equal(target.activeAdapter, 'restored');
    assert.deepEqual(values(fresh.call(x)), expected);
  });

  it('rejects a missing config with the path', async () => {
    await assert.rejects(loadAdapter(new OneLayer({ inFeatures: 2, outFeatures: 2 }), directory), /cannot read .*adapter_config\.json.*as written by saveAdapter/);
  });

  it('rejects an invalid config field', async () => {
    const { adapted } = trainedModel('lora', { inFeatures: 2, outFeatures: 3, rank: 1 }, 6);
    await saveAdapter(adapted, directory);
    const path = join(directory, ADAPTER_CONFIG_FILE);
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...config, r: 0 }));
    await assert.rejects(loadAdapter(new OneLayer({ inFeatures: 2, outFeatures: 3 }), directory), /'r' must be a positive integer, got 0/);
  });

  it('rejects a corrupt weights file and leaves the model unchanged', async () => {
    const shape = { inFeatures: 3, outFeatures: 2, rank: 1 };
    const { adapted } = trainedModel('singlora', shape, 7);
    await saveAdapter(adapted, directory);
    const path = join(directory, ADAPTER_WEIGHTS_FILE);
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 5));

    const fresh = new OneLayer(shape, { seed: 7 });
    await assert.rejects(loadAdapter(fresh, directory), (error: Error) => error.message.includes(path));
    assertUntouched(fresh);
  });

  it('rejects an adapter saved for another shape and leaves the model unchanged', async () => {
    const { adapted } = trainedModel('lora', { inFeatures: 3, outFeatures: 2, rank: 1 }, 8);
    await saveAdapter(adapted, directory);
    const other = new OneLayer({ inFeatures: 4, outFeatures: 2 }, { seed: 8 });
    await assert.rejects(
      loadAdapter(other, directory),
      /mis-shaped keys: base_model\.model\.layer\.lora_A\.weight: expected \[1, 4\], got \[1, 3\][\s\S]*same model architecture/,
    );
    assertUntouched(other);
  });

  it('rejects an adapter whose target is not in the model', async () => {
    const { adapted } = trainedModel('singlora', { inFeatures: 3, outFeatures: 2, rank: 1 }, 9);
    await saveAdapter(adapted, directory);
    const path = join(directory, ADAPTER_CONFIG_FILE);
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...config, target_modules: ['encoder.layer'] }));
    await assert.rejects(loadAdapter(new OneLayer({ inFeatures: 3, outFeatures: 2 }), directory), /no module with a 2-D weight matches targets .*layer.*; modules that can be adapted: layer/);
  });

  it('rejects an adapter with a key the model lacks', async () => {
    const shape = { inFeatures: 3, outFeatures: 2, rank: 1 };
    const { adapted } = trainedModel('lora', shape, 10);
    await saveAdapter(adapted, directory);
    const path = join(directory, ADAPTER_CONFIG_FILE);
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...config, use_dora: true, method: 'dora' }));
    await assert.rejects(loadAdapter(new OneLayer(shape), directory), /missing keys: base_model\.model\.layer\.lora_magnitude_vector/);
  });
});

/** Asserts that a failed load left the model a plain, trainable Linear. */
function assertUntouched(model: OneLayer): void {
  assert.ok(!isParametrized(model.layer), 'a failed load left an adapter on the model');
  assert.deepEqual(model.namedParameters().map(([name]) => name).sort(), ['layer.bias', 'layer.weight']);
  assert.ok(model.parameters().every((param) => param.requiresGrad), 'a failed load froze the model');
}

async function readHeader(path: string): Promise<Record<string, unknown>> {
  const bytes = await readFile(path);
  const length = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>;
}

// ---- Python interop --------------------------------------------------------------------------

/** True when `python3 -c 'import numpy'` succeeds. */
function pythonWithNumpy(): boolean {
  const result = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return result.status === 0;
}

describe('adapter files read from Python', () => {
  let root: string;

  before(async function () {
    if (!pythonWithNumpy()) {
      const message = 'python3 with numpy is not available (on Debian: apt-get install -y python3-numpy)';
      if (process.env.CI) throw new Error(`${message}; CI must run the Python interop test`);
      console.log(`    skipping the Python interop test: ${message}`);
      this.skip();
    }
    root = await mkdtemp(join(tmpdir(), 'singlora-python-'));
  });

  after(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('numpy rebuilds the adapted output from the PEFT keys', async () => {
    const cases: { method: AdapterMethod; shape: LayerShape; dtype: 'float32' | 'float64' }[] = [];
    for (const method of ['lora', 'rslora', 'singlora', 'dora', 'singlora-dora'] as AdapterMethod[]) {
      cases.push({ method, shape: { inFeatures: 3, outFeatures: 6, rank: 2 }, dtype: 'float64' });
      cases.push({ method, shape: { inFeatures: 7, outFeatures: 4, rank: 3 }, dtype: 'float64' });
    }
    cases.push({ method: 'singlora', shape: { inFeatures: 5, outFeatures: 2, rank: 2 }, dtype: 'float32' });
    cases.push({ method: 'lora', shape: { inFeatures: 2, outFeatures: 5, rank: 2 }, dtype: 'float32' });

    const directories: string[] = [];
    for (const [i, { method, shape, dtype }] of cases.entries()) {
      const { model, adapted } = trainedModel(method, shape, 20 + i, dtype);
      const x = randomTensor([3, shape.inFeatures], 40 + i, { dtype });
      const y = model.call(x);
      const caseDirectory = join(root, `${i}-${method}-${shape.outFeatures}x${shape.inFeatures}-${dtype}`);
      await saveAdapter(adapted, caseDirectory);
      const reference = { weight: originalWeight(model.layer), bias: model.layer.bias!, x, y };
      await saveTensors(join(caseDirectory, 'reference.safetensors'), reference);
      directories.push(caseDirectory);
    }

    const result = spawnSync('python3', [CHECK_SCRIPT, ...directories], { encoding: 'utf8' });
    const output = `${result.stdout}${result.stderr}`;
    assert.equal(result.status, 0, `check_adapter.py exited with ${result.status}:\n${output}`);
    assert.equal(output.match(/^ok: /gm)?.length, cases.length, output);
  });
});

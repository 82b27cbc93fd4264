import assert from 'node:assert/strict';

import { Generator, type Tensor, noGrad, randn, tensor, zeros } from '../index.js';
import { nn } from '../index.js';

const { Linear, Module, ModuleDict, ModuleList, Parameter, Sequential, StateDictError, Tanh } = nn;

/** Holds one parametrization's stored tensor the way an adapter registers it. */
class ParametrizationHolder extends Module {
  original: InstanceType<typeof Parameter>;

  constructor(original: InstanceType<typeof Parameter>) {
    super();
    this.original = original;
  }

  forward(input: Tensor): Tensor {
    return input;
  }
}

class TwoLayer extends Module {
  encoder: InstanceType<typeof Linear>;
  layers: InstanceType<typeof ModuleList>;
  scale: InstanceType<typeof Parameter>;

  constructor(generator = new Generator(0)) {
    super();
    this.encoder = new Linear(3, 4, { generator });
    this.layers = new ModuleList([new Linear(4, 4, { generator }), new Linear(4, 2, { bias: false, generator })]);
    this.scale = new Parameter(randn([2], { generator }));
  }

  forward(input: Tensor): Tensor {
    let x = this.encoder.call(input);
    for (const layer of this.layers) x = layer.call(x).tanh();
    return x.mul(this.scale);
  }
}

function assertClose(actual: Tensor, expected: Tensor, tolerance = 1e-12): void {
  assert.deepEqual(actual.shape, expected.shape);
  const a = actual.toTypedArray();
  const e = expected.toTypedArray();
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - e[i]) <= tolerance, `element ${i}: ${a[i]} vs ${e[i]}`);
  }
}

describe('nn.Module discovery', () => {
  it('namedParameters gives dotted names in registration order', () => {
    const model = new TwoLayer();
    assert.deepEqual(
      model.namedParameters().map(([name]) => name),
      ['scale', 'encoder.weight', 'encoder.bias', 'layers.0.weight', 'layers.0.bias', 'layers.1.weight'],
    );
  });

  it('namedParameters with recurse false lists own parameters only', () => {
    assert.deepEqual(new TwoLayer().namedParameters('', false).map(([name]) => name), ['scale']);
  });

  it('namedParameters applies the prefix', () => {
    assert.deepEqual(new Linear(2, 2).namedParameters('head').map(([name]) => name), ['head.weight', 'head.bias']);
  });

  it('namedModules walks depth first with paths', () => {
    const model = new TwoLayer();
    assert.deepEqual(model.namedModules().map(([name]) => name), ['', 'encoder', 'layers', 'layers.0', 'layers.1']);
    assert.equal(model.modules().length, 5);
    assert.deepEqual(model.namedChildren().map(([name]) => name), ['encoder', 'layers']);
  });

  it('null members and plain tensors are not parameters', () => {
    const layer = new Linear(3, 2, { bias: false });
    (layer as unknown as { cache: Tensor }).cache = zeros([2]);
    assert.deepEqual(layer.namedParameters().map(([name]) => name), ['weight']);
  });

  it('a shared parameter is listed once', () => {
    const model = new Sequential(new Linear(2, 2), new Linear(2, 2));
    const first = model.get(0) as InstanceType<typeof Linear>;
    const second = model.get(1) as InstanceType<typeof Linear>;
    second.weight = first.weight;
    assert.deepEqual(model.namedParameters().map(([name]) => name), ['0.weight', '0.bias', '1.bias']);
    assert.deepEqual(Object.keys(model.stateDict()), ['0.weight', '0.bias', '1.weight', '1.bias']);
  });

  it('getter properties are skipped and parametrization originals are found', () => {
    const layer = new Linear(3, 2, { generator: new Generator(1) });
    const original = layer.weight;
    layer.registerModule('parametrizations', new ModuleDict({ weight: new ParametrizationHolder(original) }));
    Object.defineProperty(layer, 'weight', { get: () => original.mul(2), enumerable: true, configurable: true });

    assert.deepEqual(layer.namedParameters().map(([name]) => name), ['bias', 'parametrizations.weight.original']);
    const x = randn([4, 3], { generator: new Generator(2) });
    const expected = x.matmul(original.mul(2).T).add(layer.bias as Tensor);
    assertClose(layer.call(x), expected, 1e-6);
  });

  it('a getter returning a Parameter is still skipped', () => {
    const layer = new Linear(3, 2);
    const original = layer.weight;
    Object.defineProperty(layer, 'weight', { get: () => original, enumerable: true, configurable: true });
    assert.deepEqual(layer.namedParameters().map(([name]) => name), ['bias']);
  });

  it('registerModule rejects names that hide members', () => {
    const layer = new Linear(2, 2);
    assert.throws(() => layer.registerModule('train', new Linear(1, 1)), /would hide the method or property 'train' of Linear/);
    assert.throws(() => layer.registerModule('training', new Linear(1, 1)), /already has a property 'training'/);
  });

  it('getSubmodule follows dotted paths', () => {
    const model = new TwoLayer();
    assert.equal(model.getSubmodule('layers.1'), model.layers.get(1));
    assert.equal(model.getSubmodule(''), model);
  });

  it('getSubmodule names the missing child and lists the children', () => {
    assert.throws(() => new TwoLayer().getSubmodule('layers.7.weight'), /'layers' \(ModuleList\) has no submodule '7'.*children are 0, 1/);
  });

  it('setSubmodule replaces a child in place of the old one', () => {
    const model = new TwoLayer();
    const replacement = new Linear(4, 4);
    model.setSubmodule('layers.0', replacement);
    assert.equal(model.layers.get(0), replacement);
    assert.deepEqual(model.namedParameters().map(([name]) => name)[3], 'layers.0.weight');
    assert.equal(model.getParameter('layers.0.weight'), replacement.weight);
  });

  it('getParameter lists the parameters it has', () => {
    assert.throws(() => new TwoLayer().getParameter('encoder.gain'), /no parameter 'gain'.*weight, bias/);
  });
});

describe('nn.Module buffers', () => {
  class Counter extends Module {
    declare steps: Tensor;
    declare mask: Tensor;
    declare running: Tensor;

    constructor() {
      super();
      this.registerBuffer('steps', tensor([0], { dtype: 'int32' }));
      this.registerBuffer('running', zeros([3]));
      this.registerBuffer('mask', tensor([true, false]), false);
    }

    forward(input: Tensor): Tensor {
      return input;
    }
  }

  it('namedBuffers lists persistent and non-persistent buffers', () => {
    assert.deepEqual(new Counter().namedBuffers().map(([name]) => name), ['steps', 'running', 'mask']);
  });

  it('stateDict keeps only persistent buffers', () => {
    assert.deepEqual(Object.keys(new Counter().stateDict()), ['steps', 'running']);
  });

  it('buffers are not parameters', () => {
    assert.equal(new Counter().parameters().length, 0);
  });

  it('assigning the property replaces the buffer', () => {
    const counter = new Counter();
    const replacement = tensor([7], { dtype: 'int32' });
    counter.steps = replacement;
    assert.equal(counter.buffers()[0], replacement);
  });

  it('registerBuffer rejects a name that is taken', () => {
    const layer = new Linear(2, 2);
    assert.throws(() => layer.registerBuffer('weight', zeros([1])), /already has a property 'weight'/);
  });

  it('to(dtype) converts floating buffers only', () => {
    const counter = new Counter();
    const running = counter.running;
    counter.to('float64');
    assert.equal(counter.running, running);
    assert.equal(running.dtype, 'float64');
    assert.equal(counter.steps.dtype, 'int32');
    assert.equal(counter.mask.dtype, 'bool');
  });
});

describe('nn.Module modes and bulk changes', () => {
  it('train and eval reach every descendant', () => {
    const model = new TwoLayer();
    model.eval();
    assert.ok(model.modules().every((module) => !module.training));
    model.train();
    assert.ok(model.modules().every((module) => module.training));
  });

  it('Dropout zeroes and rescales in training and passes through in eval', () => {
    const dropout = new nn.Dropout(0.25, { generator: new Generator(4) });
    const x = randn([2000], { generator: new Generator(5) });
    const trained = dropout.call(x).toTypedArray();
    const input = x.toTypedArray();
    let zeroed = 0;
    for (let i = 0; i < input.length; i++) {
      if (trained[i] === 0) zeroed++;
      else assert.ok(Math.abs(trained[i] - input[i] / 0.75) < 1e-6, `kept element ${i} must be scaled by 1/(1-p)`);
    }
    assert.ok(Math.abs(zeroed / input.length - 0.25) < 0.03, `dropped fraction ${zeroed / input.length}`);

    dropout.eval();
    assert.deepEqual(dropout.call(x).toTypedArray(), x.toTypedArray());
  });

  it('to(dtype) keeps parameter identity and converts grads', () => {
    const layer = new Linear(3, 2);
    const weight = layer.weight;
    layer.call(randn([1, 3])).sum().backward();
    layer.to('float64');
    assert.equal(layer.weight, weight);
    assert.equal(weight.dtype, 'float64');
    assert.equal(weight.grad?.dtype, 'float64');
    assert.ok(weight.requiresGrad);
    assert.equal(layer.call(randn([1, 3], { dtype: 'float64' })).dtype, 'float64');
  });

  it('to rejects integer dtypes', () => {
    assert.throws(() => new Linear(2, 2).to('int32'), /floating dtype/);
  });

  it('requiresGrad_ freezes and numParameters counts trainable ones', () => {
    const model = new TwoLayer();
    assert.equal(model.numParameters(), 2 + 12 + 4 + 16 + 4 + 8);
    model.encoder.requiresGrad_(false);
    assert.equal(model.numParameters({ trainableOnly: true }), 2 + 16 + 4 + 8);
  });

  it('zeroGrad sets every grad to null', () => {
    const model = new TwoLayer();
    model.call(randn([2, 3])).sum().backward();
    assert.ok(model.parameters().every((param) => param.grad !== null));
    model.zeroGrad();
    assert.ok(model.parameters().every((param) => param.grad === null));
  });

  it('apply visits children before parents', () => {
    const visited: string[] = [];
    new TwoLayer().apply((module) => visited.push(module.constructor.name));
    assert.deepEqual(visited, ['Linear', 'Linear', 'Linear', 'ModuleList', 'TwoLayer']);
  });
});

describe('nn.Module hooks', () => {
  it('a forward pre-hook can replace the arguments', () => {
    const layer = new Linear(2, 2);
    const x = randn([1, 2]);
    const handle = layer.registerForwardPreHook(() => [x.mul(0)]);
    assertClose(layer.call(x), layer.forward(zeros([1, 2])));
    handle.remove();
    assertClose(layer.call(x), layer.forward(x));
  });

  it('a forward hook sees the output and can replace it', () => {
    const layer = new Linear(2, 2);
    const seen: unknown[] = [];
    const observe = layer.registerForwardHook((_module, args, output) => void seen.push(args.length, output));
    const replace = layer.registerForwardHook((_module, _args, output) => (output as Tensor).mul(3));
    const x = randn([1, 2]);
    const output = layer.call(x);
    assertClose(output, layer.forward(x).mul(3));
    assert.equal(seen[0], 1);
    observe.remove();
    replace.remove();
    assertClose(layer.call(x), layer.forward(x));
  });
});

describe('nn.Module state dict', () => {
  it('stateDict is detached and ordered like namedParameters', () => {
    const model = new TwoLayer();
    const state = model.stateDict();
    assert.deepEqual(Object.keys(state), ['scale', 'encoder.weight', 'encoder.bias', 'layers.0.weight', 'layers.0.bias', 'layers.1.weight']);
    assert.ok(Object.values(state).every((t) => !t.requiresGrad));
  });

  it('a round trip into a fresh model gives identical outputs', () => {
    const source = new TwoLayer(new Generator(1));
    const target = new TwoLayer(new Generator(2));
    const x = randn([5, 3], { generator: new Generator(3) });
    assert.notDeepEqual(target.call(x).toTypedArray(), source.call(x).toTypedArray());

    const result = target.loadStateDict(source.stateDict());
    assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
    assert.deepEqual(target.call(x).toTypedArray(), source.call(x).toTypedArray());
  });

  it('loading copies values and keeps the parameter objects', () => {
    const source = new TwoLayer(new Generator(1));
    const target = new TwoLayer(new Generator(2));
    const weight = target.encoder.weight;
    target.loadStateDict(source.stateDict());
    assert.equal(target.encoder.weight, weight);
    assert.ok(weight.requiresGrad);
    noGrad(() => source.encoder.weight.fill_(9));
    assert.notEqual(weight.toTypedArray()[0], 9, 'the target must own a copy, not share storage with the source');
  });

  it('strict loading lists missing, unexpected and mis-shaped keys', () => {
    const model = new TwoLayer(new Generator(1));
    const before = model.stateDict();
    const beforeValues = Object.fromEntries(Object.entries(before).map(([k, t]) => [k, Array.from(t.toTypedArray())]));
    const state: Record<string, Tensor> = { ...new TwoLayer(new Generator(2)).stateDict() };
    delete state['layers.0.bias'];
    state['layers.2.weight'] = zeros([1]);
    state['encoder.weight'] = zeros([3, 4]);

    let caught: unknown;
    try {
      model.loadStateDict(state);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof StateDictError);
    assert.deepEqual(caught.missingKeys, ['layers.0.bias']);
    assert.deepEqual(caught.unexpectedKeys, ['layers.2.weight']);
    assert.deepEqual(caught.mismatchedKeys, [{ key: 'encoder.weight', expected: [4, 3], got: [3, 4] }]);
    assert.match(caught.message, /missing keys \(1\): layers\.0\.bias/);
    assert.match(caught.message, /unexpected keys \(1\): layers\.2\.weight/);
    assert.match(caught.message, /encoder\.weight: expected \[4, 3\], got \[3, 4\]/);

    const after = model.stateDict();
    for (const [key, values] of Object.entries(beforeValues)) {
      assert.deepEqual(Array.from(after[key].toTypedArray()), values, `${key} changed although the load failed`);
    }
  });

  it('non-strict loading returns the key differences and copies the rest', () => {
    const model = new TwoLayer(new Generator(1));
    const source = new TwoLayer(new Generator(2));
    const state: Record<string, Tensor> = { ...source.stateDict(), extra: zeros([1]) };
    delete state.scale;
    const result = model.loadStateDict(state, { strict: false });
    assert.deepEqual(result, { missingKeys: ['scale'], unexpectedKeys: ['extra'] });
    assert.deepEqual(model.encoder.weight.toTypedArray(), source.encoder.weight.toTypedArray());
    assert.notDeepEqual(model.scale.toTypedArray(), source.scale.toTypedArray());
  });

  it('non-strict loading still rejects mis-shaped keys', () => {
    const state = { ...new TwoLayer().stateDict(), scale: zeros([3]) };
    assert.throws(() => new TwoLayer().loadStateDict(state, { strict: false }), /scale: expected \[2\], got \[3\]/);
  });

  it('loading casts values to the parameter dtype', () => {
    const model = new TwoLayer(new Generator(1)).double();
    const source = new TwoLayer(new Generator(2));
    model.loadStateDict(source.stateDict());
    assert.equal(model.encoder.weight.dtype, 'float64');
    assert.ok(Math.abs(model.encoder.weight.toTypedArray()[0] - source.encoder.weight.toTypedArray()[0]) < 1e-12);
  });
});

describe('nn containers', () => {
  it('Sequential chains its modules', () => {
    const generator = new Generator(6);
    const first = new Linear(3, 4, { generator });
    const second = new Linear(4, 2, { generator });
    const model = new Sequential(first, new Tanh(), second);
    const x = randn([2, 3], { generator });
    assertClose(model.call(x), second.forward(first.forward(x).tanh()));
    assert.deepEqual(model.namedParameters().map(([name]) => name), ['0.weight', '0.bias', '2.weight', '2.bias']);
  });

  it('ModuleList indexes, appends and iterates', () => {
    const list = new ModuleList([new Linear(1, 1), new Linear(1, 2)]);
    const third = new Linear(2, 3);
    list.append(third);
    assert.equal(list.length, 3);
    assert.equal(list.get(-1), third);
    assert.deepEqual([...list].map((layer) => layer.outFeatures), [1, 2, 3]);
    assert.deepEqual(list.namedParameters().map(([name]) => name).slice(-2), ['2.weight', '2.bias']);
    assert.throws(() => list.get(3), /index 3 is out of range for 3 modules/);
  });

  it('ModuleDict keeps insertion order for integer-like keys', () => {
    const dict = new ModuleDict({ b: new Linear(1, 1, { bias: false }) });
    dict.set('10', new Linear(1, 1, { bias: false }));
    dict.set('a', new Linear(1, 1, { bias: false }));
    assert.deepEqual(dict.keys(), ['b', '10', 'a']);
    assert.deepEqual(dict.namedParameters().map(([name]) => name), ['b.weight', '10.weight', 'a.weight']);
    assert.ok(dict.delete('10'));
    assert.deepEqual(dict.namedParameters().map(([name]) => name), ['b.weight', 'a.weight']);
  });

  it('ModuleDict rejects keys that shadow its methods', () => {
    assert.throws(() => new ModuleDict({ get: new Linear(1, 1) }), /would shadow the property 'get'/);
  });

  it('containers without forward say so', () => {
    assert.throws(() => new ModuleList().call(), /ModuleList has no forward/);
  });
});

describe('nn.Module toString', () => {
  it('prints a leaf on one line', () => {
    assert.equal(String(new Linear(4, 2)), 'Linear(in_features=4, out_features=2, bias=true)');
  });

  it('prints nested modules as an indented tree', () => {
    const model = new Sequential(new Linear(4, 2, { bias: false }), new Sequential(new nn.ReLU()));
    assert.equal(
      String(model),
      ['Sequential(', '  (0): Linear(in_features=4, out_features=2, bias=false)', '  (1): Sequential(', '    (0): ReLU()', '  )', ')'].join('\n'),
    );
  });
});

import assert from 'node:assert/strict';

import { Generator, type Tensor, gradcheck, randn, tensor } from '../index.js';
import { nn } from '../index.js';

/** Draws a float64 input that requires grad from a fixed seed. */
function input(shape: number[], seed: number): Tensor {
  return randn(shape, { dtype: 'float64', generator: new Generator(seed) }).requiresGrad_();
}

/** Gradchecks `module` with respect to its input and every parameter at once. */
function checkModule(module: nn.Module, x: Tensor): void {
  assert.ok(gradcheck((value) => module.call(value) as Tensor, [x, ...module.parameters()]));
}

describe('nn layer gradients (float64 gradcheck)', () => {
  it('Linear with bias', () => {
    checkModule(new nn.Linear(3, 2, { dtype: 'float64', generator: new Generator(1) }), input([4, 3], 2));
  });

  it('Linear without bias on 3-D input', () => {
    checkModule(new nn.Linear(3, 2, { bias: false, dtype: 'float64', generator: new Generator(3) }), input([2, 2, 3], 4));
  });

  it('Embedding weight', () => {
    const table = new nn.Embedding(5, 3, { dtype: 'float64', generator: new Generator(5) });
    const ids = tensor([[0, 4, 4], [2, 1, 0]], { dtype: 'int32' });
    assert.ok(gradcheck(() => table.call(ids), [table.weight]));
  });

  it('Embedding gives the padding row no gradient', () => {
    const table = new nn.Embedding(4, 2, { paddingIdx: 1, dtype: 'float64', generator: new Generator(6) });
    table.call(tensor([1, 2, 1, 3], { dtype: 'int32' })).sum().backward();
    assert.deepEqual(table.weight.grad?.tolist(), [[0, 0], [0, 0], [1, 1], [1, 1]]);
  });

  it('LayerNorm with affine parameters', () => {
    const norm = new nn.LayerNorm(4, { dtype: 'float64' });
    // Move weight and bias off 1 and 0 so that their gradients are exercised in general position.
    nn.init.normal_(norm.weight as Tensor, 1, 0.5, { generator: new Generator(7) });
    nn.init.normal_(norm.bias as Tensor, 0, 0.5, { generator: new Generator(8) });
    checkModule(norm, input([3, 4], 9));
  });

  it('LayerNorm over two dims without affine parameters', () => {
    checkModule(new nn.LayerNorm([2, 3], { elementwiseAffine: false, dtype: 'float64' }), input([2, 2, 3], 10));
  });

  it('activations', () => {
    // Shift the ReLU input away from its kink at 0, where finite differences are wrong.
    const x = input([2, 5], 11);
    const awayFromZero = tensor([[0.3, -0.7, 1.2, -0.2, 0.9], [-1.1, 0.4, -0.5, 2.0, -0.8]], { dtype: 'float64', requiresGrad: true });
    checkModule(new nn.ReLU(), awayFromZero);
    for (const module of [new nn.GELU(), new nn.GELU({ approximate: 'tanh' }), new nn.SiLU(), new nn.Tanh(), new nn.Sigmoid(), new nn.Identity()]) {
      checkModule(module, x);
    }
  });

  it('Dropout in training mode with a fixed mask', () => {
    // A fresh generator per call repeats the mask, which finite differences need.
    const x = input([3, 4], 12);
    assert.ok(gradcheck((value) => new nn.Dropout(0.4, { generator: new Generator(13) }).call(value), [x]));
  });

  it('Sequential and Flatten', () => {
    const generator = new Generator(14);
    const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(6, 4, { dtype: 'float64', generator }), new nn.Tanh(), new nn.Linear(4, 2, { dtype: 'float64', generator }));
    checkModule(model, input([2, 2, 3], 15));
  });
});

describe('nn layer values', () => {
  it('Linear computes x Wᵀ + b', () => {
    const layer = new nn.Linear(2, 3);
    layer.loadStateDict({ weight: tensor([[1, 2], [3, 4], [5, 6]]), bias: tensor([0.5, -1, 0]) });
    assert.deepEqual(layer.call(tensor([[1, -1]])).tolist(), [[-0.5, -2, -1]]);
  });

  it('LayerNorm normalizes each row', () => {
    // Row [1, 2, 3]: mean 2, biased variance 2/3, so the output is (x - 2) / sqrt(2/3 + eps).
    const out = new nn.LayerNorm(3, { eps: 0 }).call(tensor([[1, 2, 3]], { dtype: 'float64' }));
    const scale = Math.sqrt(2 / 3);
    const values = Array.from(out.toTypedArray());
    [-1 / scale, 0, 1 / scale].forEach((expected, i) => assert.ok(Math.abs(values[i] - expected) < 1e-12, `element ${i}: ${values[i]}`));
  });

  it('Flatten keeps the batch dim by default', () => {
    assert.deepEqual(new nn.Flatten().call(randn([2, 3, 4])).shape, [2, 12]);
    assert.deepEqual(new nn.Flatten(0, 1).call(randn([2, 3, 4])).shape, [6, 4]);
  });

  it('Linear rejects a wrong feature size with both shapes', () => {
    assert.throws(() => new nn.Linear(3, 2).call(randn([4, 5])), /\[4, 5\].*5 features.*\[2, 3\] expects 3/);
  });

  it('constructors reject invalid sizes', () => {
    assert.throws(() => new nn.Linear(2.5, 1), /inFeatures must be a non-negative integer, got 2.5/);
    assert.throws(() => new nn.Dropout(1.5), /p must lie in \[0, 1\], got 1.5/);
    assert.throws(() => new nn.Embedding(3, 2, { paddingIdx: 3 }), /paddingIdx 3 is out of range/);
    assert.throws(() => new nn.GELU({ approximate: 'fast' as never }), /approximate must be 'none' or 'tanh', got 'fast'/);
  });
});

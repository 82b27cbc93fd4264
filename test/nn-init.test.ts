import assert from 'node:assert/strict';

import { Generator, type Tensor, isGradEnabled, zeros } from '../index.js';
import { nn } from '../index.js';

const { init } = nn;

function statistics(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const values = Array.from(t.toTypedArray());
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}

/** Checks that |actual - expected| <= tolerance, naming the quantity. */
function assertNear(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);
}

/**
 * Checks a uniform(-bound, bound) fill: every value inside, the extremes near the bound,
 * mean near 0 and std near bound / √3.
 */
function assertUniform(t: Tensor, bound: number): void {
  const { mean, std, min, max } = statistics(t);
  const n = t.numel();
  // The max of n uniform draws falls below bound (1 - 20/n) with probability (1 - 10/n)^n ≈ e^-10,
  // so this also catches a bound that is off by a small fraction.
  const nearBound = bound * (1 - 20 / n);
  assert.ok(min >= -bound, `minimum ${min} is below -${bound}`);
  assert.ok(max <= bound, `maximum ${max} exceeds ${bound}`);
  assert.ok(min < -nearBound, `minimum ${min} does not approach -${bound}`);
  assert.ok(max > nearBound, `maximum ${max} does not approach ${bound}`);
  assertNear(mean, 0, (5 * bound) / Math.sqrt(3 * n), 'mean');
  assertNear(std, bound / Math.sqrt(3), 0.03 * bound, 'std');
}

describe('nn.init fans and gains', () => {
  it('fans of a 2-D weight are (in, out)', () => {
    assert.deepEqual(init.calculateFanInAndFanOut(zeros([5, 3])), [3, 5]);
  });

  it('fans of a conv weight include the kernel size', () => {
    // (out 4, in 3, 2 x 2 kernel): fan_in = 3 * 4 = 12, fan_out = 4 * 4 = 16.
    assert.deepEqual(init.calculateFanInAndFanOut(zeros([4, 3, 2, 2])), [12, 16]);
  });

  it('fans need at least 2 dims', () => {
    assert.throws(() => init.calculateFanInAndFanOut(zeros([5])), /at least 2 dims.*\[5\]/);
  });

  it('gains match the PyTorch table', () => {
    assert.equal(init.calculateGain('linear'), 1);
    assert.equal(init.calculateGain('sigmoid'), 1);
    assert.equal(init.calculateGain('conv2d'), 1);
    assertNear(init.calculateGain('tanh'), 1.6666666666666667, 1e-15, 'tanh');
    assertNear(init.calculateGain('relu'), 1.4142135623730951, 1e-15, 'relu');
    assertNear(init.calculateGain('selu'), 0.75, 1e-15, 'selu');
    // sqrt(2 / (1 + 0.01²)) = sqrt(2 / 1.0001)
    assertNear(init.calculateGain('leaky_relu'), 1.4141428569978354, 1e-12, 'leaky_relu default');
    // a = √5: sqrt(2 / 6) = 0.5773502691896258
    assertNear(init.calculateGain('leaky_relu', Math.sqrt(5)), 0.5773502691896258, 1e-12, 'leaky_relu √5');
  });

  it('an unknown nonlinearity is named', () => {
    assert.throws(() => init.calculateGain('softplus' as never), /unsupported nonlinearity 'softplus'/);
  });
});

describe('nn.init distributions', () => {
  it('uniform_ fills U(low, high)', () => {
    const t = init.uniform_(zeros([20000], { dtype: 'float64' }), -2, 3, { generator: new Generator(1) });
    const { mean, std, min, max } = statistics(t);
    assert.ok(min >= -2, `minimum ${min}`);
    assert.ok(max < 3, `maximum ${max}`);
    assertNear(mean, 0.5, 0.05, 'mean');
    assertNear(std, 5 / Math.sqrt(12), 0.03, 'std');
  });

  it('normal_ fills N(mean, std²)', () => {
    const { mean, std } = statistics(init.normal_(zeros([20000], { dtype: 'float64' }), 1.5, 0.5, { generator: new Generator(2) }));
    assertNear(mean, 1.5, 0.02, 'mean');
    assertNear(std, 0.5, 0.01, 'std');
  });

  it('constant_, zeros_ and ones_ fill one value', () => {
    assert.deepEqual(Array.from(init.constant_(zeros([3]), 2.5).toTypedArray()), [2.5, 2.5, 2.5]);
    assert.deepEqual(Array.from(init.ones_(zeros([2])).toTypedArray()), [1, 1]);
    assert.deepEqual(Array.from(init.zeros_(init.ones_(zeros([2]))).toTypedArray()), [0, 0]);
  });

  it('xavierUniform_ uses bound gain · √(6 / (fanIn + fanOut))', () => {
    // (out 300, in 100), gain 2: bound = 2 * sqrt(6 / 400) = 0.2449489742783178.
    const t = init.xavierUniform_(zeros([300, 100], { dtype: 'float64' }), 2, { generator: new Generator(3) });
    assertUniform(t, 0.2449489742783178);
  });

  it('xavierNormal_ uses std gain √(2 / (fanIn + fanOut))', () => {
    // (out 300, in 100), gain 1: std = sqrt(2 / 400) = 0.07071067811865475.
    const { mean, std } = statistics(init.xavierNormal_(zeros([300, 100], { dtype: 'float64' }), 1, { generator: new Generator(4) }));
    assertNear(mean, 0, 0.002, 'mean');
    assertNear(std, 0.07071067811865475, 0.0015, 'std');
  });

  it('kaimingUniform_ defaults to leaky_relu with a = 0 over fan_in', () => {
    // gain √2, fan_in 150: bound = √2 * sqrt(3 / 150) = sqrt(6 / 150) = 0.2.
    const t = init.kaimingUniform_(zeros([200, 150], { dtype: 'float64' }), { generator: new Generator(5) });
    assertUniform(t, 0.2);
  });

  it('kaimingUniform_ honours mode fan_out and a', () => {
    // a = 1: gain = sqrt(2 / 2) = 1; fan_out 200: bound = sqrt(3 / 200) = 0.12247448713915891.
    const t = init.kaimingUniform_(zeros([200, 150], { dtype: 'float64' }), { a: 1, mode: 'fan_out', generator: new Generator(6) });
    assertUniform(t, 0.12247448713915891);
  });

  it('kaimingNormal_ uses std √2 / √fanIn for relu', () => {
    // fan_in 200: std = sqrt(2 / 200) = 0.1.
    const t = init.kaimingNormal_(zeros([150, 200], { dtype: 'float64' }), { nonlinearity: 'relu', generator: new Generator(7) });
    const { mean, std } = statistics(t);
    assertNear(mean, 0, 0.003, 'mean');
    assertNear(std, 0.1, 0.002, 'std');
  });

  it('truncNormal_ stays in [a, b] with the truncated std', () => {
    // N(0, 1) cut to [-2, 2]: variance 1 - 2 · 2φ(2) / (Φ(2) - Φ(-2)) = 1 - 4 · 0.0539910 / 0.9544997 = 0.7737413.
    const t = init.truncNormal_(zeros([20000], { dtype: 'float64' }), { generator: new Generator(8) });
    const { mean, std, min, max } = statistics(t);
    assert.ok(min >= -2, `minimum ${min} is below -2`);
    assert.ok(max <= 2, `maximum ${max} exceeds 2`);
    assertNear(mean, 0, 0.03, 'mean');
    assertNear(std, Math.sqrt(0.7737413), 0.015, 'std');
  });

  it('truncNormal_ reports an unreachable interval', () => {
    assert.throws(() => init.truncNormal_(zeros([2]), { a: 50, b: 51 }), /no sample of N\(0, 1²\) fell in \[50, 51\]/);
  });

  it('the same generator seed gives the same values', () => {
    const first = init.kaimingUniform_(zeros([4, 4]), { generator: new Generator(9) });
    const second = init.kaimingUniform_(zeros([4, 4]), { generator: new Generator(9) });
    assert.deepEqual(first.toTypedArray(), second.toTypedArray());
  });

  it('initialisers write into parameters that require grad without recording', () => {
    const param = new nn.Parameter(zeros([3, 3]));
    init.xavierUniform_(param);
    assert.ok(isGradEnabled());
    assert.ok(param.isLeaf);
    assert.ok(param.requiresGrad);
  });
});

describe('nn layer initialisation', () => {
  it('Linear draws weight and bias from U(-1/√in, 1/√in)', () => {
    const layer = new nn.Linear(400, 300, { dtype: 'float64', generator: new Generator(10) });
    assert.deepEqual(layer.weight.shape, [300, 400]);
    assertUniform(layer.weight, 0.05);
    const { min, max } = statistics(layer.bias as Tensor);
    assert.ok(min >= -0.05, `bias minimum ${min}`);
    assert.ok(max <= 0.05, `bias maximum ${max}`);
    assert.ok(max - min > 0.09, `bias range [${min}, ${max}] is too narrow for U(-0.05, 0.05)`);
  });

  it('Embedding draws N(0, 1) and zeroes the padding row', () => {
    const table = new nn.Embedding(500, 40, { paddingIdx: -2, dtype: 'float64', generator: new Generator(11) });
    assert.equal(table.paddingIdx, 498);
    assert.deepEqual(Array.from(table.weight.select(0, 498).toTypedArray()), new Array(40).fill(0));
    const { mean, std } = statistics(table.weight);
    assertNear(mean, 0, 0.03, 'mean');
    assertNear(std, 1, 0.02, 'std');
  });

  it('LayerNorm starts with weight 1 and bias 0', () => {
    const norm = new nn.LayerNorm([2, 3]);
    assert.deepEqual(Array.from((norm.weight as Tensor).toTypedArray()), [1, 1, 1, 1, 1, 1]);
    assert.deepEqual(Array.from((norm.bias as Tensor).toTypedArray()), [0, 0, 0, 0, 0, 0]);
    assert.equal(new nn.LayerNorm(4, { bias: false }).bias, null);
    assert.deepEqual(new nn.LayerNorm(4, { elementwiseAffine: false }).parameters(), []);
  });

  it('MultiheadAttention uses Xavier projections and zero biases', () => {
    const attention = new nn.MultiheadAttention(64, 4, { kdim: 32, dtype: 'float64', generator: new Generator(12) });
    // k_proj is (64, 32): bound = sqrt(6 / 96) = 0.25.
    assertUniform(attention.k_proj.weight, 0.25);
    for (const projection of [attention.q_proj, attention.k_proj, attention.v_proj, attention.out_proj]) {
      assert.ok(Array.from((projection.bias as Tensor).toTypedArray()).every((v) => v === 0));
    }
    // out_proj keeps Linear's default bound 1/√64 = 0.125.
    const { min, max } = statistics(attention.out_proj.weight);
    assert.ok(min >= -0.125, `out_proj minimum ${min}`);
    assert.ok(max <= 0.125, `out_proj maximum ${max}`);
    assert.ok(max > 0.12, `out_proj maximum ${max} does not approach 0.125`);
  });
});

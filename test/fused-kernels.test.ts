/**
 * The CPU fast paths and fused kernels, checked against references written with plain loops
 * (forward) and with finite differences (gradients). Covered: in-place arithmetic, block
 * reductions, strided copies,
 * batched matrix products over strided batches, and the fused relu, softmax, layer-norm,
 * attention, cross-entropy, squared-error and Adam kernels, on contiguous inputs and on strided
 * views.
 */
import assert from 'node:assert/strict';

import {
  Generator, Tensor, crossEntropy, gradcheck, gradgradcheck, layerNorm, logSoftmax, matmul, mseLoss, noGrad, randn, relu, scaledDotProductAttention,
  softmax, tensor,
} from '../index.js';
import { adamStep_ } from '../ops/adam-step.js';

/** Float64 standard normals of `shape` from a fixed seed, optionally requiring grad. */
function sample(shape: number[], seed: number, requiresGrad = false): Tensor {
  const x = randn(shape, { generator: new Generator(seed), dtype: 'float64' });
  return requiresGrad ? x.requiresGrad_(true) : x;
}

/** Returns a leaf that requires grad and holds the values of `x` in a transposed (strided) layout. */
function stridedLeaf(x: Tensor): Tensor {
  return x.detach().transpose(0, 1).contiguous().transpose(0, 1).detach().requiresGrad_(true);
}

/** Reads every element of any view through `get`, in row-major order. */
function elements(x: Tensor): number[] {
  const out: number[] = [];
  const visit = (index: number[]): void => {
    if (index.length === x.ndim) {
      out.push(x.get(...index));
      return;
    }
    for (let i = 0; i < x.shape[index.length]; i++) visit([...index, i]);
  };
  visit([]);
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const ok = Math.abs(actual[i] - expected[i]) <= tolerance * (1 + Math.abs(expected[i])) || (Number.isNaN(actual[i]) && Number.isNaN(expected[i]));
    assert.ok(ok, `${label}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

describe('in-place arithmetic kernel', () => {
  it('add_ with alpha broadcasts into a transposed view', () => {
    const base = sample([3, 4], 1);
    const x = base.transpose(0, 1); // [4, 3], strided
    const y = sample([3], 2);
    const before = elements(x);
    const yValues = elements(y);
    noGrad(() => x.add_(y, -0.5));
    const expected = before.map((v, i) => v - 0.5 * yValues[i % 3]);
    assertClose(elements(x), expected, 1e-15, 'x');
  });

  it('mul_ and div_ by a number', () => {
    const x = sample([5], 3);
    const before = elements(x);
    noGrad(() => x.mul_(3).div_(4));
    assertClose(elements(x), before.map((v) => (v * 3) / 4), 1e-15, 'x');
  });

  it('reads the old values when the operand overlaps the destination', () => {
    const x = sample([3, 3], 4);
    const before = elements(x);
    noGrad(() => x.add_(x.transpose(0, 1)));
    const expected = before.map((v, index) => v + before[(index % 3) * 3 + Math.floor(index / 3)]);
    assertClose(elements(x), expected, 1e-15, 'x');
  });

  it('bumps the version so saved tensors are checked', () => {
    const x = sample([4], 5);
    const version = x.version;
    noGrad(() => x.sub_(1));
    assert.ok(x.version > version);
  });
});

describe('block reductions', () => {
  const x = sample([2, 3, 4, 5], 6);
  const values = elements(x);
  const at = (a: number, b: number, c: number, d: number) => values[((a * 3 + b) * 4 + c) * 5 + d];

  it('sum over adjacent middle dims', () => {
    const expected: number[] = [];
    for (let a = 0; a < 2; a++) {
      for (let d = 0; d < 5; d++) {
        let total = 0;
        for (let b = 0; b < 3; b++) for (let c = 0; c < 4; c++) total += at(a, b, c, d);
        expected.push(total);
      }
    }
    assertClose(x.sum([1, 2]).toTypedArray(), expected, 1e-12, 'sum');
  });

  it('max, min and prod over the leading dim', () => {
    const cases = [
      { op: 'max', combine: Math.max, reduced: x.max(0) },
      { op: 'min', combine: Math.min, reduced: x.min(0) },
      { op: 'prod', combine: (p: number, v: number) => p * v, reduced: x.prod(0) },
    ];
    for (const { op, combine, reduced } of cases) {
      const expected: number[] = [];
      for (let rest = 0; rest < 60; rest++) expected.push(combine(values[rest], values[60 + rest]));
      assertClose(reduced.toTypedArray(), expected, 1e-12, op);
    }
  });

  it('max over columns propagates NaN', () => {
    const withNaN = tensor([[1, 2], [NaN, 0], [3, 1]], { dtype: 'float64' });
    const result = [...withNaN.max(0).toTypedArray()];
    assert.ok(Number.isNaN(result[0]));
    assert.equal(result[1], 2);
  });
});

describe('strided copies', () => {
  it('contiguous() of permuted and narrowed views keeps row-major order', () => {
    const x = sample([4, 5, 6], 7);
    for (const view of [x.permute(2, 0, 1), x.narrow(2, 1, 3), x.transpose(0, 1).narrow(0, 2, 2)]) {
      assert.deepEqual([...view.contiguous().toTypedArray()], elements(view));
    }
  });
});

describe('batched matmul over strided batches', () => {
  it('matches a loop reference for attention-shaped views', () => {
    // q is [batch, heads, length, width] transposed out of [batch, length, heads, width].
    const q = sample([2, 5, 3, 4], 8).transpose(1, 2);
    const k = sample([2, 3, 5, 4], 9).transpose(-2, -1);
    for (const dtype of ['float32', 'float64'] as const) {
      const product = matmul(q.to(dtype), k.to(dtype));
      const expected: number[] = [];
      for (let b = 0; b < 2; b++) {
        for (let h = 0; h < 3; h++) {
          for (let i = 0; i < 5; i++) {
            for (let j = 0; j < 5; j++) {
              let total = 0;
              for (let p = 0; p < 4; p++) total += q.get(b, h, i, p) * k.get(b, h, p, j);
              expected.push(total);
            }
          }
        }
      }
      assertClose(product.toTypedArray(), expected, dtype === 'float32' ? 1e-5 : 1e-13, dtype);
    }
  });

  it('broadcasts a batch of one against many', () => {
    const a = sample([2, 1, 3, 4], 10);
    const b = sample([5, 4, 2], 11);
    const product = matmul(a.float(), b.float());
    assert.deepEqual(product.shape, [2, 5, 3, 2]);
    const expected: number[] = [];
    for (let x = 0; x < 2; x++) {
      for (let y = 0; y < 5; y++) {
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 2; j++) {
            let total = 0;
            for (let p = 0; p < 4; p++) total += a.get(x, 0, i, p) * b.get(y, p, j);
            expected.push(total);
          }
        }
      }
    }
    assertClose(product.toTypedArray(), expected, 1e-5, 'product');
  });
});

describe('fused gradients', () => {
  it('relu backward is g where x > 0', () => {
    const x = sample([4, 6], 12, true);
    const g = sample([4, 6], 13);
    relu(x).backward(g);
    const expected = elements(x).map((v, i) => (v > 0 ? elements(g)[i] : 0));
    assertClose(x.grad!.toTypedArray(), expected, 0, 'grad');
  });

  it('softmax and logSoftmax pass gradcheck along the last dim and another', () => {
    for (const dim of [-1, 0]) {
      gradcheck((x) => softmax(x, dim), [sample([3, 5], 14, true)]);
      gradcheck((x) => logSoftmax(x, dim), [stridedLeaf(sample([3, 5], 15))]);
    }
  });

  it('layer norm matches a loop reference and passes gradcheck', () => {
    const x = sample([4, 2, 3], 16);
    const weight = sample([2, 3], 17);
    const bias = sample([2, 3], 18);
    const out = layerNorm(x, [2, 3], weight, bias, 1e-5);
    const xs = elements(x);
    const ws = elements(weight);
    const bs = elements(bias);
    const expected: number[] = [];
    for (let r = 0; r < 4; r++) {
      const row = xs.slice(r * 6, r * 6 + 6);
      const mean = row.reduce((s, v) => s + v, 0) / 6;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / 6;
      row.forEach((v, j) => expected.push(((v - mean) / Math.sqrt(variance + 1e-5)) * ws[j] + bs[j]));
    }
    assertClose(out.toTypedArray(), expected, 1e-12, 'output');
    const strided = stridedLeaf(sample([4, 2, 3], 19));
    assert.ok(!strided.isContiguous());
    gradcheck((a, w, b) => layerNorm(a, [2, 3], w, b), [strided, sample([2, 3], 20, true), sample([2, 3], 21, true)]);
  });
});

describe('fused attention weights', () => {
  const q = sample([2, 3, 4], 22, true);
  const k = sample([2, 5, 4], 23, true);
  const v = sample([2, 5, 2], 24, true);

  it('matches a loop reference with a broadcast bool mask', () => {
    const mask = tensor([[true, false, true, true, false], [true, true, true, true, true], [false, false, false, false, false]], { dtype: 'bool' });
    const out = scaledDotProductAttention(q, k, v, { attnMask: mask, scale: 0.7 });
    const expected: number[] = [];
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < 3; i++) {
        const scores = [0, 1, 2, 3, 4].map((j) => {
          if (!mask.get(i, j)) return -Infinity;
          let total = 0;
          for (let p = 0; p < 4; p++) total += q.get(b, i, p) * k.get(b, j, p);
          return 0.7 * total;
        });
        const max = Math.max(...scores);
        const weights = scores.map((s) => (max === -Infinity ? 0 : Math.exp(s - max)));
        const sum = weights.reduce((s, w) => s + w, 0);
        for (let c = 0; c < 2; c++) {
          expected.push(weights.reduce((s, w, j) => s + (sum === 0 ? 0 : w / sum) * v.get(b, j, c), 0));
        }
      }
    }
    assertClose(out.toTypedArray(), expected, 1e-12, 'output');
  });

  it('passes gradcheck with a float mask and with isCausal', () => {
    const floatMask = sample([1, 3, 5], 25);
    gradcheck((a, b, c) => scaledDotProductAttention(a, b, c, { attnMask: floatMask }), [q, k, v]);
    gradcheck((a, b, c) => scaledDotProductAttention(a, b, c, { isCausal: true }), [q, k, v]);
  });

  it('gives zero gradients to a fully masked row', () => {
    const query = sample([1, 2, 4], 26, true);
    const mask = tensor([[false, false, false, false, false], [true, true, true, true, true]], { dtype: 'bool' });
    scaledDotProductAttention(query, k.detach().narrow(0, 0, 1), v.detach().narrow(0, 0, 1), { attnMask: mask }).sum().backward();
    const grad = query.grad!.toTypedArray();
    assert.deepEqual([...grad.slice(0, 4)], [0, 0, 0, 0]);
    assert.ok(grad.every(Number.isFinite));
  });
});

describe('fused cross-entropy', () => {
  const logits = sample([5, 4], 27, true);
  const target = tensor([2, 0, -100, 3, 1], { dtype: 'int32' });

  it('matches a loop reference for each reduction, skipping ignoreIndex', () => {
    const rows = [0, 1, 2, 3, 4].map((r) => {
      if (r === 2) return 0;
      const values = [0, 1, 2, 3].map((c) => logits.get(r, c));
      const max = Math.max(...values);
      const lse = Math.log(values.reduce((s, x) => s + Math.exp(x - max), 0)) + max;
      return lse - values[target.get(r)];
    });
    assertClose(crossEntropy(logits, target, { reduction: 'none' }).toTypedArray(), rows, 1e-13, 'none');
    assertClose([crossEntropy(logits, target, { reduction: 'sum' }).item()], [rows.reduce((s, x) => s + x, 0)], 1e-13, 'sum');
    assertClose([crossEntropy(logits, target).item()], [rows.reduce((s, x) => s + x, 0) / 4], 1e-13, 'mean');
  });

  it('passes gradcheck for mean and none', () => {
    gradcheck((x) => crossEntropy(x, target), [logits]);
    gradcheck((x) => crossEntropy(x, target, { reduction: 'none' }), [stridedLeaf(logits)]);
  });

  it('rejects a target out of range', () => {
    assert.throws(() => crossEntropy(logits, tensor([0, 1, 4, 0, 0], { dtype: 'int32' })), /target 4 is out of bounds for 4 classes/);
  });
});

describe('fused mean squared error', () => {
  const input = sample([3, 4], 50, true);
  const target = sample([3, 4], 51, true);

  it('matches a loop reference for mean and sum', () => {
    const a = elements(input);
    const b = elements(target);
    const total = a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
    assertClose([mseLoss(input, target).item()], [total / 12], 1e-14, 'mean');
    assertClose([mseLoss(input, target, { reduction: 'sum' }).item()], [total], 1e-14, 'sum');
  });

  it('passes gradcheck for both operands and gradgradcheck', () => {
    gradcheck((x, t) => mseLoss(x, t), [input, stridedLeaf(target)]);
    gradcheck((x, t) => mseLoss(x, t, { reduction: 'sum' }), [stridedLeaf(input), target]);
    gradgradcheck((x, t) => mseLoss(x, t), [input, target]);
  });
});

describe('adamStep_', () => {
  /** Adam on plain arrays, as torch.optim.Adam defines it. */
  function reference(theta: number[], grads: number[][], o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean; maximize: boolean }): number[] {
    const m = theta.map(() => 0);
    const v = theta.map(() => 0);
    grads.forEach((gradient, step) => {
      const t = step + 1;
      theta.forEach((value, i) => {
        let g = o.maximize ? -gradient[i] : gradient[i];
        let p = value;
        if (o.decoupled) p *= 1 - o.lr * o.weightDecay;
        else g += o.weightDecay * value;
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
        theta[i] = p - (o.lr * m[i]) / (1 - o.beta1 ** t) / (Math.sqrt(v[i] / (1 - o.beta2 ** t)) + o.eps);
      });
    });
    return theta;
  }

  const settings = [
    { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, maximize: false },
    { lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1, decoupled: false, maximize: true },
    { lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1, decoupled: true, maximize: false },
  ];
  for (const [index, o] of settings.entries()) {
    for (const layout of ['fused', 'composed'] as const) {
      it(`matches the formula (settings ${index}, ${layout} path)`, () => {
        const param = sample([3, 4], 30 + index, true);
        const grads = [31, 32, 33].map((seed) => sample([3, 4], seed + index));
        const expected = reference(elements(param), grads.map(elements), o);
        // A transposed (non-contiguous) state makes adamStep_ take the composed path.
        const state = () => (layout === 'fused' ? tensor(new Float64Array(12), { shape: [3, 4] }) : tensor(new Float64Array(12), { shape: [4, 3] }).transpose(0, 1));
        const expAvg = state();
        const expAvgSq = state();
        grads.forEach((g, step) => adamStep_(param, g, expAvg, expAvgSq, { ...o, step: step + 1 }));
        assertClose(elements(param), expected, 1e-12, 'param');
      });
    }
  }

  it('rejects mismatched shapes and step 0', () => {
    const p = sample([2], 40);
    assert.throws(() => adamStep_(p, sample([3], 41), sample([2], 42), sample([2], 43), { ...settings[0], step: 1 }), /grad has shape \[3\]/);
    assert.throws(() => adamStep_(p, sample([2], 41), sample([2], 42), sample([2], 43), { ...settings[0], step: 0 }), /step must be a positive integer/);
  });
});

import assert from 'node:assert/strict';

import fc from 'fast-check';

import {
  DTypeError,
  Generator,
  ShapeError,
  Tensor,
  ValueError,
  dropout,
  gradcheck,
  gradgradcheck,
  matmul,
  scaledDotProductAttention,
  softmax,
  tensor,
} from '../index.js';
import { assertAllClose, randomIntegers, randomTensor, valuesOf } from './functional-helpers.js';

type MaskKind = 'none' | 'bool' | 'float' | 'causal';

const attentionCase = fc.record({
  batch: fc.constantFrom<number[]>([], [2], [2, 1]),
  queries: fc.integer({ min: 1, max: 3 }),
  keys: fc.integer({ min: 1, max: 3 }),
  features: fc.integer({ min: 1, max: 3 }),
  valueFeatures: fc.integer({ min: 1, max: 2 }),
  mask: fc.constantFrom<MaskKind>('none', 'bool', 'float', 'causal'),
  // A broadcast mask has shape (L, S); otherwise it has the full score shape (..., L, S).
  broadcastMask: fc.boolean(),
  scale: fc.option(fc.constantFrom(0.7, 2)),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
});

type AttentionCase = typeof attentionCase extends fc.Arbitrary<infer T> ? T : never;

interface AttentionInputs {
  query: Tensor;
  key: Tensor;
  value: Tensor;
  attnMask: Tensor | null;
  /** The additive mask value for batch b, query i and key j: 0 or -Infinity for bool masks. */
  maskAt: (b: number, i: number, j: number) => number;
}

function attentionInputs(c: AttentionCase, requiresGrad: boolean): AttentionInputs {
  const { batch, queries: L, keys: S } = c;
  const maskShape = c.broadcastMask ? [L, S] : [...batch, L, S];
  const maskCount = maskShape.reduce((p, s) => p * s, 1);
  // Indexing a broadcast mask ignores the batch: the same (L, S) block serves every batch entry.
  const maskIndex = (b: number, i: number, j: number): number => (c.broadcastMask ? 0 : b * L * S) + i * S + j;

  let attnMask: Tensor | null = null;
  let maskAt = (_b: number, i: number, j: number): number => (c.mask === 'causal' && j > i ? -Infinity : 0);
  if (c.mask === 'bool') {
    // About a quarter of the entries are masked out, so some rows end up fully masked.
    const keep = randomIntegers(maskCount, 0, 4, c.seed + 3).map((draw) => (draw === 0 ? 0 : 1));
    attnMask = tensor(Uint8Array.from(keep), { shape: maskShape, dtype: 'bool' });
    maskAt = (b, i, j) => (keep[maskIndex(b, i, j)] === 1 ? 0 : -Infinity);
  } else if (c.mask === 'float') {
    const bias = valuesOf(randomTensor(maskShape, c.seed + 3));
    const blocked = randomIntegers(maskCount, 0, 5, c.seed + 4);
    blocked.forEach((draw, n) => {
      if (draw === 0) bias[n] = -Infinity;
    });
    attnMask = tensor(Float64Array.from(bias), { shape: maskShape, requiresGrad });
    maskAt = (b, i, j) => bias[maskIndex(b, i, j)];
  }
  return {
    query: randomTensor([...batch, L, c.features], c.seed, { requiresGrad }),
    key: randomTensor([...batch, S, c.features], c.seed + 1, { requiresGrad }),
    value: randomTensor([...batch, S, c.valueFeatures], c.seed + 2, { requiresGrad }),
    attnMask,
    maskAt,
  };
}

/** Attention with explicit loops over batch, query, key and feature; a row with no key left gives zeros. */
function referenceAttention(c: AttentionCase, inputs: AttentionInputs): number[] {
  const { queries: L, keys: S, features: E, valueFeatures: Ev } = c;
  const q = valuesOf(inputs.query);
  const k = valuesOf(inputs.key);
  const v = valuesOf(inputs.value);
  const batchCount = c.batch.reduce((p, s) => p * s, 1);
  const scale = c.scale ?? 1 / Math.sqrt(E);
  const out: number[] = [];
  for (let b = 0; b < batchCount; b++) {
    for (let i = 0; i < L; i++) {
      const scores: number[] = [];
      for (let j = 0; j < S; j++) {
        let dot = 0;
        for (let e = 0; e < E; e++) dot += q[(b * L + i) * E + e] * k[(b * S + j) * E + e];
        scores.push(dot * scale + inputs.maskAt(b, i, j));
      }
      const max = Math.max(...scores);
      const weights = scores.map((s) => (max === -Infinity ? 0 : Math.exp(s - max)));
      const total = weights.reduce((a, w) => a + w, 0);
      for (let f = 0; f < Ev; f++) {
        let sum = 0;
        for (let j = 0; j < S; j++) if (weights[j] !== 0) sum += (weights[j] / total) * v[(b * S + j) * Ev + f];
        out.push(sum);
      }
    }
  }
  return out;
}

function attend(c: AttentionCase, inputs: AttentionInputs, extra: { dropoutP?: number; generator?: Generator } = {}): Tensor {
  return scaledDotProductAttention(inputs.query, inputs.key, inputs.value, {
    attnMask: inputs.attnMask,
    isCausal: c.mask === 'causal',
    scale: c.scale ?? undefined,
    ...extra,
  });
}

describe('functional scaledDotProductAttention', () => {
  it('matches explicit loops', () => {
    fc.assert(
      fc.property(attentionCase, (c) => {
        const inputs = attentionInputs(c, false);
        const out = attend(c, inputs);
        assert.deepEqual(out.shape, [...c.batch, c.queries, c.valueFeatures]);
        assertAllClose(valuesOf(out), referenceAttention(c, inputs));
      }),
      { numRuns: 80 },
    );
  });

  it('passes gradcheck for query, key, value and float mask', () => {
    fc.assert(
      fc.property(attentionCase, fc.constantFrom(0, 0.3), (c, dropoutP) => {
        const inputs = attentionInputs(c, true);
        const floatMask = inputs.attnMask !== null && inputs.attnMask.dtype === 'float64';
        const tensors = [inputs.query, inputs.key, inputs.value, ...(floatMask ? [inputs.attnMask!] : [])];
        // A fresh generator per call keeps the dropout mask fixed across the finite differences.
        return gradcheck((q, k, v, m) => attend(c, { ...inputs, query: q, key: k, value: v, attnMask: m ?? inputs.attnMask }, {
          dropoutP,
          generator: new Generator(c.seed),
        }), tensors);
      }),
      { numRuns: 30 },
    );
  });

  it('passes gradgradcheck', () => {
    fc.assert(
      fc.property(attentionCase, (c) => {
        const small = { ...c, batch: [], features: Math.min(c.features, 2) };
        const inputs = attentionInputs(small, true);
        return gradgradcheck((q, k, v) => attend(small, { ...inputs, query: q, key: k, value: v }), [inputs.query, inputs.key, inputs.value]);
      }),
      { numRuns: 6 },
    );
  });

  it('ignores masked keys and values', () => {
    fc.assert(
      fc.property(attentionCase, fc.nat(), (c, pick) => {
        const inputs = attentionInputs({ ...c, mask: 'none' }, false);
        const hidden = pick % c.keys;
        const keep = new Uint8Array(c.queries * c.keys).fill(1);
        for (let i = 0; i < c.queries; i++) keep[i * c.keys + hidden] = 0;
        const attnMask = tensor(keep, { shape: [c.queries, c.keys], dtype: 'bool' });
        const before = scaledDotProductAttention(inputs.query, inputs.key, inputs.value, { attnMask });

        // Replace key and value row `hidden` (in every batch entry) with unrelated values.
        const replaceRow = (t: Tensor, seed: number): Tensor => {
          const values = valuesOf(t);
          const width = t.shape[t.ndim - 1];
          const noise = valuesOf(randomTensor([values.length], seed, { scale: 10 }));
          values.forEach((_, n) => {
            if (Math.floor(n / width) % c.keys === hidden) values[n] = noise[n];
          });
          return tensor(Float64Array.from(values), { shape: t.shape });
        };
        const after = scaledDotProductAttention(inputs.query, replaceRow(inputs.key, c.seed + 7), replaceRow(inputs.value, c.seed + 8), { attnMask });
        assert.deepEqual(valuesOf(after), valuesOf(before));
      }),
      { numRuns: 30 },
    );
  });

  it('hides later keys under isCausal', () => {
    const query = randomTensor([2, 4, 3], 1);
    const key = randomTensor([2, 4, 3], 2);
    const value = randomTensor([2, 4, 2], 3);
    const before = valuesOf(scaledDotProductAttention(query, key, value, { isCausal: true }));
    const lastChanged = (t: Tensor): Tensor => t.add(tensor([0, 0, 0, 5], { dtype: 'float64' }).reshape(4, 1));
    const after = valuesOf(scaledDotProductAttention(query, lastChanged(key), lastChanged(value), { isCausal: true }));
    // Rows 0..2 of each batch entry (two value features each) cannot see key 3.
    for (const b of [0, 1]) {
      assert.deepEqual(after.slice(b * 8, b * 8 + 6), before.slice(b * 8, b * 8 + 6));
      assert.notDeepEqual(after.slice(b * 8 + 6, b * 8 + 8), before.slice(b * 8 + 6, b * 8 + 8));
    }
  });

  it('gives zeros and zero gradients for a fully masked row', () => {
    for (const maskKind of ['bool', 'float'] as const) {
      const query = randomTensor([2, 3], 1, { requiresGrad: true });
      const key = randomTensor([4, 3], 2, { requiresGrad: true });
      const value = randomTensor([4, 2], 3, { requiresGrad: true });
      const keep = [[1, 0, 1, 1], [0, 0, 0, 0]];
      const attnMask = maskKind === 'bool'
        ? tensor(keep, { dtype: 'bool' })
        : tensor(keep.map((row) => row.map((k) => (k === 1 ? 0 : -Infinity))), { dtype: 'float64' });
      const out = scaledDotProductAttention(query, key, value, { attnMask });
      const values = valuesOf(out);
      assert.ok(values.slice(0, 2).every((v) => v !== 0), `${maskKind}: row 0 should attend`);
      assert.deepEqual(values.slice(2), [0, 0], `${maskKind}: row 1 should be zeros`);

      out.mul(randomTensor([2, 2], 4)).sum().backward();
      for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
        assert.ok(valuesOf(t.grad!).every(Number.isFinite), `${maskKind}: ${name} gradient has a non-finite entry`);
      }
      assert.deepEqual(valuesOf(query.grad!).slice(3), [0, 0, 0], `${maskKind}: the masked query row gets no gradient`);
      // Row 0 masks key 1 and row 1 masks every key, so key 1 and value 1 get no gradient.
      assert.deepEqual(valuesOf(key.grad!).slice(3, 6), [0, 0, 0]);
      assert.deepEqual(valuesOf(value.grad!).slice(2, 4), [0, 0]);
    }
  });

  it('aligns the causal mask top-left', () => {
    for (const [L, S] of [[2, 4], [4, 2]]) {
      const c: AttentionCase = { batch: [], queries: L, keys: S, features: 2, valueFeatures: 2, mask: 'causal', broadcastMask: true, scale: null, seed: 5 };
      const inputs = attentionInputs(c, false);
      assertAllClose(valuesOf(attend(c, inputs)), referenceAttention(c, inputs), { label: `L=${L}, S=${S}` });
    }
  });

  it('repeats dropout with a seeded generator', () => {
    const query = randomTensor([3, 2], 1);
    const key = randomTensor([4, 2], 2);
    const value = randomTensor([4, 3], 3);
    const options = { dropoutP: 0.4, generator: new Generator(11) };
    const out = scaledDotProductAttention(query, key, value, options);
    const weights = dropout(softmax(matmul(query, key.mT).mul(1 / Math.sqrt(2)), -1), 0.4, true, { generator: new Generator(11) });
    assertAllClose(valuesOf(out), valuesOf(matmul(weights, value)));
    const evaluation = scaledDotProductAttention(query, key, value, { ...options, training: false });
    assertAllClose(valuesOf(evaluation), valuesOf(scaledDotProductAttention(query, key, value)));
  });

  it('broadcasts key and value batch dims', () => {
    const query = randomTensor([2, 3, 2], 1, { requiresGrad: true });
    const key = randomTensor([4, 2], 2, { requiresGrad: true });
    const value = randomTensor([1, 4, 3], 3, { requiresGrad: true });
    const shared = scaledDotProductAttention(query, key, value);
    const expanded = scaledDotProductAttention(query, key.expand(2, 4, 2).contiguous(), value.expand(2, 4, 3).contiguous());
    assert.deepEqual(shared.shape, [2, 3, 3]);
    assertAllClose(valuesOf(shared), valuesOf(expanded));
    assert.ok(gradcheck((q, k, v) => scaledDotProductAttention(q, k, v, { isCausal: true }), [query, key, value]));
  });

  it('rejects attnMask together with isCausal', () => {
    const x = randomTensor([2, 2], 1);
    assert.throws(() => scaledDotProductAttention(x, x, x, { attnMask: tensor([[true, true], [true, true]]), isCausal: true }), ValueError);
  });

  it('names mismatched shapes', () => {
    const query = randomTensor([2, 3, 4], 1);
    assert.throws(() => scaledDotProductAttention(query, randomTensor([2, 5, 3], 2), randomTensor([2, 5, 6], 3)), {
      name: 'ShapeError',
      message: /same last dim \(E\), got query \[2, 3, 4\], key \[2, 5, 3\], value \[2, 5, 6\]/,
    });
    assert.throws(() => scaledDotProductAttention(query, randomTensor([2, 5, 4], 2), randomTensor([2, 6, 6], 3)), {
      name: 'ShapeError',
      message: /same sequence length .*key \[2, 5, 4\], value \[2, 6, 6\]/,
    });
    assert.throws(() => scaledDotProductAttention(query, query, query, { attnMask: tensor([[true, false]]) }), {
      name: 'ShapeError',
      message: /attnMask of shape \[1, 2\] does not broadcast to the attention scores of shape \[2, 3, 3\]/,
    });
    assert.throws(() => scaledDotProductAttention(query, query, query, { attnMask: tensor([[1, 0, 1]], { dtype: 'int32' }) }), DTypeError);
    assert.throws(() => scaledDotProductAttention(randomTensor([4], 1), query, query), ShapeError);
  });
});

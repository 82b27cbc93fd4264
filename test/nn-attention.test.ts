import assert from 'node:assert/strict';

import fc from 'fast-check';

import { Generator, type Tensor, gradcheck, randn, tensor } from '../index.js';
import { nn } from '../index.js';

type Matrix = number[][];
/** Returns true when query i of head h in batch b must not see key j. */
type IgnoreFn = (b: number, h: number, i: number, j: number) => boolean;

/** x Wᵀ + b for one sequence (rows × in). */
function affine(rows: Matrix, weight: Matrix, bias: number[] | null): Matrix {
  return rows.map((row) => weight.map((w, o) => w.reduce((sum, wk, k) => sum + wk * row[k], bias === null ? 0 : bias[o])));
}

function parameters(layer: nn.Linear): { weight: Matrix; bias: number[] | null } {
  return { weight: layer.weight.tolist() as Matrix, bias: layer.bias === null ? null : (layer.bias.tolist() as number[]) };
}

/**
 * Multi-head attention written with plain loops, independent of the library's ops: per batch and
 * head, softmax over the keys that are not ignored (zero output when none is left), then the
 * output projection. Returns the output (B, L, E) and per-head weights (B, H, L, S).
 */
function referenceAttention(
  module: nn.MultiheadAttention,
  query: Matrix[],
  key: Matrix[],
  value: Matrix[],
  ignore: IgnoreFn = () => false,
): { output: Matrix[]; weights: Matrix[][] } {
  const heads = module.numHeads;
  const d = module.headDim;
  const q = parameters(module.q_proj);
  const k = parameters(module.k_proj);
  const v = parameters(module.v_proj);
  const o = parameters(module.out_proj);
  const output: Matrix[] = [];
  const weights: Matrix[][] = [];

  query.forEach((queryRows, b) => {
    const Q = affine(queryRows, q.weight, q.bias);
    const K = affine(key[b], k.weight, k.bias);
    const V = affine(value[b], v.weight, v.bias);
    const merged: Matrix = Q.map(() => new Array(module.embedDim).fill(0));
    const headWeights: Matrix[] = [];
    for (let h = 0; h < heads; h++) {
      const rows: Matrix = [];
      Q.forEach((queryRow, i) => {
        const scores = K.map((keyRow, j) => {
          if (ignore(b, h, i, j)) return -Infinity;
          let dot = 0;
          for (let c = 0; c < d; c++) dot += queryRow[h * d + c] * keyRow[h * d + c];
          return dot / Math.sqrt(d);
        });
        const max = Math.max(...scores);
        const exps = scores.map((s) => (s === -Infinity ? 0 : Math.exp(s - max)));
        const total = exps.reduce((sum, e) => sum + e, 0);
        const row = exps.map((e) => (total === 0 ? 0 : e / total));
        rows.push(row);
        for (let c = 0; c < d; c++) merged[i][h * d + c] = row.reduce((sum, w, j) => sum + w * V[j][h * d + c], 0);
      });
      headWeights.push(rows);
    }
    output.push(affine(merged, o.weight, o.bias));
    weights.push(headWeights);
  });
  return { output, weights };
}

function assertAllClose(actual: Tensor, expected: unknown, tolerance = 1e-10): void {
  const flatExpected = (expected as unknown[]).flat(Infinity) as number[];
  const flatActual = Array.from(actual.toTypedArray());
  assert.equal(flatActual.length, flatExpected.length, 'element counts differ');
  flatActual.forEach((value, i) => assert.ok(Math.abs(value - flatExpected[i]) <= tolerance, `element ${i}: ${value} vs ${flatExpected[i]}`));
}

function random(shape: number[], seed: number): Tensor {
  return randn(shape, { dtype: 'float64', generator: new Generator(seed) });
}

function attention(embedDim: number, numHeads: number, seed: number, options: nn.MultiheadAttentionOptions = {}): nn.MultiheadAttention {
  const module = new nn.MultiheadAttention(embedDim, numHeads, { dtype: 'float64', generator: new Generator(seed), ...options });
  // Give the zero-initialised biases values, so that the reference checks them too.
  for (const projection of [module.q_proj, module.k_proj, module.v_proj, module.out_proj]) {
    if (projection.bias !== null) nn.init.normal_(projection.bias, 0, 0.3, { generator: new Generator(seed + 100) });
  }
  return module;
}

describe('nn.MultiheadAttention values', () => {
  it('self-attention matches the loop reference', () => {
    const module = attention(4, 2, 1);
    const x = random([2, 3, 4], 2);
    const expected = referenceAttention(module, x.tolist() as Matrix[], x.tolist() as Matrix[], x.tolist() as Matrix[]);
    assertAllClose(module.call(x, x, x).output, expected.output);
  });

  it('cross-attention with kdim and vdim matches the reference', () => {
    const module = attention(8, 2, 3, { kdim: 6, vdim: 4 });
    const query = random([2, 3, 8], 4);
    const key = random([2, 5, 6], 5);
    const value = random([2, 5, 4], 6);
    const result = module.call(query, key, value, { needWeights: true, averageAttnWeights: false });
    const expected = referenceAttention(module, query.tolist() as Matrix[], key.tolist() as Matrix[], value.tolist() as Matrix[]);
    assert.deepEqual(result.output.shape, [2, 3, 8]);
    assert.deepEqual(result.weights?.shape, [2, 2, 3, 5]);
    assertAllClose(result.output, expected.output);
    assertAllClose(result.weights as Tensor, expected.weights);
  });

  it('averaged weights have shape (B, L, S) and rows that sum to 1', () => {
    const module = attention(8, 4, 7, { kdim: 6, vdim: 4 });
    const { weights } = module.call(random([2, 3, 8], 8), random([2, 5, 6], 9), random([2, 5, 4], 10), { needWeights: true });
    assert.deepEqual(weights?.shape, [2, 3, 5]);
    assertAllClose((weights as Tensor).sum(-1), [[1, 1, 1], [1, 1, 1]], 1e-12);
  });

  it('weights are null unless requested', () => {
    const x = random([1, 2, 4], 11);
    assert.equal(attention(4, 2, 12).call(x, x, x).weights, null);
  });

  it('key padding, attention mask and causality combine', () => {
    const module = attention(4, 2, 13);
    const x = random([2, 4, 4], 14);
    const padding = [[false, false, true, false], [false, true, false, false]];
    const blocked = [[false, true, false, false], [false, false, false, false], [false, false, false, true], [false, false, false, false]];
    const ignore: IgnoreFn = (b, _h, i, j) => padding[b][j] || blocked[i][j] || j > i;
    const expected = referenceAttention(module, x.tolist() as Matrix[], x.tolist() as Matrix[], x.tolist() as Matrix[], ignore);
    const options = { keyPaddingMask: tensor(padding), attnMask: tensor(blocked), isCausal: true };
    assertAllClose(module.call(x, x, x, options).output, expected.output);
    assertAllClose(module.call(x, x, x, { ...options, needWeights: true, averageAttnWeights: false }).weights as Tensor, expected.weights);
  });

  it('a causal mask alone goes through the fused path', () => {
    const module = attention(4, 2, 15);
    const x = random([1, 3, 4], 16);
    const expected = referenceAttention(module, x.tolist() as Matrix[], x.tolist() as Matrix[], x.tolist() as Matrix[], (_b, _h, i, j) => j > i);
    assertAllClose(module.call(x, x, x, { isCausal: true }).output, expected.output);
    const { weights } = module.call(x, x, x, { isCausal: true, needWeights: true });
    const averaged = expected.weights.map((perHead) => perHead[0].map((row, i) => row.map((w, j) => (w + perHead[1][i][j]) / 2)));
    assertAllClose(weights as Tensor, averaged);
  });

  it('a per-head 3-D mask masks each head separately', () => {
    const module = attention(4, 2, 17);
    const x = random([1, 3, 4], 18);
    // (B·H, L, S): head 0 may not see key 0, head 1 may not see key 2.
    const perHead = [0, 1].map((h) => [0, 1, 2].map(() => [0, 1, 2].map((j) => (h === 0 ? j === 0 : j === 2))));
    const expected = referenceAttention(module, x.tolist() as Matrix[], x.tolist() as Matrix[], x.tolist() as Matrix[], (_b, h, _i, j) => perHead[h][0][j]);
    assertAllClose(module.call(x, x, x, { attnMask: tensor(perHead) }).output, expected.output);
  });

  it('a float mask with -Infinity equals the bool mask', () => {
    const module = attention(4, 2, 19);
    const x = random([2, 3, 4], 20);
    const padding = [[false, true, false], [true, false, false]];
    const additive = tensor(padding.map((row) => row.map((ignored) => (ignored ? -Infinity : 0))), { dtype: 'float64' });
    assertAllClose(module.call(x, x, x, { keyPaddingMask: additive }).output, module.call(x, x, x, { keyPaddingMask: tensor(padding) }).output.tolist(), 0);
  });

  it('a query whose keys are all masked gets a zero attention output', () => {
    const module = attention(4, 2, 21, { bias: false });
    const x = random([1, 2, 4], 22);
    const blocked = tensor([[true, true], [false, true]]);
    assertAllClose(module.call(x, x, x, { attnMask: blocked }).output.select(1, 0), [[0, 0, 0, 0]], 0);
  });

  it('batchFirst false takes (sequence, batch, features)', () => {
    const batchFirst = attention(4, 2, 23);
    const sequenceFirst = attention(4, 2, 24, { batchFirst: false });
    sequenceFirst.loadStateDict(batchFirst.stateDict());
    const x = random([2, 3, 4], 25);
    const padding = tensor([[false, true, false], [false, false, false]]);
    const expected = batchFirst.call(x, x, x, { keyPaddingMask: padding }).output;
    const xt = x.transpose(0, 1);
    assertAllClose(sequenceFirst.call(xt, xt, xt, { keyPaddingMask: padding }).output.transpose(0, 1), expected.tolist(), 1e-12);
  });

  it('unbatched input equals a batch of one', () => {
    const module = attention(4, 2, 26, { kdim: 3 });
    const query = random([2, 4], 27);
    const key = random([3, 3], 28);
    const value = random([3, 4], 29);
    const padding = tensor([false, true, false]);
    const batched = module.call(query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0), { keyPaddingMask: padding.unsqueeze(0), needWeights: true });
    const single = module.call(query, key, value, { keyPaddingMask: padding, needWeights: true });
    assert.deepEqual(single.output.shape, [2, 4]);
    assert.deepEqual(single.weights?.shape, [2, 3]);
    assertAllClose(single.output, batched.output.squeeze(0).tolist(), 0);
  });

  it('dropout acts in training mode only', () => {
    const module = attention(4, 2, 30, { dropout: 0.5 });
    const x = random([1, 4, 4], 31);
    const expected = referenceAttention(module, x.tolist() as Matrix[], x.tolist() as Matrix[], x.tolist() as Matrix[]);
    const trained = module.call(x, x, x).output;
    assert.ok(Array.from(trained.toTypedArray()).some((value, i) => Math.abs(value - (expected.output.flat(2)[i] as number)) > 1e-6));
    module.eval();
    assertAllClose(module.call(x, x, x).output, expected.output);
    assertAllClose(module.call(x, x, x, { needWeights: true }).output, expected.output);
  });

  it('TransformerBlock adds pre-norm attention and MLP residuals', () => {
    const block = new nn.TransformerBlock(4, 2, { mlpRatio: 2, causal: true, dtype: 'float64', generator: new Generator(32) });
    nn.init.normal_(block.ln1.weight as Tensor, 1, 0.3, { generator: new Generator(33) });
    nn.init.normal_(block.ln2.bias as Tensor, 0, 0.3, { generator: new Generator(34) });
    const x = random([2, 3, 4], 35);

    const normed = block.ln1.call(x).tolist() as Matrix[];
    const attended = referenceAttention(block.attn, normed, normed, normed, (_b, _h, i, j) => j > i).output;
    const afterAttention = x.add(tensor(attended, { dtype: 'float64' }));
    const expected = afterAttention.add(block.mlp.call(block.ln2.call(afterAttention)));
    assertAllClose(block.call(x), expected.tolist());
  });
});

describe('nn.MultiheadAttention masking properties', () => {
  const shapes = fc.record({
    batch: fc.integer({ min: 1, max: 2 }),
    queryLength: fc.integer({ min: 1, max: 3 }),
    keyLength: fc.integer({ min: 1, max: 4 }),
    bits: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    seed: fc.integer({ min: 0, max: 1000 }),
    needWeights: fc.boolean(),
  });

  it('changing padded keys and values changes no output', () => {
    fc.assert(
      fc.property(shapes, ({ batch, queryLength, keyLength, bits, seed, needWeights }) => {
        const module = attention(4, 2, seed, { kdim: 3, vdim: 5 });
        // Keep the last key of every row visible, so that no query is fully masked.
        const padding = Array.from({ length: batch }, (_, b) => Array.from({ length: keyLength }, (_, j) => j < keyLength - 1 && bits[b * 4 + j]));
        const query = random([batch, queryLength, 4], seed + 1);
        const key = random([batch, keyLength, 3], seed + 2);
        const value = random([batch, keyLength, 5], seed + 3);
        const changedKey = replaceWhere(key, padding, seed + 4);
        const changedValue = replaceWhere(value, padding, seed + 5);

        const mask = tensor(padding, { dtype: 'bool' });
        const before = module.call(query, key, value, { keyPaddingMask: mask, needWeights });
        const after = module.call(query, changedKey, changedValue, { keyPaddingMask: mask, needWeights });
        assertAllClose(after.output, before.output.tolist(), 0);
      }),
      { numRuns: 40 },
    );
  });

  it('changing future positions changes no earlier causal output', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 0, max: 1000 }), fc.boolean(), (length, seed, needWeights) => {
        const module = attention(4, 2, seed);
        const x = random([2, length, 4], seed + 1);
        const cut = 1 + (seed % (length - 1));
        const y = concatTime(x.slice(1, 0, cut), random([2, length - cut, 4], seed + 2));

        const before = module.call(x, x, x, { isCausal: true, needWeights }).output.slice(1, 0, cut);
        const after = module.call(y, y, y, { isCausal: true, needWeights }).output.slice(1, 0, cut);
        assertAllClose(after, before.tolist(), 0);
      }),
      { numRuns: 40 },
    );
  });
});

/** Replaces the rows of `x` (B, S, F) at positions where `mask[b][j]` is true with fresh random values. */
function replaceWhere(x: Tensor, mask: boolean[][], seed: number): Tensor {
  const rows = x.tolist() as Matrix[];
  const generator = new Generator(seed);
  const replaced = rows.map((sequence, b) => sequence.map((row, j) => (mask[b][j] ? row.map(() => 10 * generator.normal()) : row)));
  return tensor(replaced, { dtype: 'float64' });
}

function concatTime(a: Tensor, b: Tensor): Tensor {
  const left = a.tolist() as Matrix[];
  const right = b.tolist() as Matrix[];
  return tensor(left.map((sequence, i) => [...sequence, ...right[i]]), { dtype: 'float64' });
}

describe('nn.MultiheadAttention gradients and errors', () => {
  it('gradcheck of cross-attention with padding', () => {
    const module = attention(4, 2, 40, { kdim: 3, vdim: 2 });
    const query = random([1, 2, 4], 41).requiresGrad_();
    const key = random([1, 3, 3], 42).requiresGrad_();
    const value = random([1, 3, 2], 43).requiresGrad_();
    const padding = tensor([[false, true, false]]);
    assert.ok(gradcheck((q, k, v) => module.call(q, k, v, { keyPaddingMask: padding }).output, [query, key, value, ...module.parameters()]));
  });

  it('gradcheck of the explicit weights path', () => {
    const module = attention(4, 2, 44);
    const x = random([1, 3, 4], 45).requiresGrad_();
    assert.ok(gradcheck((input) => {
      const { output, weights } = module.call(input, input, input, { isCausal: true, needWeights: true });
      return [output, weights as Tensor];
    }, [x, ...module.parameters()]));
  });

  it('gradcheck of a causal TransformerBlock with padding', () => {
    const block = new nn.TransformerBlock(4, 2, { mlpRatio: 2, causal: true, dtype: 'float64', generator: new Generator(46) });
    const x = random([2, 3, 4], 47).requiresGrad_();
    const padding = tensor([[false, false, true], [false, false, false]]);
    assert.ok(gradcheck((input) => block.call(input, { keyPaddingMask: padding }), [x, ...block.parameters()]));
  });

  it('rejects feature sizes that do not match', () => {
    const module = new nn.MultiheadAttention(4, 2, { kdim: 3 });
    const x = randn([1, 2, 4]);
    assert.throws(() => module.call(x, x, x), /embedDim=4, kdim=3, vdim=4.*key \[1, 2, 4\]/);
  });

  it('rejects a key padding mask of the wrong shape', () => {
    const module = new nn.MultiheadAttention(4, 2);
    const x = randn([2, 3, 4]);
    assert.throws(() => module.call(x, x, x, { keyPaddingMask: tensor([[false, true]]) }), /keyPaddingMask must have shape \(batch, key length\) = \[2, 3\], got \[1, 2\]/);
  });

  it('rejects an embedDim that numHeads does not divide', () => {
    assert.throws(() => new nn.MultiheadAttention(6, 4), /embedDim \(6\) must be a positive multiple of numHeads \(4\)/);
  });

  it('names its projections for adapters', () => {
    const names = new nn.MultiheadAttention(4, 2).namedParameters().map(([name]) => name);
    assert.deepEqual(names, ['q_proj.weight', 'q_proj.bias', 'k_proj.weight', 'k_proj.bias', 'v_proj.weight', 'v_proj.bias', 'out_proj.weight', 'out_proj.bias']);
  });
});

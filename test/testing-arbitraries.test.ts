import assert from 'node:assert/strict';
import fc from 'fast-check';

import * as S from '../index.js';
import { ValueError } from '../index.js';
import { broadcastPairArb, matmulShapesArb, nonContiguousTensorArb, shapeArb, tensorArb } from '../testing/arbitraries.js';
import { numel, valuesOf } from './core-helpers.js';

const RUNS = 100;

/** NumPy broadcasting, written here so that the arbitrary's `out` is checked independently. */
function broadcastShapes(a: number[], b: number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

describe('testing arbitraries', () => {
  it('shapeArb respects rank and size bounds', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 2, minSize: 2, maxSize: 3 }), (shape) => {
        assert.ok(shape.length >= 1, `rank ${shape.length}`);
        assert.ok(shape.length <= 2, `rank ${shape.length}`);
        assert.ok(shape.every((size) => size >= 2 && size <= 3));
      }),
      { numRuns: RUNS },
    );
    assert.throws(() => shapeArb({ minRank: 3, maxRank: 1 }), ValueError);
  });

  it('tensorArb keeps values in range and away from the listed points', () => {
    const options = { min: -2, max: 2, awayFrom: [0, 1], margin: 0.25, shape: shapeArb({ maxSize: 3 }) };
    fc.assert(
      fc.property(tensorArb(options), (x) => {
        assert.equal(x.dtype, 'float64');
        for (const v of valuesOf(x)) {
          assert.ok(v >= -2, `value ${v} below min`);
          assert.ok(v <= 2, `value ${v} above max`);
          assert.ok(Math.abs(v) >= 0.25, `value ${v} too close to 0`);
          assert.ok(Math.abs(v - 1) >= 0.25, `value ${v} too close to 1`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('tensorArb positive values stay above the margin', () => {
    fc.assert(
      fc.property(tensorArb({ positive: true, margin: 0.3 }), (x) => assert.ok(valuesOf(x).every((v) => v >= 0.3))),
      { numRuns: RUNS },
    );
  });

  it('tensorArb separation keeps every pair apart', () => {
    fc.assert(
      fc.property(tensorArb({ shape: [3, 3], separation: 0.1, awayFrom: [0] }), (x) => {
        const values = valuesOf(x).sort((a, b) => a - b);
        for (let i = 1; i < values.length; i++) assert.ok(values[i] - values[i - 1] >= 0.1 - 1e-12, `${values[i - 1]} and ${values[i]} are too close`);
      }),
      { numRuns: RUNS },
    );
    assert.throws(() => fc.sample(tensorArb({ shape: [100], separation: 1 }), 1), ValueError);
  });

  it('tensorArb makes integer, bool and float32 tensors', () => {
    fc.assert(
      fc.property(tensorArb({ dtype: 'int32', min: -2, max: 2 }), tensorArb({ dtype: 'bool' }), tensorArb({ dtype: 'float32', requiresGrad: true }), (i, b, f) => {
        assert.ok(valuesOf(i).every((v) => Number.isInteger(v) && v >= -2 && v <= 2));
        assert.ok(valuesOf(b).every((v) => v === 0 || v === 1));
        assert.equal(f.dtype, 'float32');
        assert.equal(f.requiresGrad, true);
      }),
      { numRuns: 20 },
    );
  });

  it('generated tensors carry a clone method', () => {
    // fast-check clones a value that carries fc.cloneMethod whenever it hands the value out again
    // (replays, shrinking). A copy keeps shape, strides and values but shares no storage.
    const inputs = fc.oneof(tensorArb({ shape: [2, 2], requiresGrad: true }), nonContiguousTensorArb({ shape: [2, 2], requiresGrad: true }).map((s) => s.view));
    fc.assert(
      fc.property(inputs, (original) => {
        assert.ok(fc.hasCloneMethod(original));
        const copy = fc.cloneIfNeeded(original);
        assert.notEqual(copy, original);
        assert.deepEqual([copy.shape, copy.strides, copy.offset, copy.requiresGrad], [original.shape, original.strides, original.offset, true]);
        const before = valuesOf(original);
        S.noGrad(() => copy.fill_(99));
        assert.deepEqual(valuesOf(original), before);
      }),
      { numRuns: 20 },
    );
  });

  it('nonContiguousTensorArb views are strided and match their contiguous twin', () => {
    fc.assert(
      fc.property(nonContiguousTensorArb({ requiresGrad: true }), ({ view, contiguous, layout }) => {
        assert.equal(view.isContiguous(), false, layout);
        assert.ok(contiguous.isContiguous());
        assert.notEqual(view.storage, contiguous.storage);
        assert.deepEqual(view.shape, contiguous.shape);
        assert.deepEqual(valuesOf(view), valuesOf(contiguous));
        assert.ok(view.isLeaf);
        assert.ok(view.requiresGrad);
        assert.ok(numel(view.shape) >= 2);
      }),
      { numRuns: RUNS },
    );
    assert.throws(() => fc.sample(nonContiguousTensorArb({ shape: [1, 1] }), 1), ValueError);
  });

  it('broadcastPairArb shapes broadcast to out', () => {
    let differentRanks = 0;
    let sizeOnes = 0;
    fc.assert(
      fc.property(broadcastPairArb({ minRank: 1 }), ({ a, b, out }) => {
        assert.deepEqual(broadcastShapes(a, b), out);
        if (a.length !== b.length) differentRanks++;
        if ([...a, ...b].includes(1)) sizeOnes++;
      }),
      { numRuns: RUNS },
    );
    assert.ok(differentRanks > 10, `only ${differentRanks} pairs of different ranks`);
    assert.ok(sizeOnes > 10, `only ${sizeOnes} pairs with size-1 dims`);
  });

  it('matmulShapesArb follows NumPy matmul rules', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(matmulShapesArb(), ({ a, b, out }) => {
        kinds.add(`${a.length === 1 ? 'vector' : a.length === 2 ? 'matrix' : 'batch'}·${b.length === 1 ? 'vector' : b.length === 2 ? 'matrix' : 'batch'}`);
        const left = a.length === 1 ? [1, ...a] : a;
        const right = b.length === 1 ? [...b, 1] : b;
        assert.equal(left[left.length - 1], right[right.length - 2]);
        const batch = broadcastShapes(left.slice(0, -2), right.slice(0, -2));
        assert.ok(batch !== null);
        const expected = [...batch, ...(a.length === 1 ? [] : [left[left.length - 2]]), ...(b.length === 1 ? [] : [right[right.length - 1]])];
        assert.deepEqual(out, expected);
      }),
      { numRuns: 200 },
    );
    for (const kind of ['vector·vector', 'vector·matrix', 'matrix·vector', 'matrix·matrix', 'batch·batch', 'vector·batch', 'batch·vector']) {
      assert.ok(kinds.has(kind), `no ${kind} case in 200 samples`);
    }
  });
});

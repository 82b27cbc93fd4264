import assert from 'node:assert/strict';

import fc from 'fast-check';

import { mulberry32, randomPermutation } from '../data/random.js';

/**
 * mulberry32 computed again with BigInt arithmetic modulo 2^32, independent of the Int32 tricks
 * (`| 0`, Math.imul, `>>> 0`) the implementation relies on.
 */
function referenceMulberry32(seed: number, draws: number): number[] {
  const modulus = 1n << 32n;
  const wrap = (value: bigint) => ((value % modulus) + modulus) % modulus;

  let state = wrap(BigInt(seed));
  const outputs: number[] = [];
  for (let i = 0; i < draws; i++) {
    state = wrap(state + 0x6d2b79f5n);
    let word = wrap((state ^ (state >> 15n)) * (state | 1n));
    word = word ^ wrap(word + wrap((word ^ (word >> 7n)) * (word | 61n)));
    word = word ^ (word >> 14n);
    outputs.push(Number(word) / 2 ** 32);
  }
  return outputs;
}

/** Pearson's chi-square statistic of observed counts against equal expected counts. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((sum, count) => sum + count, 0);
  const expected = total / counts.length;
  return counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
}

describe('data/random', () => {
  describe('mulberry32', () => {
    it('matches a BigInt reference', () => {
      for (const seed of [0, 1, 42, -7, 2 ** 31 - 1, 123456789]) {
        const random = mulberry32(seed);
        const actual = Array.from({ length: 200 }, () => random());

        assert.deepEqual(actual, referenceMulberry32(seed, 200), `seed ${seed}`);
      }
    });

    it('returns floats in [0, 1)', () => {
      fc.assert(
        fc.property(fc.integer(), (seed) => {
          const random = mulberry32(seed);
          for (let i = 0; i < 100; i++) {
            const value = random();
            assert.ok(value >= 0, `seed ${seed}, draw ${i}: ${value}`);
            assert.ok(value < 1, `seed ${seed}, draw ${i}: ${value}`);
          }
        }),
      );
    });

    it('repeats for the same seed', () => {
      const first = mulberry32(7);
      const second = mulberry32(7);

      for (let i = 0; i < 50; i++) {
        assert.equal(first(), second());
      }
    });

    it('fills ten bins evenly', () => {
      const random = mulberry32(2024);
      const counts = new Array<number>(10).fill(0);
      for (let i = 0; i < 20000; i++) {
        counts[Math.floor(random() * 10)]! += 1;
      }

      // 27.88 is the chi-square critical value for 9 degrees of freedom at p = 0.001.
      assert.ok(chiSquare(counts) < 27.88, `counts ${counts.join(', ')}`);
    });

    it('rejects a fractional seed', () => {
      assert.throws(() => mulberry32(0.5), /seed must be an integer, but got 0.5/);
    });
  });

  describe('randomPermutation', () => {
    it('returns each index once', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 200 }), fc.integer(), (n, seed) => {
          const permutation = randomPermutation(n, seed);
          const sorted = Array.from(permutation).sort((a, b) => a - b);

          assert.deepEqual(sorted, Array.from({ length: n }, (_, i) => i));
        }),
      );
    });

    it('repeats for the same seed', () => {
      assert.deepEqual(randomPermutation(50, 3), randomPermutation(50, 3));
      assert.notDeepEqual(randomPermutation(50, 3), randomPermutation(50, 4));
    });

    it('makes all orders of three equally likely across seeds', () => {
      const counts = new Map<string, number>();
      for (let seed = 0; seed < 6000; seed++) {
        const key = Array.from(randomPermutation(3, seed)).join('');
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }

      assert.equal(counts.size, 6);
      // 20.52 is the chi-square critical value for 5 degrees of freedom at p = 0.001.
      assert.ok(chiSquare([...counts.values()]) < 20.52, JSON.stringify([...counts]));
    });

    it('rejects a negative length', () => {
      assert.throws(() => randomPermutation(-1, 0), /n must be a non-negative integer, but got -1/);
    });
  });
});

/**
 * A small seeded pseudo-random number generator, so dataset splits and batch orders repeat
 * exactly across runs and machines (Math.random cannot be seeded).
 */

/** A function returning uniform floats in [0, 1). */
export type RandomSource = () => number;

/**
 * Creates a mulberry32 generator, Tommy Ettinger's 32-bit generator released to the public
 * domain in 2017 (https://gist.github.com/tommyettinger/46a874533244883189143505d203312c).
 * Each draw is a Weyl sequence step followed by an integer mix. The period is 2^32, which is
 * ample for shuffling datasets but not for cryptography or long simulations.
 *
 * The seed must be an integer. Only its low 32 bits are used.
 */
export function mulberry32(seed: number): RandomSource {
  if (!Number.isInteger(seed)) {
    throw new RangeError(`mulberry32: seed must be an integer, but got ${seed}`);
  }

  let state = seed | 0;

  return () => {
    // Advance the state by an odd constant, so every 32-bit value is visited once per period.
    state = (state + 0x6d2b79f5) | 0;

    // Mix the state into an output word with xor-shifts and odd multipliers.
    let word = Math.imul(state ^ (state >>> 15), state | 1);
    word ^= word + Math.imul(word ^ (word >>> 7), word | 61);
    word ^= word >>> 14;

    return (word >>> 0) / 0x1_0000_0000;
  };
}

/** Returns a uniform integer in [0, n) drawn from `random`. */
export function randomInt(random: RandomSource, n: number): number {
  return Math.floor(random() * n);
}

/**
 * Returns a uniformly random permutation of 0, 1, ..., n - 1 (like torch.randperm), by a
 * Fisher-Yates shuffle driven by mulberry32(seed).
 */
export function randomPermutation(n: number, seed: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`randomPermutation: n must be a non-negative integer, but got ${n}`);
  }

  const random = mulberry32(seed);
  const permutation = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    permutation[i] = i;
  }

  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const swap = permutation[i]!;
    permutation[i] = permutation[j]!;
    permutation[j] = swap;
  }

  return permutation;
}

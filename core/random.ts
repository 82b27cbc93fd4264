/**
 * Seeded random numbers. Every random tensor and dropout mask draws from a `Generator`, by default
 * the global one that `manualSeed` resets, so a run with the same seed repeats exactly.
 */
import { ValueError } from './errors.js';

/**
 * xoshiro128** (Blackman and Vigna, 2018): 128 bits of state, 32-bit outputs, fast in JavaScript
 * because it needs only 32-bit integer operations. The state is seeded through splitmix32 so that
 * nearby seeds give unrelated streams.
 */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;
  private seedValue = 0;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    if (!Number.isFinite(seed)) throw new ValueError(`manualSeed: seed must be a finite number, got ${seed}`);
    this.seedValue = seed;
    let x = (Math.floor(seed) ^ Math.floor(seed / 2 ** 32)) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    this.spareNormal = null;
    return this;
  }

  initialSeed(): number {
    return this.seedValue;
  }

  /** Returns the next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Returns a uniform double in [0, 1) with 53 random bits. */
  random(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Returns a standard normal sample (Box-Muller, caching the second value of each pair). */
  normal(): number {
    if (this.spareNormal !== null) {
      const value = this.spareNormal;
      this.spareNormal = null;
      return value;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }

  /** Returns an integer uniformly drawn from [low, high). */
  randint(low: number, high: number): number {
    return low + Math.floor(this.random() * (high - low));
  }

  /** Captures the state so that `setState` can replay the stream from here. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.seedValue];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 5) throw new ValueError(`Generator.setState: expected 5 numbers from getState(), got ${state.length}`);
    [this.s0, this.s1, this.s2, this.s3, this.seedValue] = state;
    this.spareNormal = null;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator that random functions use when none is passed. */
export const defaultGenerator = new Generator(0);

/** Reseeds the default generator, as `torch.manual_seed` does. */
export function manualSeed(seed: number): Generator {
  return defaultGenerator.manualSeed(seed);
}

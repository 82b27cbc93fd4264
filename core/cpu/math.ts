/** Scalar functions that JavaScript's Math lacks. */

/**
 * The error function, to about 1e-15 relative error in double precision: a Taylor series near
 * zero and the continued fraction of erfc (evaluated by Lentz's method) in the tails.
 */
export function erf(x: number): number {
  if (x !== x) return NaN;
  const a = Math.abs(x);
  if (a < 2.5) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); converges fast for small |x|.
    let term = a;
    let sum = a;
    const x2 = a * a;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const delta = term / (2 * n + 1);
      sum += delta;
      if (Math.abs(delta) < 1e-17 * Math.abs(sum)) break;
    }
    const value = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -value : value;
  }
  if (a > 6) return x < 0 ? -1 : 1;
  const value = 1 - erfcContinuedFraction(a);
  return x < 0 ? -value : value;
}

/** erfc(x) for x > 0 from its continued fraction, accurate for x >= 2. */
function erfcContinuedFraction(x: number): number {
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = x + an * d;
    d = d === 0 ? tiny : 1 / d;
    c = x + an / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

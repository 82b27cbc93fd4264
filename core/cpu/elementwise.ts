/**
 * CPU elementwise kernels: unary maps, broadcasting binary ops, where and clamp. Each op has its
 * own inner loop over one row, so the per-element work is a single expression with no call.
 */
import type { BinaryOp, InPlaceBinaryOp, UnaryOp } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { erf } from './math.js';

type Rows = TypedArray;

/** Applies a unary op to `n` elements: `out[o + j] = f(x[ix + j * sx])`. */
export type UnaryRow = (out: Rows, o: number, x: Rows, ix: number, sx: number, n: number) => void;

function unaryRow(f: (v: number) => number): UnaryRow {
  // One closure per row, not per element: the engine inlines `f` into this loop when it is monomorphic.
  return (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = f(x[ix]);
  };
}

export const UNARY_ROWS: Record<UnaryOp, UnaryRow> = {
  neg: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = -x[ix];
  },
  exp: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = Math.exp(x[ix]);
  },
  log: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = Math.log(x[ix]);
  },
  log1p: unaryRow(Math.log1p),
  expm1: unaryRow(Math.expm1),
  sqrt: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = Math.sqrt(x[ix]);
  },
  rsqrt: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = 1 / Math.sqrt(x[ix]);
  },
  abs: unaryRow(Math.abs),
  sign: unaryRow((v) => (v > 0 ? 1 : v < 0 ? -1 : v)),
  sin: unaryRow(Math.sin),
  cos: unaryRow(Math.cos),
  tanh: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = Math.tanh(x[ix]);
  },
  sigmoid: (out, o, x, ix, sx, n) => {
    // Two branches keep exp's argument non-positive, so neither overflows for large |v|.
    for (let j = 0; j < n; j++, ix += sx) {
      const v = x[ix];
      if (v >= 0) {
        out[o + j] = 1 / (1 + Math.exp(-v));
      } else {
        const e = Math.exp(v);
        out[o + j] = e / (1 + e);
      }
    }
  },
  relu: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) {
      const v = x[ix];
      out[o + j] = v > 0 ? v : v !== v ? v : 0;
    }
  },
  erf: unaryRow(erf),
  reciprocal: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = 1 / x[ix];
  },
  square: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = x[ix] * x[ix];
  },
  floor: unaryRow(Math.floor),
  ceil: unaryRow(Math.ceil),
  // Round half to even, as PyTorch and NumPy do.
  round: unaryRow((v) => {
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }),
  logical_not: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = x[ix] ? 0 : 1;
  },
  isnan: (out, o, x, ix, sx, n) => {
    for (let j = 0; j < n; j++, ix += sx) out[o + j] = x[ix] !== x[ix] ? 1 : 0;
  },
  isfinite: unaryRow((v) => (Number.isFinite(v) ? 1 : 0)),
};

/** Applies a binary op to `n` elements of two strided rows. */
export type BinaryRow = (out: Rows, o: number, a: Rows, ia: number, sa: number, b: Rows, ib: number, sb: number, n: number) => void;

export const BINARY_ROWS: Record<BinaryOp, BinaryRow> = {
  add: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] + b[ib];
  },
  sub: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] - b[ib];
  },
  mul: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] * b[ib];
  },
  div: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] / b[ib];
  },
  pow: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = Math.pow(a[ia], b[ib]);
  },
  // maximum and minimum propagate NaN, as PyTorch's do (Math.max would too, but this is explicit).
  maximum: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) {
      const x = a[ia];
      const y = b[ib];
      out[o + j] = x !== x || y !== y ? NaN : x > y ? x : y;
    }
  },
  minimum: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) {
      const x = a[ia];
      const y = b[ib];
      out[o + j] = x !== x || y !== y ? NaN : x < y ? x : y;
    }
  },
  eq: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] === b[ib] ? 1 : 0;
  },
  ne: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] !== b[ib] ? 1 : 0;
  },
  lt: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] < b[ib] ? 1 : 0;
  },
  le: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] <= b[ib] ? 1 : 0;
  },
  gt: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] > b[ib] ? 1 : 0;
  },
  ge: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] >= b[ib] ? 1 : 0;
  },
  logical_and: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] && b[ib] ? 1 : 0;
  },
  logical_or: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let j = 0; j < n; j++, ia += sa, ib += sb) out[o + j] = a[ia] || b[ib] ? 1 : 0;
  },
};

/** Updates `n` elements of a strided row of `x` in place, `x ← x op (alpha · y)`, from a strided row of `y`. */
export type InPlaceRow = (x: Rows, ix: number, sx: number, y: Rows, iy: number, sy: number, n: number, alpha: number) => void;

export const IN_PLACE_ROWS: Record<InPlaceBinaryOp, InPlaceRow> = {
  add: (x, ix, sx, y, iy, sy, n, alpha) => {
    if (alpha === 1) {
      for (let j = 0; j < n; j++, ix += sx, iy += sy) x[ix] += y[iy];
    } else {
      for (let j = 0; j < n; j++, ix += sx, iy += sy) x[ix] += alpha * y[iy];
    }
  },
  sub: (x, ix, sx, y, iy, sy, n, alpha) => {
    for (let j = 0; j < n; j++, ix += sx, iy += sy) x[ix] -= alpha * y[iy];
  },
  mul: (x, ix, sx, y, iy, sy, n) => {
    for (let j = 0; j < n; j++, ix += sx, iy += sy) x[ix] *= y[iy];
  },
  div: (x, ix, sx, y, iy, sy, n) => {
    for (let j = 0; j < n; j++, ix += sx, iy += sy) x[ix] /= y[iy];
  },
};

/**
 * Kernel code for each elementwise op: a function that emits statements into a KernelBuilder
 * and returns the expression of the result.
 *
 * GLSL compilers may simplify floating-point expressions algebraically (Mesa folds `v - v` to 0
 * and `(1 + v) - 1` to `v`), so nothing here relies on exact cancellation. Functions that lose
 * relative accuracy near 0 use a short Taylor series there instead, and infinities come from a
 * kernel argument because GLSL ES 1.0 has no literal for them (NaN too, since compilers fold
 * `inf * 0` to 0).
 */
import type { BinaryOp, UnaryOp } from '../../core/backend.js';
import type { KernelBuilder } from '../codegen.js';

/** Emits code for `op(v)` and returns the result expression. */
export type UnaryCode = (b: KernelBuilder, v: string) => string;
/** Emits code for `op(x, y)` and returns the result expression. */
export type BinaryCode = (b: KernelBuilder, x: string, y: string) => string;

/** Declares a variable holding `expression` and returns its name. */
function define(b: KernelBuilder, expression: string): string {
  const name = b.temporary('t');
  b.line(`let ${name} = ${expression};`);
  return name;
}

/** `v` is NaN: the one comparison that is false for NaN only, and that Mesa keeps. */
const isNan = (v: string): string => `${v} != ${v}`;

/** JavaScript truthiness of a number, as the CPU backend applies it to bool and logical ops. */
const truthy = (v: string): string => `(${v} != 0 && ${v} == ${v})`;

export const UNARY_CODE: Record<UnaryOp, UnaryCode> = {
  neg: (_b, v) => `-${v}`,
  exp: (_b, v) => `Math.exp(${v})`,
  log: (_b, v) => `Math.log(${v})`,
  // log(1 + v) loses digits for small |v|: below 0.1 the series to v^8/8 is accurate to 1e-10.
  log1p: (b, v) => {
    const out = define(b, `Math.log(1 + ${v})`);
    b.line(
      `if (Math.abs(${v}) < 0.1) { ${out} = ${v} * (1 - ${v} * (0.5 - ${v} * (0.3333333333 - ${v} * (0.25 - ${v} * (0.2 - ${v} * (0.1666666667 - ${v} * (0.1428571429 - ${v} * 0.125))))))); }`,
    );
    return out;
  },
  // exp(v) - 1 cancels for small |v|: below 0.1 the series to v^8/8! is accurate to 1e-15.
  expm1: (b, v) => {
    const out = define(b, `Math.exp(${v}) - 1`);
    b.line(
      `if (Math.abs(${v}) < 0.1) { ${out} = ${v} * (1 + ${v} * (0.5 + ${v} * (0.1666666667 + ${v} * (0.04166666667 + ${v} * (0.008333333333 + ${v} * (0.001388888889 + ${v} * (0.0001984126984 + ${v} * 0.0000248015873))))))); }`,
    );
    return out;
  },
  sqrt: (_b, v) => `Math.sqrt(${v})`,
  rsqrt: (_b, v) => `1 / Math.sqrt(${v})`,
  abs: (_b, v) => `Math.abs(${v})`,
  // Keeps NaN and the sign of zero, as Math.sign does.
  sign: (_b, v) => `(${v} > 0 ? 1 : (${v} < 0 ? -1 : ${v}))`,
  sin: (_b, v) => `Math.sin(${v})`,
  cos: (_b, v) => `Math.cos(${v})`,
  // (1 - e) / (1 + e) with e = exp(-2|v|) never overflows; below |v| = 0.25 it cancels, so
  // the odd series to v^9 (accurate to 2e-9 there) takes over.
  tanh: (b, v) => {
    const e = define(b, `Math.exp(-2 * Math.abs(${v}))`);
    const magnitude = define(b, `(1 - ${e}) / (1 + ${e})`);
    const square = define(b, `${v} * ${v}`);
    b.line(
      `if (Math.abs(${v}) < 0.25) { ${magnitude} = Math.abs(${v}) * (1 - ${square} * (0.3333333333 - ${square} * (0.1333333333 - ${square} * (0.05396825397 - ${square} * 0.02186948854)))); }`,
    );
    return `(${v} < 0 ? -${magnitude} : (${isNan(v)} ? ${v} : ${magnitude}))`;
  },
  // Two branches keep exp's argument at or below 0, so neither overflows.
  sigmoid: (b, v) => {
    const e = define(b, `Math.exp(-Math.abs(${v}))`);
    return `(${v} >= 0 ? 1 / (1 + ${e}) : ${e} / (1 + ${e}))`;
  },
  relu: (_b, v) => `(${v} > 0 ? ${v} : (${isNan(v)} ? ${v} : 0))`,
  erf: (b, v) => erfCode(b, v),
  reciprocal: (_b, v) => `1 / ${v}`,
  square: (_b, v) => `${v} * ${v}`,
  floor: (_b, v) => `Math.floor(${v})`,
  ceil: (_b, v) => `Math.ceil(${v})`,
  // Round half to even, as PyTorch and the CPU backend do.
  round: (b, v) => {
    const rounded = define(b, `Math.floor(${v} + 0.5)`);
    b.line(`if (${rounded} - ${v} == 0.5 && Math.floor(${rounded} * 0.5) * 2 != ${rounded}) { ${rounded} = ${rounded} - 1; }`);
    return rounded;
  },
  logical_not: (_b, v) => `(${truthy(v)} ? 0 : 1)`,
  isnan: (_b, v) => `(${isNan(v)} ? 1 : 0)`,
  isfinite: (b, v) => {
    const infinity = b.infinity();
    return `((${isNan(v)} || ${v} == ${infinity} || ${v} == -${infinity}) ? 0 : 1)`;
  },
};

/**
 * erf in float32: the odd Taylor series to x^11 below |x| = 0.5 (error under 2e-8 there) and
 * Abramowitz and Stegun's formula 7.1.26, 1 - (a1 t + ... + a5 t^5) exp(-x^2) with
 * t = 1 / (1 + 0.3275911 |x|), above it (absolute error under 1.5e-7).
 */
function erfCode(b: KernelBuilder, v: string): string {
  const x = define(b, `Math.abs(${v})`);
  const t = define(b, `1 / (1 + 0.3275911 * ${x})`);
  const poly = `${t} * (0.254829592 + ${t} * (-0.284496736 + ${t} * (1.421413741 + ${t} * (-1.453152027 + ${t} * 1.061405429))))`;
  const magnitude = define(b, `1 - ${poly} * Math.exp(-${x} * ${x})`);
  const square = define(b, `${x} * ${x}`);
  // 2/sqrt(pi) * (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320)
  b.line(
    `if (${x} < 0.5) { ${magnitude} = 1.128379167 * ${x} * (1 - ${square} * (0.3333333333 - ${square} * (0.1 - ${square} * (0.02380952381 - ${square} * (0.00462962963 - ${square} * 0.0007575757576))))); }`,
  );
  return `(${v} < 0 ? -${magnitude} : (${isNan(v)} ? ${v} : ${magnitude}))`;
}

/** NaN when either input is NaN (adding them propagates it), else `choice`. */
function propagateNan(x: string, y: string, choice: string): string {
  return `((${isNan(x)} || ${isNan(y)}) ? ${x} + ${y} : ${choice})`;
}

const compare = (operator: string): BinaryCode => (_b, x, y) => `(${x} ${operator} ${y} ? 1 : 0)`;

export const BINARY_CODE: Record<BinaryOp, BinaryCode> = {
  add: (_b, x, y) => `${x} + ${y}`,
  sub: (_b, x, y) => `${x} - ${y}`,
  mul: (_b, x, y) => `${x} * ${y}`,
  div: (_b, x, y) => `${x} / ${y}`,
  pow: (b, x, y) => powCode(b, x, y),
  maximum: (_b, x, y) => propagateNan(x, y, `(${x} > ${y} ? ${x} : ${y})`),
  minimum: (_b, x, y) => propagateNan(x, y, `(${x} < ${y} ? ${x} : ${y})`),
  eq: compare('=='),
  ne: compare('!='),
  lt: compare('<'),
  le: compare('<='),
  gt: compare('>'),
  ge: compare('>='),
  logical_and: (_b, x, y) => `((${truthy(x)} && ${truthy(y)}) ? 1 : 0)`,
  logical_or: (_b, x, y) => `((${truthy(x)} || ${truthy(y)}) ? 1 : 0)`,
};

/**
 * x^y with JavaScript's rules. GLSL's pow is exp2(y log2 x), undefined for x <= 0, so the
 * magnitude is taken from |x| and the sign from the parity of an integer y; a negative x with a
 * non-integer y gives NaN, 0^y gives 0 or Infinity, and x^0 is 1 even for NaN.
 */
function powCode(b: KernelBuilder, x: string, y: string): string {
  const infinity = b.infinity();
  const out = define(b, `Math.pow(Math.abs(${x}), ${y})`);
  b.line(`if (${x} < 0) {`);
  b.line(`  if (Math.floor(${y}) != ${y}) { ${out} = ${b.nan()}; }`);
  b.line(`  else if (Math.floor(${y} * 0.5) * 2 != ${y}) { ${out} = -${out}; }`);
  b.line(`}`);
  b.line(`if (${x} == 0) { ${out} = ${y} > 0 ? 0 : ${infinity}; }`);
  b.line(`if (${y} == 0) { ${out} = 1; }`);
  return out;
}

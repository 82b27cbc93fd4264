/**
 * Loading a state dict into a module's tensors. Every key and shape is checked before the first
 * copy, so a failed load leaves the module unchanged.
 */
import { Tensor, ValueError, formatShape, noGrad } from '../index.js';

export interface LoadStateDictOptions {
  /** Require the keys to match exactly (default true). Shapes must always match. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  /** Keys the module expects that the state does not contain. */
  missingKeys: string[];
  /** Keys of the state that the module does not have. */
  unexpectedKeys: string[];
}

/** A key present on both sides whose tensors have different shapes. */
export interface MismatchedKey {
  key: string;
  expected: number[];
  got: number[];
}

/** Thrown by `loadStateDict` when keys or shapes do not match; nothing has been copied. */
export class StateDictError extends ValueError {
  constructor(
    message: string,
    readonly missingKeys: string[],
    readonly unexpectedKeys: string[],
    readonly mismatchedKeys: MismatchedKey[],
  ) {
    super(message);
  }
}

/**
 * Copies `state` into `targets` (the module's live parameters and persistent buffers by dotted
 * name) after checking keys and shapes. Values are cast to the target's dtype and moved to its
 * device; the copy runs under noGrad, so parameters that require grad can be written.
 */
export function loadStateDictInto(
  moduleName: string,
  targets: Map<string, Tensor>,
  state: Record<string, Tensor>,
  options: LoadStateDictOptions = {},
): LoadStateDictResult {
  const strict = options.strict ?? true;
  if (state === null || typeof state !== 'object') {
    throw new ValueError(`loadStateDict: expected a record of tensors by name, got ${String(state)}`);
  }

  const missingKeys = [...targets.keys()].filter((key) => !Object.hasOwn(state, key));
  const unexpectedKeys = Object.keys(state).filter((key) => !targets.has(key));
  const mismatchedKeys: MismatchedKey[] = [];
  for (const [key, target] of targets) {
    if (!Object.hasOwn(state, key)) continue;
    const value = state[key];
    if (!(value instanceof Tensor)) {
      throw new ValueError(`loadStateDict: the value of '${key}' must be a Tensor, got ${typeof value}; nothing was copied`);
    }
    if (!sameShape(value.shape, target.shape)) mismatchedKeys.push({ key, expected: target.shape, got: value.shape });
  }

  const keyProblems = strict && (missingKeys.length > 0 || unexpectedKeys.length > 0);
  if (keyProblems || mismatchedKeys.length > 0) {
    throw new StateDictError(
      formatLoadError(moduleName, strict ? missingKeys : [], strict ? unexpectedKeys : [], mismatchedKeys),
      missingKeys,
      unexpectedKeys,
      mismatchedKeys,
    );
  }

  noGrad(() => {
    for (const [key, target] of targets) {
      if (!Object.hasOwn(state, key)) continue;
      const value = state[key];
      target.copy_(value.device === target.device ? value : value.to(target.device));
    }
  });
  return { missingKeys, unexpectedKeys };
}

function formatLoadError(moduleName: string, missing: string[], unexpected: string[], mismatched: MismatchedKey[]): string {
  const lines = [`loadStateDict: the state does not fit ${moduleName}; nothing was copied.`];
  if (missing.length > 0) lines.push(`  missing keys (${missing.length}): ${missing.join(', ')}`);
  if (unexpected.length > 0) lines.push(`  unexpected keys (${unexpected.length}): ${unexpected.join(', ')}`);
  if (mismatched.length > 0) {
    lines.push(`  mis-shaped keys (${mismatched.length}):`);
    for (const { key, expected, got } of mismatched) lines.push(`    ${key}: expected ${formatShape(expected)}, got ${formatShape(got)}`);
  }
  lines.push('Pass { strict: false } to ignore missing and unexpected keys; shapes must match in either mode.');
  return lines.join('\n');
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, d) => size === b[d]);
}

/**
 * Hyperparameter checks shared by the optimizers. Each throws a ValueError that names the
 * optimizer, the hyperparameter, the value received, where it came from and the valid range.
 * `where` is "" for the defaults and " in parameter group N" for a group.
 */
import { ValueError } from '../../index.js';

export function checkNumber(op: string, name: string, value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValueError(`${op}: invalid ${name} ${String(value)}${where}; expected a finite number`);
  }
  return value;
}

export function checkNonNegative(op: string, name: string, value: unknown, where: string): number {
  const number = checkNumber(op, name, value, where);
  if (number < 0) throw new ValueError(`${op}: invalid ${name} ${number}${where}; it must be >= 0`);
  return number;
}

export function checkBoolean(op: string, name: string, value: unknown, where: string): boolean {
  if (typeof value !== 'boolean') {
    throw new ValueError(`${op}: invalid ${name} ${String(value)}${where}; expected true or false`);
  }
  return value;
}

/** Adam's betas: two decay rates, each in [0, 1) so that the running averages forget. */
export function checkBetas(op: string, value: unknown, where: string): readonly [number, number] {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ValueError(`${op}: invalid betas ${JSON.stringify(value)}${where}; expected two numbers [beta1, beta2]`);
  }
  value.forEach((beta: unknown, i) => {
    const number = checkNumber(op, `beta${i + 1}`, beta, where);
    if (number < 0 || number >= 1) {
      throw new ValueError(`${op}: invalid beta${i + 1} ${number}${where}; it must be in [0, 1)`);
    }
  });
  return value as unknown as readonly [number, number];
}

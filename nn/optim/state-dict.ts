/**
 * The serialised form of optimizer state. Tensors become `{ shape, dtype, data }` with `data` a
 * plain number array in row-major order. A state dict survives `JSON.stringify` and `JSON.parse`
 * unchanged, because every float32 and float64 value is a JavaScript number and JSON writes
 * numbers with enough digits to read back the same double.
 *
 * NOTE: JSON has no NaN, Infinity or -0. `JSON.stringify` writes NaN and Infinity as null, which
 * loadStateDict rejects with an error naming the entry, and writes -0 as 0. The state dict object
 * itself keeps every value, so save a diverged run in a binary format instead of JSON.
 */
import { type DType, Tensor, ValueError, formatShape, tensor } from '../../index.js';

/** A value in a parameter group: a hyperparameter, or a string for the group's `name`. */
export type HyperparameterValue = number | boolean | string | readonly number[];

export interface SerializedTensor {
  shape: number[];
  dtype: DType;
  data: number[];
}

/** One parameter's state: buffers as serialised tensors, counters as numbers. */
export type SerializedParamState = Record<string, SerializedTensor | number>;

/** A parameter group as saved: its hyperparameters, and its parameters as indices across groups. */
export type SerializedParamGroup = { params: number[] } & Record<string, HyperparameterValue>;

export interface OptimizerStateDict {
  /** Per-parameter state keyed by the parameter's index across all groups ("0", "1", ...). */
  state: Record<string, SerializedParamState>;
  paramGroups: SerializedParamGroup[];
  /** Completed `step()` calls. */
  stepCount: number;
}

const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool'];

/** Copies a tensor's values (from any device) into a serialisable record. */
export function serializeTensor(x: Tensor): SerializedTensor {
  return { shape: x.shape, dtype: x.dtype, data: Array.from(x.toTypedArray()) };
}

/**
 * Rebuilds a tensor from `serializeTensor` output, cast to the dtype of `like` and put on its device.
 * `where` names the entry in error messages (for example "state[3].expAvg").
 */
export function deserializeTensor(op: string, where: string, saved: unknown, like: Tensor): Tensor {
  if (!isSerializedTensor(saved)) {
    throw new ValueError(`${op}: ${where} is not a serialised tensor; expected { shape: number[], dtype, data: number[] } as written by stateDict()`);
  }
  const size = saved.shape.reduce((product, extent) => product * extent, 1);
  if (saved.data.length !== size) {
    throw new ValueError(`${op}: ${where} has shape ${formatShape(saved.shape)} (${size} elements) but ${saved.data.length} values`);
  }
  const badIndex = saved.data.findIndex((value) => typeof value !== 'number');
  if (badIndex >= 0) {
    throw new ValueError(
      `${op}: ${where}.data[${badIndex}] is ${String(saved.data[badIndex])}, not a number; JSON turns NaN and Infinity into null, so such a state cannot be restored from JSON`,
    );
  }

  const restored = tensor(Float64Array.from(saved.data), { dtype: saved.dtype, shape: saved.shape });
  const cast = restored.dtype === like.dtype ? restored : restored.to(like.dtype);
  return cast.device === like.device ? cast : cast.to(like.device);
}

export function isSerializedTensor(value: unknown): value is SerializedTensor {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Partial<SerializedTensor>;
  return (
    Array.isArray(record.shape) &&
    record.shape.every((extent) => Number.isInteger(extent) && extent >= 0) &&
    typeof record.dtype === 'string' &&
    DTYPES.includes(record.dtype) &&
    Array.isArray(record.data)
  );
}

/** Copies a hyperparameter value so that a saved state dict does not alias the live group. */
export function copyHyperparameter(value: HyperparameterValue): HyperparameterValue {
  return Array.isArray(value) ? [...(value as readonly number[])] : value;
}

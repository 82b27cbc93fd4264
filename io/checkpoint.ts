/**
 * Model checkpoints as safetensors files: a module's stateDict (or any map of tensors) written
 * atomically, and read back with every header check done before any tensor is built.
 */
import { ValueError, formatShape } from '../core/errors.js';
import type { TensorRecord } from '../core/safetensors.js';
import { Tensor } from '../core/tensor.js';
import type { Module } from '../nn/module.js';
import type { LoadStateDictResult } from '../nn/state-dict.js';
import { tensor } from '../ops/creation.js';
import { loadSafetensorsFile, saveSafetensorsFile } from './safetensors-file.js';

/** Converts a tensor to a safetensors record (float32 -> F32, float64 -> F64, int32 -> I32, bool -> BOOL). */
export function tensorToRecord(t: Tensor): TensorRecord {
  const data = t.toTypedArray();
  switch (t.dtype) {
    case 'float32':
      return { dtype: 'F32', shape: t.shape, data: data as Float32Array };
    case 'float64':
      return { dtype: 'F64', shape: t.shape, data: data as Float64Array };
    case 'int32':
      return { dtype: 'I32', shape: t.shape, data: data as Int32Array };
    case 'bool':
      return { dtype: 'BOOL', shape: t.shape, data: data as Uint8Array };
  }
}

/** Converts a decoded record to a CPU tensor; F16 and BF16 arrive as float32 values. */
export function recordToTensor(name: string, record: TensorRecord): Tensor {
  const data = record.data;
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) {
    return tensor(data, { shape: record.shape });
  }
  if (record.dtype === 'BOOL') return tensor(data as Uint8Array, { shape: record.shape, dtype: 'bool' });
  if (data instanceof BigInt64Array) {
    const values = new Int32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v > 2147483647n || v < -2147483648n) throw new ValueError(`tensor '${name}' (I64, shape ${formatShape(record.shape)}) holds ${v}, which does not fit in int32`);
      values[i] = Number(v);
    }
    return tensor(values, { shape: record.shape, dtype: 'int32' });
  }
  // I8, I16 and U8 widen to int32.
  return tensor(Int32Array.from(data as ArrayLike<number>), { shape: record.shape, dtype: 'int32' });
}

/** Writes tensors to a safetensors file atomically (temporary file, then rename). */
export async function saveTensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  const records: Record<string, TensorRecord> = {};
  for (const [name, t] of Object.entries(tensors)) records[name] = tensorToRecord(t);
  await saveSafetensorsFile(path, records, metadata);
}

export async function loadTensors(path: string): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const decoded = await loadSafetensorsFile(path);
  const tensors: Record<string, Tensor> = {};
  for (const [name, record] of Object.entries(decoded.tensors)) tensors[name] = recordToTensor(name, record);
  return { tensors, metadata: decoded.metadata };
}

/** Saves `module.stateDict()` as a safetensors file. */
export async function saveModel(module: Module, path: string, metadata?: Record<string, string>): Promise<void> {
  await saveTensors(path, module.stateDict(), metadata);
}

/** Loads a safetensors file into `module` through loadStateDict (strict by default). */
export async function loadModel(module: Module, path: string, options: { strict?: boolean } = {}): Promise<LoadStateDictResult> {
  const { tensors } = await loadTensors(path);
  return module.loadStateDict(tensors, options);
}

/** Reading and writing safetensors files on disk; the format itself is in `core/safetensors.ts`. */
import { readFile } from 'node:fs/promises';

import {
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  type DecodedSafetensors,
  type SafetensorsDecodeOptions,
  type TensorRecord,
} from '../core/safetensors.js';
import { writeFileAtomic } from './atomic.js';

/**
 * Encodes `tensors` and writes them to `path` atomically, so an interrupted save leaves the
 * previous checkpoint intact. Invalid records throw `SafetensorsError` before the file is touched.
 */
export async function saveSafetensorsFile(path: string, tensors: Record<string, TensorRecord>, metadata?: Record<string, string>): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  await writeFileAtomic(path, bytes);
}

/**
 * Reads and decodes the safetensors file at `path`. A file that cannot be read throws an Error
 * that names the path and carries the fs error as `cause` and its `code`. A malformed file throws
 * `SafetensorsError` with `path` set.
 *
 * NOTE: the whole file is read into memory, and Node 20's readFile rejects files of 2 GiB or
 * more (ERR_FS_FILE_TOO_LARGE), so larger checkpoints need a streaming reader.
 */
export async function loadSafetensorsFile(path: string, options?: SafetensorsDecodeOptions): Promise<DecodedSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw Object.assign(new Error(`safetensors: failed to read "${path}": ${reason}`, { cause: error }), {
      code: (error as NodeJS.ErrnoException).code,
    });
  }

  try {
    return decodeSafetensors(bytes, options);
  } catch (error) {
    if (!(error instanceof SafetensorsError)) throw error;
    throw new SafetensorsError(error.code, error.detail, { tensor: error.tensor, byteOffset: error.byteOffset, path });
  }
}

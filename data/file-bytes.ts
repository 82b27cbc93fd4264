/**
 * Reads a dataset file into memory, gunzipping it when it starts with the gzip magic bytes, so
 * `train-images-idx3-ubyte` and `train-images-idx3-ubyte.gz` load the same way.
 */

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import { DatasetError, describeCause } from './errors.js';

/** The two bytes every gzip stream starts with (RFC 1952, section 2.3.1). */
export const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** Returns whether `bytes` starts with the gzip magic bytes. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/**
 * Returns the contents of `path`, decompressed when gzipped. `format` ('IDX', 'CSV') starts the
 * error messages, which name the file and the reason it could not be read.
 */
export function readFileBytes(path: string, format: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new DatasetError(`${format} file ${path}: cannot be read (${describeCause(cause)}); check the path`, {
      file: path,
      cause,
    });
  }

  if (!isGzip(bytes)) {
    return bytes;
  }

  try {
    return gunzipSync(bytes);
  } catch (cause) {
    throw new DatasetError(
      `${format} file ${path}: starts with the gzip magic bytes 0x1f 0x8b, but the gzip stream is corrupt ` +
        `(zlib: ${describeCause(cause)}); download the file again or recompress it`,
      { file: path, cause },
    );
  }
}

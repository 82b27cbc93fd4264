/**
 * Error thrown for every malformed, mismatched or unreadable dataset input.
 *
 * The message names the file, the record (1-based line for CSV, element index for IDX) when
 * one is at fault, what was found, what was expected and what to do. `file` and `record` carry
 * the same facts for code that wants to react to them.
 */
export class DatasetError extends Error {
  override name = 'DatasetError';

  readonly file: string | undefined;
  readonly record: string | undefined;

  constructor(message: string, details: { file?: string; record?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.file = details.file;
    this.record = details.record;
  }
}

/** Formats an unknown thrown value as one line, for wrapping Node errors into a DatasetError. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    return cause.message;
  }
  return String(cause);
}

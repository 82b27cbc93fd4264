/**
 * Atomic file replacement: readers of `path` see either the old file or the complete new one,
 * never a partly written file, even if the process dies mid-write.
 */
import { randomBytes } from 'node:crypto';
import { open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `data` (a string is written as UTF-8) to `path` atomically: the bytes go to a temporary
 * file in the same directory, are flushed to disk with fsync, and the temporary file is renamed
 * over `path`. Rename within one file system replaces the target in one step (POSIX rename). On
 * failure the temporary file is removed and the error names `path`, with the fs error as `cause`.
 * An existing file keeps its permission bits, and a symbolic link is followed, so the file it
 * points to is replaced instead of the link.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const target = await resolveSymlink(path);
  const directory = dirname(target);
  const temporary = join(directory, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  let created = false;
  try {
    const existingMode = await modeOf(target);
    // 'wx' fails if the name is taken, so two writers can never share a temporary file.
    const handle = await open(temporary, 'wx');
    created = true;
    try {
      await handle.writeFile(data);
      if (existingMode !== undefined) await handle.chmod(existingMode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
    created = false;
  } catch (error) {
    if (created) await unlink(temporary).catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw Object.assign(new Error(`failed to write "${path}" atomically: ${reason}`, { cause: error }), {
      code: (error as NodeJS.ErrnoException).code,
    });
  }

  await syncDirectory(directory);
}

/** Returns the file a symbolic link points to, or `path` itself when it is no link or does not exist. */
async function resolveSymlink(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

async function modeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mode & 0o7777;
  } catch {
    return undefined;
  }
}

/**
 * Flushes the directory entry, so the rename itself survives a power loss. Best effort: some
 * platforms (Windows) cannot open a directory for fsync, and by now the new file is in place.
 */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The data is already written and renamed; only durability across a crash is weaker.
  }
}

/** Files the CLI reads or writes by default, located from the package root. */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Returns the folder holding the package's package.json. The CLI runs both from source
 * (`cli/main.ts` under tsx) and compiled (`dist/cli/main.js`), so the folder is found by walking
 * up instead of by a fixed number of `..` steps.
 */
export function packageRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) {
      throw new Error(`no package.json found above ${fileURLToPath(import.meta.url)}; the singlora CLI must run from its package`);
    }
    directory = parent;
  }
  return directory;
}

/** Returns the path of the pretrained base model that `finetune` adapts, committed with the package. */
export function defaultBasePath(): string {
  return join(packageRoot(), 'assets', 'vit-mnist-digits-0-4.safetensors');
}

/** Returns the path of the JSON description written next to a checkpoint: `model.safetensors` -> `model.json`. */
export function sidecarPath(checkpointPath: string): string {
  return checkpointPath.replace(/\.safetensors$/, '') + '.json';
}

/** Shortens a path to one relative to the current directory when that is shorter, for messages and tables. */
export function displayPath(path: string): string {
  const relativePath = relative(process.cwd(), path);
  return relativePath.length > 0 && relativePath.length < path.length ? relativePath : path;
}

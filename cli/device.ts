/** Preparing the device that `--device` names before any tensor is placed on it. */
import type { Device } from '../index.js';

/** Error for a device that cannot be used on this machine. */
export class DeviceUnavailableError extends Error {
  override name = 'DeviceUnavailableError';
}

/**
 * Registers the backend of `device`. The CPU backend is always registered; the gpu.js backend is
 * imported only when asked for, because it loads WebGL bindings that many machines lack.
 */
export async function prepareDevice(device: Device): Promise<void> {
  if (device === 'cpu') return;

  // A variable specifier keeps the import lazy and out of the type check, so the CLI also
  // builds in a checkout whose GPU backend is incomplete.
  const specifier = '../gpu/index.js';
  try {
    await import(specifier);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new DeviceUnavailableError(`--device gpu: the gpu.js backend could not be loaded (${reason}); run with --device cpu`, { cause });
  }
}

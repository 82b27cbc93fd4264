/**
 * Global switch for graph recording. Inside `noGrad` ops compute values only, which is what
 * optimizer updates and evaluation loops want; backward passes run with recording off unless
 * `createGraph` requests a differentiable gradient.
 */

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Sets recording on or off and returns the previous setting, so that callers can restore it. */
export function setGradEnabled(enabled: boolean): boolean {
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}

/** Runs `fn` with graph recording off, as `torch.no_grad()` does, and restores the previous mode. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with graph recording on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = setGradEnabled(enabled);
  try {
    const result = fn();
    if (result instanceof Promise) {
      throw new Error('noGrad/enableGrad: fn returned a Promise; grad mode is global, so wrap only synchronous work and await outside');
    }
    return result;
  } finally {
    setGradEnabled(previous);
  }
}

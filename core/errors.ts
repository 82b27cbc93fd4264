/**
 * Error types thrown by the library. Each one names the op, the shapes or values involved and,
 * where there is one, the fix; the class tells a caller which kind of mistake it was.
 */

/** Base class of every error the library throws on purpose. */
export class SingloraError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit together: broadcasting, matmul inner sizes, reshape element counts. */
export class ShapeError extends SingloraError {}

/** A dtype that an op does not accept, or two dtypes that cannot be mixed. */
export class DTypeError extends SingloraError {}

/** Misuse of autograd: backward on a non-scalar, a freed graph, a tensor changed in place. */
export class AutogradError extends SingloraError {}

/** An index or dim outside the valid range. */
export class IndexError extends SingloraError {}

/** Tensors on different devices, or a device that is not available. */
export class DeviceError extends SingloraError {}

/** An argument with an invalid value (negative size, unknown option). */
export class ValueError extends SingloraError {}

/** Formats a shape the way error messages print it: `[2, 3]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

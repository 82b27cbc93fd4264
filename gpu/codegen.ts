/**
 * Generates gpu.js kernel sources. A kernel reads strided views: it splits the flat output index
 * (`this.thread.x`) into a multi-index over the output shape, then addresses each input as
 * `offset + sum(index[d] * stride[d])`. Sizes, strides and offsets are kernel arguments, so the
 * source depends only on the op and the ranks and one compiled kernel serves every shape.
 *
 * All index arithmetic is float32 (GLSL ES 1.0 has no reliable integer division): a division is
 * rounded and then corrected by one step, which is exact for indices below 2^24.
 */
import type { KernelArgument } from './kernel-cache.js';
import type { GpuStorage } from './storage.js';

/** A strided read of one input: its buffer, and strides aligned with the index it is read at. */
export interface StridedOperand {
  storage: GpuStorage;
  strides: readonly number[];
  offset: number;
}

export class KernelBuilder {
  private readonly params: string[] = [];
  private readonly values: KernelArgument[] = [];
  private readonly lines: string[] = [];
  private temporaries = 0;
  private infinityParam: string | null = null;
  private nanParam: string | null = null;

  /** The op name, used in error messages. */
  readonly op: string;

  constructor(op: string) {
    this.op = op;
  }

  /** Adds a buffer argument and returns its parameter name. */
  buffer(storage: GpuStorage): string {
    return this.param(`b${this.params.length}`, storage.raw(this.op));
  }

  /** Adds a number argument (a uniform in GL, so changing it does not recompile) and returns its name. */
  scalar(value: number): string {
    return this.param(`u${this.params.length}`, value);
  }

  /** Returns a parameter holding +Infinity: GLSL ES 1.0 has no infinity literal. */
  infinity(): string {
    if (this.infinityParam === null) this.infinityParam = this.scalar(Infinity);
    return this.infinityParam;
  }

  /** Returns a parameter holding NaN: GLSL compilers fold `inf * 0` and `0 / 0` to 0 instead of producing it. */
  nan(): string {
    if (this.nanParam === null) this.nanParam = this.scalar(NaN);
    return this.nanParam;
  }

  /** Returns a fresh variable name for generated code. */
  temporary(stem: string): string {
    return `${stem}${this.temporaries++}`;
  }

  line(code: string): void {
    this.lines.push(code);
  }

  /**
   * Emits code that splits the flat index expression `flat` into a multi-index over `shape`
   * (row-major) and returns the variable names, one per dim.
   */
  unravel(flat: string, shape: readonly number[]): string[] {
    const rank = shape.length;
    if (rank === 0) return [];
    const rest = this.temporary('rest');
    const names = shape.map(() => this.temporary('i'));
    // Multiplying by 1.0 makes gpu.js type the variable as float even when `flat` is the int thread id.
    this.line(`let ${rest} = (${flat}) * 1.0;`);
    for (let d = rank - 1; d > 0; d--) {
      const size = this.scalar(shape[d]);
      const quotient = this.temporary('q');
      this.line(`let ${quotient} = Math.floor((${rest} + 0.5) / ${size});`);
      this.line(`let ${names[d]} = ${rest} - ${quotient} * ${size};`);
      this.line(`if (${names[d]} < 0) { ${quotient} = ${quotient} - 1; ${names[d]} = ${names[d]} + ${size}; }`);
      this.line(`if (${names[d]} >= ${size}) { ${quotient} = ${quotient} + 1; ${names[d]} = ${names[d]} - ${size}; }`);
      this.line(`${rest} = ${quotient};`);
    }
    this.line(`let ${names[0]} = ${rest};`);
    return names;
  }

  /** Returns the element address of `operand` at the multi-index `indices` (strides become arguments). */
  address(operand: { strides: readonly number[]; offset: number }, indices: readonly string[]): string {
    const terms = [this.scalar(operand.offset)];
    operand.strides.forEach((stride, d) => {
      // A stride of 0 (a broadcast dim) contributes nothing; leaving it out keeps sources shorter.
      if (stride !== 0) terms.push(`${indices[d]} * ${this.scalar(stride)}`);
    });
    return terms.join(' + ');
  }

  /** Emits a read of `operand` at `indices` into a new variable and returns its name. */
  read(operand: StridedOperand, indices: readonly string[]): string {
    const buffer = this.buffer(operand.storage);
    const value = this.temporary('v');
    this.line(`let ${value} = ${buffer}[${this.address(operand, indices)}];`);
    return value;
  }

  /** Returns the kernel source that runs the emitted lines and returns `result`. */
  source(result: string): string {
    return `function(${this.params.join(', ')}) {\n  ${this.lines.join('\n  ')}\n  return ${result};\n}`;
  }

  /** Returns the argument values, in parameter order. */
  arguments(): readonly KernelArgument[] {
    return this.values;
  }

  private param(name: string, value: KernelArgument): string {
    this.params.push(name);
    this.values.push(value);
    return name;
  }
}

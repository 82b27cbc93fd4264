/**
 * Module: the base class of layers and models, in the shape of torch.nn.Module.
 *
 * Parameters and submodules are found by walking the instance's own data properties in insertion
 * order: a `Parameter` value is a parameter and a `Module` value is a child, so `this.fc1 = new
 * Linear(...)` registers `fc1`. Properties defined by an accessor (a getter) are skipped, which is
 * how a parametrization hides the stored weight behind a computed one while its originals stay
 * registered under `parametrizations.<name>.original`. Buffers are registered explicitly with
 * `registerBuffer` and exposed as accessor properties.
 */
import { type DType, type Device, type Generator, Tensor, ValueError, noGrad } from '../index.js';
import { keep } from '../core/memory.js';
import { Parameter } from './parameter.js';
import { type LoadStateDictOptions, type LoadStateDictResult, loadStateDictInto } from './state-dict.js';

/**
 * Options for creating a layer's parameters (PyTorch's factory kwargs): dtype and device of the
 * tensors, and the generator that their initial values are drawn from.
 */
export interface FactoryOptions {
  dtype?: DType;
  device?: Device;
  generator?: Generator;
}

/** The value returned by hook registration; `remove()` unregisters the hook. */
export interface RemovableHandle {
  remove(): void;
}

/** Runs before forward; returning an array replaces the positional arguments. */
export type ForwardPreHook = (module: Module, args: unknown[]) => unknown[] | void;

/** Runs after forward; returning a value other than undefined replaces the output. */
export type ForwardHook = (module: Module, args: unknown[], output: unknown) => unknown;

let nextHookId = 0;

export abstract class Module {
  /** Whether the module is in training mode; dropout reads it. Change it with `train()` or `eval()`. */
  training = true;

  // Private fields (#) are not own enumerable properties, so the member walk skips them.
  #buffers = new Map<string, Tensor | null>();
  #nonPersistentBuffers = new Set<string>();
  #forwardPreHooks = new Map<number, ForwardPreHook>();
  #forwardHooks = new Map<number, ForwardHook>();

  /** The computation of the module. Call the module through `call()` so that hooks run. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  abstract forward(...args: any[]): any;

  /** Runs the forward pre-hooks, `forward` and the forward hooks, as calling a torch module does. */
  call(...args: Parameters<this['forward']>): ReturnType<this['forward']> {
    let input: unknown[] = args;
    for (const hook of [...this.#forwardPreHooks.values()]) {
      const replaced = hook(this, input);
      if (replaced !== undefined) input = replaced;
    }

    let output: unknown = this.forward(...input);

    for (const hook of [...this.#forwardHooks.values()]) {
      const replaced = hook(this, input, output);
      if (replaced !== undefined) output = replaced;
    }
    return output as ReturnType<this['forward']>;
  }

  registerForwardPreHook(hook: ForwardPreHook): RemovableHandle {
    const id = nextHookId++;
    this.#forwardPreHooks.set(id, hook);
    return { remove: () => void this.#forwardPreHooks.delete(id) };
  }

  registerForwardHook(hook: ForwardHook): RemovableHandle {
    const id = nextHookId++;
    this.#forwardHooks.set(id, hook);
    return { remove: () => void this.#forwardHooks.delete(id) };
  }

  // ---- registration -------------------------------------------------------------------------

  /**
   * Registers a buffer: a tensor that belongs to the module's state but is not trained (running
   * statistics, fixed masks). It is exposed as the property `name`; assigning to that property
   * replaces the stored tensor. Non-persistent buffers are left out of `stateDict()`.
   */
  registerBuffer(name: string, tensor: Tensor | null, persistent = true): void {
    this.checkMemberName('registerBuffer', name);
    if (tensor !== null && !(tensor instanceof Tensor)) {
      throw new ValueError(`registerBuffer: buffer '${name}' must be a Tensor or null, got ${describe(tensor)}`);
    }
    // A declared but unset class field (value undefined) may become a buffer; anything else is taken.
    const existing = Object.getOwnPropertyDescriptor(this, name);
    const unsetField = existing !== undefined && 'value' in existing && existing.value === undefined;
    if (existing !== undefined && !this.#buffers.has(name) && !unsetField) {
      throw new ValueError(`registerBuffer: ${this.constructor.name} already has a property '${name}'; pick another name or delete the property first`);
    }

    this.#buffers.set(name, tensor);
    if (persistent) this.#nonPersistentBuffers.delete(name);
    else this.#nonPersistentBuffers.add(name);

    // An accessor keeps the map the single source of truth and keeps the walk from seeing it.
    Object.defineProperty(this, name, {
      get: () => this.#buffers.get(name) ?? null,
      set: (value: Tensor | null) => {
        if (value !== null && !(value instanceof Tensor)) {
          throw new ValueError(`${this.constructor.name}.${name}: a buffer must be a Tensor or null, got ${describe(value)}`);
        }
        this.#buffers.set(name, value);
      },
      enumerable: true,
      configurable: true,
    });
  }

  /** Registers `param` as `name`, equivalent to assigning the property; null registers nothing. */
  registerParameter(name: string, param: Parameter | null): void {
    this.checkMemberName('registerParameter', name);
    if (param !== null && !(param instanceof Parameter)) {
      throw new ValueError(`registerParameter: '${name}' must be a Parameter or null, got ${describe(param)}; wrap a tensor with new Parameter(tensor)`);
    }
    this.defineMember('registerParameter', name, param);
  }

  /** Registers `module` as the child `name`, equivalent to assigning the property. */
  registerModule(name: string, module: Module | null): void {
    this.checkMemberName('registerModule', name);
    if (module !== null && !(module instanceof Module)) {
      throw new ValueError(`registerModule: '${name}' must be a Module or null, got ${describe(module)}`);
    }
    this.defineMember('registerModule', name, module);
  }

  /** Alias of `registerModule`, named as in PyTorch. */
  addModule(name: string, module: Module | null): void {
    this.registerModule(name, module);
  }

  /** Defines `name` as a data property, unless that would hide a method, an accessor or a plain field. */
  private defineMember(op: string, name: string, value: unknown): void {
    const owner = this.constructor.name;
    const existing = Object.getOwnPropertyDescriptor(this, name);
    if (existing === undefined && name in this) {
      throw new ValueError(`${op}: '${name}' would hide the method or property '${name}' of ${owner}; choose another name`);
    }
    if (existing !== undefined && !('value' in existing)) {
      throw new ValueError(`${op}: '${name}' is an accessor property of ${owner} (a buffer or a parametrized tensor) and cannot be replaced this way`);
    }
    const current: unknown = existing?.value;
    if (current !== undefined && current !== null && !(current instanceof Parameter) && !(current instanceof Module)) {
      throw new ValueError(`${op}: ${owner} already has a property '${name}' that is neither a parameter nor a module; choose another name`);
    }
    Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
  }

  private checkMemberName(op: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new ValueError(`${op}: name must be a non-empty string without '.', got '${String(name)}'`);
    }
  }

  // ---- discovery ----------------------------------------------------------------------------

  /**
   * Returns the names of the own properties to inspect for parameters and children, in
   * registration order. JavaScript lists integer-like names first, in ascending order, so
   * containers whose integer-like keys must keep insertion order override this.
   */
  protected memberNames(): string[] {
    return Object.keys(this);
  }

  /** Lists the own data properties in order, skipping accessor properties (getters). */
  private ownMembers(): [string, unknown][] {
    const members: [string, unknown][] = [];
    for (const name of this.memberNames()) {
      const descriptor = Object.getOwnPropertyDescriptor(this, name);
      if (descriptor === undefined || !('value' in descriptor)) continue;
      members.push([name, descriptor.value]);
    }
    return members;
  }

  private ownNamedParameters(): [string, Parameter][] {
    return this.ownMembers().filter((entry): entry is [string, Parameter] => entry[1] instanceof Parameter);
  }

  private ownNamedBuffers(persistentOnly: boolean): [string, Tensor][] {
    const buffers: [string, Tensor][] = [];
    for (const [name, tensor] of this.#buffers) {
      if (tensor === null) continue;
      if (persistentOnly && this.#nonPersistentBuffers.has(name)) continue;
      buffers.push([name, tensor]);
    }
    return buffers;
  }

  /** Returns the immediate children with their property names, listing a module stored twice once. */
  namedChildren(): [string, Module][] {
    const seen = new Set<Module>();
    const children: [string, Module][] = [];
    for (const [name, value] of this.ownMembers()) {
      if (!(value instanceof Module) || seen.has(value)) continue;
      seen.add(value);
      children.push([name, value]);
    }
    return children;
  }

  children(): Module[] {
    return this.namedChildren().map(([, child]) => child);
  }

  /** Returns this module and every descendant, depth-first, with dotted paths ('' for this module). */
  namedModules(prefix = ''): [string, Module][] {
    const seen = new Set<Module>();
    const modules: [string, Module][] = [];
    const visit = (module: Module, path: string): void => {
      if (seen.has(module)) return;
      seen.add(module);
      modules.push([path, module]);
      for (const [name, child] of module.namedChildren()) visit(child, joinName(path, name));
    };
    visit(this, prefix);
    return modules;
  }

  modules(): Module[] {
    return this.namedModules().map(([, module]) => module);
  }

  /**
   * Returns the parameters with dotted names such as `blocks.0.attn.q_proj.weight`, each
   * module's own first, then its children's in order. A parameter shared by two modules is
   * listed once, under the first name found.
   */
  namedParameters(prefix = '', recurse = true): [string, Parameter][] {
    const modules: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    const seen = new Set<Parameter>();
    const result: [string, Parameter][] = [];
    for (const [path, module] of modules) {
      for (const [name, param] of module.ownNamedParameters()) {
        if (seen.has(param)) continue;
        seen.add(param);
        result.push([joinName(path, name), param]);
      }
    }
    return result;
  }

  parameters(recurse = true): Parameter[] {
    return this.namedParameters('', recurse).map(([, param]) => param);
  }

  /** Returns the buffers with dotted names, persistent or not, deduplicated like parameters and skipping null ones. */
  namedBuffers(prefix = '', recurse = true): [string, Tensor][] {
    const modules: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    const seen = new Set<Tensor>();
    const result: [string, Tensor][] = [];
    for (const [path, module] of modules) {
      for (const [name, buffer] of module.ownNamedBuffers(false)) {
        if (seen.has(buffer)) continue;
        seen.add(buffer);
        result.push([joinName(path, name), buffer]);
      }
    }
    return result;
  }

  buffers(recurse = true): Tensor[] {
    return this.namedBuffers('', recurse).map(([, buffer]) => buffer);
  }

  /** Returns the descendant at a dotted path such as `blocks.0.attn`; '' is this module. */
  getSubmodule(target: string): Module {
    if (target === '') return this;
    let module: Module = this;
    const parts = target.split('.');
    parts.forEach((part, i) => {
      const child = module.namedChildren().find(([name]) => name === part);
      if (child === undefined) {
        const where = i === 0 ? this.constructor.name : `'${parts.slice(0, i).join('.')}' (${module.constructor.name})`;
        const available = module.namedChildren().map(([name]) => name);
        throw new ValueError(
          `getSubmodule: ${where} has no submodule '${part}' on the path '${target}'; its children are ${available.length > 0 ? available.join(', ') : '(none)'}`,
        );
      }
      module = child[1];
    });
    return module;
  }

  /**
   * Replaces the descendant at a dotted path with `module`; this is how adapters swap a layer
   * for a wrapped one. The path must name an existing child.
   */
  setSubmodule(target: string, module: Module): void {
    if (!(module instanceof Module)) throw new ValueError(`setSubmodule: the replacement for '${target}' must be a Module, got ${describe(module)}`);
    const dot = target.lastIndexOf('.');
    const parent = this.getSubmodule(dot < 0 ? '' : target.slice(0, dot));
    const name = target.slice(dot + 1);
    parent.getSubmodule(name);
    parent.defineMember('setSubmodule', name, module);
  }

  /** Returns the parameter at a dotted path such as `lm_head.weight`. */
  getParameter(target: string): Parameter {
    const dot = target.lastIndexOf('.');
    const owner = this.getSubmodule(dot < 0 ? '' : target.slice(0, dot));
    const name = target.slice(dot + 1);
    const found = owner.ownNamedParameters().find(([key]) => key === name);
    if (found === undefined) {
      const available = owner.ownNamedParameters().map(([key]) => key);
      throw new ValueError(`getParameter: ${owner.constructor.name} has no parameter '${name}' (path '${target}'); its parameters are ${available.length > 0 ? available.join(', ') : '(none)'}`);
    }
    return found[1];
  }

  // ---- modes and bulk changes ----------------------------------------------------------------

  /** Sets training mode on this module and every descendant; returns this. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.children()) child.train(mode);
    return this;
  }

  /** Switches to evaluation mode (dropout off); the same as `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Calls `fn` on every descendant, children before parents, then on this module; returns this. */
  apply(fn: (module: Module) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  /** Sets requiresGrad on every parameter, to freeze (false) or unfreeze (true) the module. */
  requiresGrad_(flag = true): this {
    for (const param of this.parameters()) param.requiresGrad_(flag);
    return this;
  }

  /** Drops every parameter's gradient (sets `.grad` to null), as PyTorch's `zero_grad()` does by default. */
  zeroGrad(): void {
    for (const param of this.parameters()) param.grad = null;
  }

  /** Counts parameter elements, optionally only those of parameters that require grad. */
  numParameters(options: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((param) => !options.trainableOnly || param.requiresGrad)
      .reduce((total, param) => total + param.numel(), 0);
  }

  /**
   * Moves parameters and buffers to a device, or converts their floating values to a dtype, in
   * place: each tensor object is kept and only its `.data` replaced, so optimizers and adapters
   * that hold references see the change. Integer and bool buffers keep their dtype, as in PyTorch.
   */
  to(target: DType | Device): this {
    const isDevice = target === 'cpu' || target === 'gpu';
    if (!isDevice && target !== 'float32' && target !== 'float64') {
      throw new ValueError(`Module.to: expected a device ('cpu', 'gpu') or a floating dtype ('float32', 'float64'), got '${String(target)}'`);
    }
    // keep(): moved tensors are long-lived, so a tidy() scope around this call must not free them.
    const convert = (t: Tensor): Tensor => keep(isDevice || t.isFloatingPoint() ? t.to(target) : t);

    noGrad(() => {
      for (const param of this.parameters()) {
        param.data = convert(param.data);
        if (param.grad !== null) param.grad = convert(param.grad);
      }
      for (const buffer of this.buffers()) buffer.data = convert(buffer.data);
    });
    return this;
  }

  cpu(): this {
    return this.to('cpu');
  }

  gpu(): this {
    return this.to('gpu');
  }

  float(): this {
    return this.to('float32');
  }

  double(): this {
    return this.to('float64');
  }

  // ---- state dict -----------------------------------------------------------------------------

  /**
   * Returns the parameters and persistent buffers by dotted name, detached, in the order of
   * `namedParameters` per module (each module's parameters, then its buffers, then its children).
   * Unlike `namedParameters`, a tensor shared by two modules appears under both names, as in PyTorch.
   */
  stateDict(): Record<string, Tensor> {
    const state: Record<string, Tensor> = {};
    for (const [key, tensor] of this.stateEntries('', new Set())) state[key] = tensor.detach();
    return state;
  }

  /**
   * Copies `state` into the parameters and persistent buffers. Keys and shapes are checked before
   * anything is copied; a failure throws a StateDictError listing missing, unexpected and
   * mis-shaped keys. With `strict: false`, missing and unexpected keys are returned instead.
   */
  loadStateDict(state: Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    return loadStateDictInto(this.constructor.name, new Map(this.stateEntries('', new Set())), state, options);
  }

  /** Lists the live tensors behind `stateDict`, and rejects a module that contains itself. */
  private stateEntries(prefix: string, ancestors: Set<Module>): [string, Tensor][] {
    if (ancestors.has(this)) {
      throw new ValueError(`stateDict: ${this.constructor.name} at '${prefix}' contains itself, so its state has no finite list of names`);
    }
    const entries: [string, Tensor][] = [];
    for (const [name, param] of this.ownNamedParameters()) entries.push([joinName(prefix, name), param]);
    for (const [name, buffer] of this.ownNamedBuffers(true)) entries.push([joinName(prefix, name), buffer]);

    ancestors.add(this);
    for (const [name, child] of this.namedChildren()) entries.push(...child.stateEntries(joinName(prefix, name), ancestors));
    ancestors.delete(this);
    return entries;
  }

  // ---- printing --------------------------------------------------------------------------------

  /** Returns the text shown between the parentheses of this module's line in `toString()`. */
  extraRepr(): string {
    return '';
  }

  /** Formats the module as a PyTorch-style tree such as `Linear(in_features=4, out_features=2, bias=true)`. */
  toString(): string {
    const extra = this.extraRepr();
    const lines = extra === '' ? [] : extra.split('\n');
    const children = this.namedChildren();
    for (const [name, child] of children) lines.push(`(${name}): ${indent(child.toString())}`);

    const head = this.constructor.name;
    if (children.length === 0 && lines.length <= 1) return `${head}(${extra})`;
    return `${head}(\n  ${lines.join('\n  ')}\n)`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

function joinName(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

/** Indents every line after the first by two spaces, for nesting in the module tree. */
function indent(text: string): string {
  return text.split('\n').join('\n  ');
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `${typeof value} ${String(value)}`;
}

/**
 * Containers: Sequential, ModuleList and ModuleDict. Their children are own properties named by
 * position ('0', '1', ...) or by key, so parameter names read `blocks.0.attn.q_proj.weight` and
 * `setSubmodule` can replace an entry as it replaces any other child.
 */
import { IndexError, type Tensor, ValueError } from '../index.js';
import { Module } from './module.js';

/** Reads and writes children by property name, which TypeScript cannot type on `this`. */
function members(module: Module): Record<string, unknown> {
  return module as unknown as Record<string, unknown>;
}

/** Turns a possibly negative position into an index in [0, length), or throws. */
function checkIndex(container: string, index: number, length: number): number {
  if (!Number.isInteger(index) || index < -length || index >= length) {
    throw new IndexError(`${container}: index ${index} is out of range for ${length} modules; use a value in [${-length}, ${length - 1}]`);
  }
  return index < 0 ? index + length : index;
}

/** Runs its modules in order, feeding each one's output to the next. */
export class Sequential extends Module {
  #length = 0;

  constructor(...modules: Module[]) {
    super();
    for (const module of modules) this.append(module);
  }

  get length(): number {
    return this.#length;
  }

  get(index: number): Module {
    return members(this)[String(checkIndex('Sequential', index, this.#length))] as Module;
  }

  append(module: Module): this {
    this.registerModule(String(this.#length), module);
    this.#length++;
    return this;
  }

  *[Symbol.iterator](): IterableIterator<Module> {
    for (let i = 0; i < this.#length; i++) yield this.get(i);
  }

  forward(input: Tensor): Tensor {
    let output = input;
    // A module listed twice runs twice, as in PyTorch, so iterate positions rather than children().
    for (const module of this) output = module.call(output);
    return output;
  }
}

/** A list of modules whose parameters are registered; indexable like an array, with no forward of its own. */
export class ModuleList<T extends Module = Module> extends Module {
  #length = 0;

  constructor(modules: Iterable<T> = []) {
    super();
    this.extend(modules);
  }

  get length(): number {
    return this.#length;
  }

  /** Returns the module at `index`; negative indices count from the end. */
  get(index: number): T {
    return members(this)[String(checkIndex('ModuleList', index, this.#length))] as T;
  }

  set(index: number, module: T): void {
    this.registerModule(String(checkIndex('ModuleList', index, this.#length)), module);
  }

  append(module: T): this {
    this.registerModule(String(this.#length), module);
    this.#length++;
    return this;
  }

  extend(modules: Iterable<T>): this {
    for (const module of modules) this.append(module);
    return this;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#length; i++) yield this.get(i);
  }

  forward(): never {
    throw new ValueError('ModuleList has no forward; iterate over it and call each module');
  }
}

/** Modules by string key, kept in insertion order; like a Map whose values are registered children. */
export class ModuleDict<T extends Module = Module> extends Module {
  #keys: string[] = [];

  constructor(modules: Record<string, T> | Iterable<[string, T]> = {}) {
    super();
    const entries = Symbol.iterator in modules ? [...(modules as Iterable<[string, T]>)] : Object.entries(modules);
    for (const [key, module] of entries) this.set(key, module);
  }

  get size(): number {
    return this.#keys.length;
  }

  has(key: string): boolean {
    return this.#keys.includes(key);
  }

  get(key: string): T {
    if (!this.has(key)) {
      throw new ValueError(`ModuleDict: no module under the key '${key}'; the keys are ${this.#keys.length > 0 ? this.#keys.join(', ') : '(none)'}`);
    }
    return members(this)[key] as T;
  }

  /** Adds or replaces the module under `key`; a key may not shadow a method or field of the container. */
  set(key: string, module: T): void {
    if (!this.has(key) && key in this) {
      throw new ValueError(`ModuleDict: the key '${key}' would shadow the property '${key}' of ModuleDict; choose another key`);
    }
    this.registerModule(key, module);
    if (!this.has(key)) this.#keys.push(key);
  }

  delete(key: string): boolean {
    if (!this.has(key)) return false;
    delete members(this)[key];
    this.#keys = this.#keys.filter((existing) => existing !== key);
    return true;
  }

  keys(): string[] {
    return [...this.#keys];
  }

  values(): T[] {
    return this.#keys.map((key) => members(this)[key] as T);
  }

  entries(): [string, T][] {
    return this.#keys.map((key) => [key, members(this)[key] as T]);
  }

  *[Symbol.iterator](): IterableIterator<[string, T]> {
    yield* this.entries();
  }

  /** Lists the keys in insertion order even when some are integer-like, which JavaScript would sort first. */
  protected override memberNames(): string[] {
    return [...this.#keys, ...Object.keys(this).filter((name) => !this.#keys.includes(name))];
  }

  forward(): never {
    throw new ValueError('ModuleDict has no forward; look modules up with get(key) and call them');
  }
}

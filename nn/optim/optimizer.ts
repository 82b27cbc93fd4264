/**
 * The optimizer base class, shaped like `torch.optim.Optimizer`: parameter groups whose
 * hyperparameters override the defaults, per-parameter state, zeroGrad, step and a state dict
 * that restores a run exactly. Subclasses supply the update rule for one parameter and describe
 * their state and hyperparameters so that loading can validate them.
 */
import { Tensor, ValueError, formatShape, noGrad } from '../../index.js';
import { keep } from '../../core/memory.js';
import {
  type HyperparameterValue,
  type OptimizerStateDict,
  type SerializedParamGroup,
  type SerializedParamState,
  copyHyperparameter,
  deserializeTensor,
  serializeTensor,
} from './state-dict.js';

/** The hyperparameter every optimizer has; subclasses extend it. */
export interface BaseHyperparameters {
  lr: number;
}

/** Group entries that are not hyperparameters: no default, no validation by the subclass. */
interface GroupExtras {
  params: Tensor[];
  /** A label shown in error messages (LoRA+ names its two groups, for example). */
  name?: string;
  /**
   * The base of learning-rate schedules (PyTorch's `initial_lr`), set from `lr` by the first
   * scheduler attached to the optimizer.
   */
  initialLr?: number;
}

const GROUP_EXTRAS: ReadonlySet<string> = new Set(['params', 'name', 'initialLr']);

/** A parameter group as the optimizer stores it: the parameters plus every hyperparameter. */
export type ParamGroup<H extends BaseHyperparameters> = H & GroupExtras;

/** A parameter group as the caller passes it; missing hyperparameters take the defaults. */
export type ParamGroupInput<H extends BaseHyperparameters> = Partial<H> & GroupExtras;

/** One parameter's state: buffers (tensors of the parameter's shape) and counters. */
export type ParamState = Record<string, Tensor | number | undefined>;

/** Describes each state entry so that loadStateDict can reject a state made by another optimizer. */
export type StateSchema = Record<string, { kind: 'tensor' | 'number'; required: boolean }>;

export type StepCallback = (stepCount: number) => void;

export abstract class Optimizer<H extends BaseHyperparameters = BaseHyperparameters, S extends ParamState = ParamState> {
  /** The groups, in order. Schedulers change `lr` here, and so may the caller. */
  paramGroups: ParamGroup<H>[] = [];
  readonly defaults: H;
  /** Per-parameter state, created on a parameter's first update. */
  state = new Map<Tensor, S>();

  private completedSteps = 0;
  private stepCallbacks: StepCallback[] = [];

  /**
   * `params` is either a list of tensors (one group with the defaults) or a list of groups.
   * Subclasses must pass `defaults` with every hyperparameter filled in.
   */
  constructor(params: Tensor[] | ParamGroupInput<H>[], defaults: H) {
    this.validateHyperparameters(defaults, '');
    this.defaults = { ...defaults };

    if (!Array.isArray(params) || params.length === 0) {
      throw new ValueError(`${this.name}: got an empty parameter list; pass the tensors to optimize, for example model.parameters()`);
    }
    const tensorCount = params.filter((param) => param instanceof Tensor).length;
    if (tensorCount === params.length) {
      this.addParamGroup({ params: params as Tensor[] } as ParamGroupInput<H>);
    } else if (tensorCount > 0) {
      throw new ValueError(`${this.name}: the parameter list mixes tensors and parameter groups; pass either tensors or { params, ... } groups`);
    } else {
      for (const group of params) this.addParamGroup(group as ParamGroupInput<H>);
    }
  }

  /**
   * The optimizer's name in error messages. Subclasses override this getter; it cannot be a field,
   * because the base constructor reads it before subclass fields are initialized.
   */
  get name(): string {
    return 'Optimizer';
  }

  /** Throws a ValueError naming the first invalid hyperparameter of `hyperparameters`. */
  protected abstract validateHyperparameters(hyperparameters: H, where: string): void;

  /** The entries one parameter's state may hold under `group`'s hyperparameters. */
  protected abstract stateSchema(group: ParamGroup<H>): StateSchema;

  /** Updates one parameter from its gradient; runs under noGrad. */
  protected abstract updateParam(param: Tensor, grad: Tensor, group: ParamGroup<H>): void;

  /** The number of completed `step()` calls, restored by loadStateDict. */
  get stepCount(): number {
    return this.completedSteps;
  }

  /**
   * Adds a group; hyperparameters it leaves out take the optimizer's defaults. A parameter may
   * belong to one group only, because its state would otherwise be updated twice per step.
   */
  addParamGroup(group: ParamGroupInput<H>): void {
    if (typeof group !== 'object' || group === null || !Array.isArray(group.params)) {
      throw new ValueError(`${this.name}: parameter group ${this.paramGroups.length} must be an object with a params array, got ${String(group)}`);
    }
    if (group.name !== undefined && typeof group.name !== 'string') {
      throw new ValueError(`${this.name}: the name of parameter group ${this.paramGroups.length} must be a string, got ${String(group.name)}`);
    }
    const label = group.name === undefined ? '' : ` ('${group.name}')`;
    const where = ` in parameter group ${this.paramGroups.length}${label}`;

    for (const key of Object.keys(group)) {
      if (!GROUP_EXTRAS.has(key) && !(key in this.defaults)) {
        const known = [...Object.keys(this.defaults), 'name'].join(', ');
        throw new ValueError(`${this.name}: unknown hyperparameter '${key}'${where}; ${this.name} accepts ${known}`);
      }
    }

    const seen = new Set<Tensor>(this.paramGroups.flatMap((existing) => existing.params));
    group.params.forEach((param, i) => {
      this.checkParam(param, `params[${i}]${where}`);
      if (seen.has(param)) {
        throw new ValueError(`${this.name}: params[${i}]${where} appears more than once across the parameter groups; list each parameter in one group only`);
      }
      seen.add(param);
    });

    // Arrays such as betas are copied, so that changing one group's value in place leaves the
    // defaults and the other groups alone.
    const overrides = Object.entries(group).filter(([key, value]) => key !== 'params' && value !== undefined);
    const hyperparameters = [...Object.entries(this.defaults), ...overrides].map(([key, value]) => [key, copyHyperparameter(value as HyperparameterValue)]);
    const merged = { ...Object.fromEntries(hyperparameters), params: [...group.params] } as ParamGroup<H>;
    this.validateHyperparameters(merged, where);
    this.paramGroups.push(merged);
  }

  /** Clears the gradients: sets them to null (the default), or zeros them in place. */
  zeroGrad({ setToNone = true }: { setToNone?: boolean } = {}): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        if (param.grad === null) continue;
        if (setToNone) {
          param.grad = null;
          continue;
        }
        // A gradient built with createGraph has history. Zeroing a detached alias keeps the
        // zeroing out of the graph, so the next backward accumulates into a plain tensor again.
        const grad = param.grad.detach();
        noGrad(() => grad.zero_());
        param.grad = grad;
      }
    }
  }

  /**
   * Updates every parameter that has a gradient (parameters whose grad is null are skipped),
   * then increments stepCount and calls the onStep callbacks with it.
   */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const param of group.params) {
          if (param.grad !== null) this.updateParam(param, param.grad, group);
        }
      }
    });

    this.completedSteps++;
    for (const callback of [...this.stepCallbacks]) callback(this.completedSteps);
  }

  /**
   * Registers a callback run after every `step()` (not after zeroGrad or loadStateDict), with
   * the new stepCount. Returns a handle whose `remove()` unregisters it.
   */
  onStep(callback: StepCallback): { remove(): void } {
    this.stepCallbacks.push(callback);
    return {
      remove: () => {
        this.stepCallbacks = this.stepCallbacks.filter((registered) => registered !== callback);
      },
    };
  }

  /**
   * Returns a JSON-serialisable copy of the state: each parameter's buffers keyed by the
   * parameter's index across groups, the groups' hyperparameters, and stepCount.
   */
  stateDict(): OptimizerStateDict {
    const state: Record<string, SerializedParamState> = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const indices: number[] = [];
      for (const param of group.params) {
        const paramState = this.state.get(param);
        if (paramState !== undefined) state[String(index)] = serializeParamState(paramState);
        indices.push(index++);
      }
      const saved: Record<string, HyperparameterValue> = {};
      for (const [key, value] of Object.entries(group)) {
        if (key !== 'params' && value !== undefined) saved[key] = copyHyperparameter(value as HyperparameterValue);
      }
      return { ...saved, params: indices } as SerializedParamGroup;
    });
    return { state, paramGroups, stepCount: this.completedSteps };
  }

  /**
   * Restores a state from `stateDict()` into this optimizer, whose groups must hold the same
   * number of parameters with the same shapes. Buffers are cast to each parameter's dtype and
   * device. Everything is validated before anything changes, so a failed load leaves the
   * optimizer as it was.
   */
  loadStateDict(saved: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (typeof saved !== 'object' || saved === null || !Array.isArray(saved.paramGroups) || typeof saved.state !== 'object' || saved.state === null) {
      throw new ValueError(`${op}: expected an object with state and paramGroups, as written by stateDict()`);
    }
    if (!Number.isInteger(saved.stepCount) || saved.stepCount < 0) {
      throw new ValueError(`${op}: stepCount must be a non-negative integer, got ${String(saved.stepCount)}`);
    }
    if (saved.paramGroups.length !== this.paramGroups.length) {
      throw new ValueError(
        `${op}: the saved state has ${saved.paramGroups.length} parameter groups but this optimizer has ${this.paramGroups.length}; build the optimizer with the same groups as the saved one`,
      );
    }

    const params = this.paramGroups.flatMap((group) => group.params);
    const groups = saved.paramGroups.map((savedGroup, g) => this.restoreGroup(op, savedGroup, g, params));
    const state = this.restoreState(op, saved.state, params, groups);

    this.paramGroups = groups;
    this.state = state;
    this.completedSteps = saved.stepCount;
  }

  /** Checks one saved group against the live one and returns the live group with saved hyperparameters. */
  private restoreGroup(op: string, saved: SerializedParamGroup, g: number, params: Tensor[]): ParamGroup<H> {
    const live = this.paramGroups[g];
    const first = params.indexOf(live.params[0]);
    if (typeof saved !== 'object' || saved === null || !Array.isArray(saved.params)) {
      throw new ValueError(`${op}: saved parameter group ${g} has no params list`);
    }
    if (saved.params.length !== live.params.length) {
      throw new ValueError(
        `${op}: saved parameter group ${g} has ${saved.params.length} parameters but this optimizer's group ${g} has ${live.params.length}; the parameter lists must match`,
      );
    }
    saved.params.forEach((index, i) => {
      if (index !== first + i) {
        throw new ValueError(`${op}: saved parameter group ${g} lists parameter index ${String(index)} at position ${i}; expected ${first + i}, as stateDict() numbers parameters in order`);
      }
    });

    const hyperparameters = Object.keys(live).filter((key) => !GROUP_EXTRAS.has(key));
    for (const key of hyperparameters) {
      if (!(key in saved)) throw new ValueError(`${op}: saved parameter group ${g} has no '${key}'; was it saved by another optimizer?`);
    }
    for (const key of Object.keys(saved)) {
      if (!GROUP_EXTRAS.has(key) && !hyperparameters.includes(key)) {
        throw new ValueError(`${op}: saved parameter group ${g} has the unknown hyperparameter '${key}'; was it saved by another optimizer?`);
      }
    }

    if (saved.name !== undefined && typeof saved.name !== 'string') throw new ValueError(`${op}: saved parameter group ${g} has a name that is not a string`);
    const restored: Record<string, unknown> = { params: live.params };
    if (live.name !== undefined) restored.name = live.name;
    for (const [key, value] of Object.entries(saved)) {
      if (key !== 'params') restored[key] = copyHyperparameter(value);
    }
    this.validateHyperparameters(restored as unknown as H, ` in saved parameter group ${g}`);
    return restored as unknown as ParamGroup<H>;
  }

  private restoreState(op: string, saved: Record<string, SerializedParamState>, params: Tensor[], groups: ParamGroup<H>[]): Map<Tensor, S> {
    const groupOf = new Map<Tensor, ParamGroup<H>>();
    for (const group of groups) for (const param of group.params) groupOf.set(param, group);

    const state = new Map<Tensor, S>();
    for (const [key, savedState] of Object.entries(saved)) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index >= params.length || String(index) !== key) {
        throw new ValueError(`${op}: state key '${key}' is not a parameter index in [0, ${params.length})`);
      }
      const param = params[index];
      state.set(param, this.restoreParamState(op, index, savedState, param, groupOf.get(param)!));
    }
    return state;
  }

  private restoreParamState(op: string, index: number, saved: SerializedParamState, param: Tensor, group: ParamGroup<H>): S {
    const where = `state[${index}]`;
    if (typeof saved !== 'object' || saved === null) throw new ValueError(`${op}: ${where} must be an object, got ${String(saved)}`);
    const schema = this.stateSchema(group);

    for (const [key, entry] of Object.entries(schema)) {
      if (entry.required && !(key in saved)) throw new ValueError(`${op}: ${where} has no '${key}', which ${this.name} needs with these hyperparameters`);
    }

    const restored: ParamState = {};
    for (const [key, value] of Object.entries(saved)) {
      const entry = schema[key];
      if (entry === undefined) {
        throw new ValueError(`${op}: ${where} has the unknown entry '${key}'; ${this.name} state contains only ${Object.keys(schema).join(', ')}`);
      }
      if (entry.kind === 'number') {
        if (typeof value !== 'number' || !Number.isFinite(value)) throw new ValueError(`${op}: ${where}.${key} must be a finite number, got ${JSON.stringify(value)}`);
        restored[key] = value;
        continue;
      }
      const buffer = deserializeTensor(op, `${where}.${key}`, value, param);
      if (buffer.shape.join() !== param.shape.join()) {
        throw new ValueError(`${op}: ${where}.${key} has shape ${formatShape(buffer.shape)} but parameter ${index} has shape ${formatShape(param.shape)}`);
      }
      restored[key] = keep(buffer);
    }
    return restored as S;
  }

  /** Only floating leaves can be optimized: an op's output is recomputed, so updating it is lost. */
  private checkParam(param: unknown, where: string): void {
    if (!(param instanceof Tensor)) {
      throw new ValueError(`${this.name}: ${where} is ${typeof param}, not a Tensor; optimizers take tensors or parameter groups`);
    }
    if (!param.isLeaf) {
      throw new ValueError(`${this.name}: ${where} is not a leaf (it was produced by ${param.gradFn?.name}); optimize the leaf tensors it was computed from`);
    }
    if (!param.isFloatingPoint()) {
      throw new ValueError(`${this.name}: ${where} is ${param.dtype}; only float32 and float64 tensors can be optimized`);
    }
  }
}

function serializeParamState(state: ParamState): SerializedParamState {
  const saved: SerializedParamState = {};
  for (const [key, value] of Object.entries(state)) {
    if (value === undefined) continue;
    saved[key] = value instanceof Tensor ? serializeTensor(value) : value;
  }
  return saved;
}

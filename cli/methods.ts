/** The fine-tuning methods the sweep compares, as named on the command line and in reports. */
import type { AdapterMethod } from '../adapters/index.js';

export type MethodName = 'full' | 'lora' | 'rslora' | 'loraplus' | 'dora' | 'singlora' | 'singlora-dora';

export interface MethodInfo {
  name: MethodName;
  /** Name in tables and plots. */
  label: string;
  /** The adapter that `injectAdapters` builds; null for full fine-tuning. */
  adapter: AdapterMethod | null;
  description: string;
}

export const METHODS: readonly MethodInfo[] = [
  { name: 'full', label: 'Full FT', adapter: null, description: 'full fine-tuning: every weight trains' },
  { name: 'lora', label: 'LoRA', adapter: 'lora', description: 'ΔW = (α/r) B A, B starts at 0' },
  { name: 'rslora', label: 'rsLoRA', adapter: 'rslora', description: 'LoRA scaled by α/√r' },
  { name: 'loraplus', label: 'LoRA+', adapter: 'lora', description: 'LoRA with lr(B) = 16 · lr(A)' },
  { name: 'dora', label: 'DoRA', adapter: 'dora', description: 'LoRA direction plus a trained magnitude per output' },
  { name: 'singlora', label: 'SingLoRA', adapter: 'singlora', description: 'ΔW = (α/r) u(t) A Aᵀ, one factor A' },
  { name: 'singlora-dora', label: 'SingLoRA+DoRA', adapter: 'singlora-dora', description: 'SingLoRA direction with a DoRA magnitude' },
];

export const METHOD_NAMES: readonly MethodName[] = METHODS.map((method) => method.name);

/** The methods compared when `--methods` is not given. */
export const DEFAULT_METHODS: readonly MethodName[] = ['full', 'lora', 'loraplus', 'dora', 'singlora'];

/** LoRA+'s lr(B) / lr(A); 2^4 = 16 is the LoRA+ authors' suggested starting value. */
export const LORA_PLUS_RATIO = 16;

export function methodInfo(name: MethodName): MethodInfo {
  return METHODS.find((method) => method.name === name)!;
}

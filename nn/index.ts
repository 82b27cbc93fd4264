/**
 * Neural-network modules in the shape of torch.nn: the Module base class, Parameter, layers,
 * containers, initialisers (`init`) and two reference models (GPT, ViT).
 */
export {
  Module,
  type FactoryOptions,
  type ForwardHook,
  type ForwardPreHook,
  type RemovableHandle,
} from './module.js';
export { Parameter } from './parameter.js';
export {
  StateDictError,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type MismatchedKey,
} from './state-dict.js';
export * as init from './init.js';

export { Linear, Identity, type LinearOptions } from './linear.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { LayerNorm, type LayerNormOptions } from './normalization.js';
export { Dropout, type DropoutOptions } from './dropout.js';
export { ReLU, GELU, SiLU, Tanh, Sigmoid, type GELUApproximation } from './activation.js';
export { Flatten } from './flatten.js';
export { Sequential, ModuleList, ModuleDict } from './containers.js';
export {
  MultiheadAttention,
  type MultiheadAttentionOptions,
  type MultiheadAttentionCallOptions,
  type MultiheadAttentionOutput,
} from './attention.js';
export {
  TransformerBlock,
  MLP,
  type TransformerActivation,
  type TransformerBlockOptions,
  type TransformerBlockCallOptions,
} from './transformer.js';
export { GPT, ViT, patchify, type GPTConfig, type GenerateOptions, type ViTConfig } from './models/index.js';
export * from './optim/index.js';

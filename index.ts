/**
 * singlora: tensors, reverse-mode autograd, nn modules and low-rank adapters (SingLoRA, LoRA, DoRA).
 * Importing this module registers the CPU backend and attaches the op methods to Tensor.
 */
import './core/cpu/backend.js';
import './ops/methods.js';

export { Tensor, type Device, type NestedArray } from './core/tensor.js';
export { type DType } from './core/dtype.js';
export * from './core/errors.js';
export { Generator, manualSeed, defaultGenerator } from './core/random.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from './core/grad-mode.js';
export { grad, backward, Node } from './core/autograd.js';
export { Function, type FunctionCtx } from './core/function.js';
export { gradcheck, gradgradcheck, GradcheckError, type GradcheckOptions } from './core/gradcheck.js';
export { registerBackend, getBackend, type Backend } from './core/backend.js';

export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export * from './ops/indexing.js';
export * from './ops/matmul.js';
export * from './ops/softmax.js';
export * from './ops/functional/index.js';
export { toDevice } from './ops/device.js';

export * as nn from './nn/index.js';
export { Module, Parameter, Linear } from './nn/index.js';
export * from './adapters/index.js';

// File helpers need Node and live in the 'singlora/node' entry (node.ts), so that this entry bundles for browsers.
export { encodeSafetensors, decodeSafetensors, SafetensorsError, type TensorRecord } from './core/safetensors.js';
export { keep } from './core/memory.js';

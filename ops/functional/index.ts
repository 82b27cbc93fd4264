/**
 * Neural-network functions in the style of torch.nn.functional (`import * as F from
 * './ops/functional/index.js'`): losses, normalization, dropout, embedding and attention,
 * plus the activations and `linear` that live with the other ops.
 */
export { gelu, relu, silu } from '../elementwise.js';
export { linear } from '../matmul.js';
export { logSoftmax, softmax } from '../softmax.js';

export { scaledDotProductAttention, type ScaledDotProductAttentionOptions } from './attention.js';
export { binaryCrossEntropyWithLogits, type BinaryCrossEntropyWithLogitsOptions } from './binary-cross-entropy.js';
export { crossEntropy, type CrossEntropyOptions } from './cross-entropy.js';
export { dropout, type DropoutOptions } from './dropout.js';
export { embedding, type EmbeddingOptions } from './embedding.js';
export { layerNorm } from './layer-norm.js';
export { mseLoss } from './mse-loss.js';
export { nllLoss, type NllLossOptions } from './nll-loss.js';
export { type Reduction } from './reduction.js';

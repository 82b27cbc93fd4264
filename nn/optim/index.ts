/** Optimizers, gradient clipping and learning-rate schedulers, named as in `torch.optim`. */
export {
  Optimizer,
  type BaseHyperparameters,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
  type StateSchema,
  type StepCallback,
} from './optimizer.js';
export { SGD, type SGDHyperparameters, type SGDOptions, type SGDState } from './sgd.js';
export { Adam, type AdamHyperparameters, type AdamOptions, type AdamState } from './adam.js';
export { AdamW } from './adamw.js';
export { clipGradNorm_, clipGradValue_ } from './clip-grad.js';
export {
  LRScheduler,
  LambdaLR,
  StepLR,
  LinearLR,
  CosineAnnealingLR,
  SequentialLR,
  linearWarmup,
  warmupCosine,
  type LrFormula,
  type LRSchedulerStateDict,
} from './lr-scheduler.js';
export {
  serializeTensor,
  deserializeTensor,
  type HyperparameterValue,
  type OptimizerStateDict,
  type SerializedParamGroup,
  type SerializedParamState,
  type SerializedTensor,
} from './state-dict.js';

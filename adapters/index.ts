/** Low-rank adapters with SingLoRA as a first-class parametrization, plus LoRA, rsLoRA, LoRA+ and DoRA. */
export { AdapterClock, rampValue } from './clock.js';
export { type AdapterConfig, type AdapterMethod, ADAPTER_METHODS, matchesTarget } from './config.js';
export { DoRA, SingLoRADoRA } from './dora.js';
export { AdaptedModel, type AdapterReport, injectAdapters } from './inject.js';
export { LoRA, type LoRAOptions } from './lora.js';
export { loraPlusParamGroups, type LoraPlusGroup, type LoraPlusGroupsOptions } from './loraplus.js';
export { AdapterStateError, LowRankAdapter, type LowRankFactors, type LowRankOptions } from './low-rank.js';
export {
  ParametrizationDict,
  ParametrizationList,
  type Parametrization,
  getParametrizations,
  isParametrized,
  parametrize,
  removeParametrization,
} from './parametrize.js';
export { adapterConfigJson, adapterStateDict, configFromJson, loadAdapterStateDict, PEFT_PREFIX } from './serialization.js';
export { SingLoRA, type SingLoRAInit, type SingLoRAOptions } from './singlora.js';

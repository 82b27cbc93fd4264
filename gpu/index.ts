/**
 * The gpu.js backend for the 'gpu' device, imported as `singlora/gpu`. Importing it registers
 * the backend; then `tensor(..., { device: 'gpu' })`, `x.gpu()` and `x.to('gpu')` put tensors
 * on it and every op runs there.
 *
 * It is a separate entry point rather than part of `singlora` because loading gpu.js also
 * loads the native `gl` addon in Node (about 80 ms), and `singlora` itself stays free of it.
 */
import './backend.js';

export { gpuBackend } from './backend.js';
export { setGpuMode, getGpuMode, setGpuLogger, isModeSupported as isGpuModeSupported, type GpuMode, type GpuLogger } from './mode.js';
export { tidy, keep, dispose, memoryInfo, type MemoryInfo } from './memory.js';
export { transferCounts, MAX_ELEMENTS as GPU_MAX_ELEMENTS, type TransferCounts } from './kernel-cache.js';
export { GpuStorage } from './storage.js';

/**
 * The Node.js entry point, `singlora/node`: everything in the main entry plus the helpers that
 * read and write files (safetensors checkpoints, adapter folders, MNIST/IDX/CSV datasets).
 */
export * from './index.js';
export { saveModel, loadModel, saveTensors, loadTensors, tensorToRecord, recordToTensor } from './io/checkpoint.js';
export { saveAdapter, loadAdapter, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from './io/adapter-files.js';
export { writeFileAtomic } from './io/atomic.js';
export * as data from './data/index.js';

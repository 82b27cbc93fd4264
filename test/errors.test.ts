import assert from 'node:assert/strict';

import * as S from '../index.js';
import { AutogradError, DTypeError, IndexError, ShapeError, SingloraError, ValueError, noGrad, tensor, zeros } from '../index.js';

type ErrorClass = new (...args: never[]) => Error;

/** Asserts that `fn` throws `kind` and that the message contains every listed fragment. */
function assertThrowsNaming(fn: () => unknown, kind: ErrorClass, fragments: string[]): void {
  assert.throws(fn, (error: Error) => {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${error.constructor.name}: ${error.message}`);
    assert.ok(error instanceof SingloraError, `${error.constructor.name} should extend SingloraError`);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `message "${error.message}" does not mention "${fragment}"`);
    return true;
  });
}

const ints = (values: number[] | number[][]) => tensor(values, { dtype: 'int32' });

describe('shape errors', () => {
  it('broadcast mismatch names the op and both shapes', () => {
    assertThrowsNaming(() => zeros([2, 3]).add(zeros([4])), ShapeError, ['add', '[2, 3]', '[4]']);
    assertThrowsNaming(() => zeros([2, 3]).mul(zeros([3, 2])), ShapeError, ['mul', '[2, 3]', '[3, 2]']);
  });

  it('matmul inner mismatch names both shapes and sizes', () => {
    assertThrowsNaming(() => zeros([2, 3]).matmul(zeros([4, 5])), ShapeError, ['matmul', '[2, 3]', '[4, 5]', '3', '4']);
    assertThrowsNaming(() => zeros([3]).matmul(zeros([4])), ShapeError, ['matmul', '[3]', '[4]']);
    assertThrowsNaming(() => zeros([2, 2, 3]).matmul(zeros([3, 2, 2])), ShapeError, ['matmul', '[2, 2, 3]', '[3, 2, 2]']);
    assertThrowsNaming(() => S.linear(zeros([2, 3]), zeros([4, 5])), ShapeError, ['linear', '[2, 3]', '[4, 5]']);
  });

  it('reshape count mismatch names both shapes', () => {
    assertThrowsNaming(() => zeros([2, 3]).reshape(4, 2), ShapeError, ['reshape', '[4, 2]', '[2, 3]']);
    assertThrowsNaming(() => zeros([2, 3]).reshape(-1, 4), ShapeError, ['reshape', '[-1, 4]']);
    assertThrowsNaming(() => zeros([2, 3]).T.view(6), ShapeError, ['view', '[3, 2]', 'contiguous']);
  });

  it('expand, cat, stack and split name the shapes', () => {
    assertThrowsNaming(() => zeros([2, 3]).expand(4, 3), ShapeError, ['expand', '[2, 3]', '[4, 3]']);
    assertThrowsNaming(() => S.cat([zeros([2, 3]), zeros([2, 4])], 0), ShapeError, ['cat', 'tensor 1', '[2, 4]', '[2, 3]']);
    assertThrowsNaming(() => S.stack([zeros([2]), zeros([3])]), ShapeError, ['stack', '[3]', '[2]']);
    assertThrowsNaming(() => zeros([5]).split([2, 2]), ShapeError, ['split', '[2, 2]', '5']);
  });

  it('cat, stack and expand reject invalid dims', () => {
    assertThrowsNaming(() => S.cat([tensor(1), tensor(2)]), ShapeError, ['cat', '0-d', 'stack']);
    assertThrowsNaming(() => S.stack([zeros([2]), zeros([2])], 2), IndexError, ['stack', 'dim 2', 'rank 1']);
    assertThrowsNaming(() => zeros([2, 3]).expand(-1, 2, 3), ShapeError, ['expand', '[-1, 2, 3]', 'dim 0']);
  });

  it('indexAdd names the src shape it needs', () => {
    assertThrowsNaming(() => S.indexAdd([2, 3], 1, ints([0, 2]), zeros([2, 5])), ShapeError, ['indexAdd', '[2, 5]', '[2, 3]', '[2, 2]']);
    assertThrowsNaming(() => S.indexAdd([2, 3], 1, ints([[0]]), zeros([2, 1])), ShapeError, ['indexAdd', '1-D']);
  });

  it('copy_ names the shapes', () => {
    assertThrowsNaming(() => zeros([2, 3]).copy_(zeros([3, 3])), ShapeError, ['copy_', '[3, 3]', '[2, 3]']);
  });
});

describe('dtype errors', () => {
  it('names the op and the dtype', () => {
    assertThrowsNaming(() => S.where(zeros([2]), zeros([2]), zeros([2])), DTypeError, ['where', 'bool', 'float32']);
    assertThrowsNaming(() => zeros([2]).gather(0, zeros([2])), DTypeError, ['gather', 'int32', 'float32']);
    assertThrowsNaming(() => ints([1, 2]).exp(), DTypeError, ['exp', 'int32']);
    assertThrowsNaming(() => ints([[1]]).matmul(ints([[1]])), DTypeError, ['matmul', 'int32']);
    assertThrowsNaming(() => S.cat([zeros([2]), zeros([2], { dtype: 'float64' })]), DTypeError, ['cat', 'float64', 'float32']);
    assertThrowsNaming(() => zeros([2]).maskedFill(zeros([2]), 1), DTypeError, ['maskedFill', 'bool']);
  });
});

describe('index errors', () => {
  it('an out-of-range dim names the op, dim and rank', () => {
    assertThrowsNaming(() => zeros([2, 3]).sum(2), IndexError, ['sum', 'dim 2', 'rank 2']);
    assertThrowsNaming(() => zeros([2, 3]).softmax(-3), IndexError, ['softmax', 'dim -3']);
    assertThrowsNaming(() => zeros([2, 3]).transpose(0, 2), IndexError, ['transpose', 'dim 2']);
    assertThrowsNaming(() => zeros([2, 3]).unsqueeze(4), IndexError, ['unsqueeze', 'dim 4']);
    assertThrowsNaming(() => zeros([2, 3]).sum([0, 0]), IndexError, ['sum', 'repeats']);
  });

  it('an index past the size names the op, index and shape', () => {
    assertThrowsNaming(() => zeros([2, 3]).gather(1, ints([[0, 3]])), IndexError, ['gather', 'index 3', 'size 3', '[2, 3]']);
    assertThrowsNaming(() => zeros([2, 3]).indexSelect(0, ints([5])), IndexError, ['indexSelect', 'index 5', 'size 2', '[2, 3]']);
    assertThrowsNaming(() => zeros([3]).scatterAdd(0, ints([-4]), zeros([1])), IndexError, ['scatterAdd', 'index -4']);
    assertThrowsNaming(() => zeros([2, 3]).select(1, 3), IndexError, ['select', 'index 3', 'size 3']);
    assertThrowsNaming(() => zeros([2, 3]).narrow(1, 2, 2), IndexError, ['narrow', '[2, 3]']);
    assertThrowsNaming(() => zeros([2, 3]).get(0, 3), IndexError, ['get', 'index 3']);
  });
});

describe('autograd errors', () => {
  it('backward twice names the node and the fix', () => {
    const y = zeros([2], { requiresGrad: true }).exp().sum();
    y.backward();
    assertThrowsNaming(() => y.backward(), AutogradError, ['Backward', 'retainGraph']);
  });

  it('non-scalar backward names the shape', () => {
    assertThrowsNaming(() => zeros([2, 3], { requiresGrad: true }).mul(2).backward(), AutogradError, ['backward', '[2, 3]', 'scalar']);
  });

  it('backward of a tensor without history says why', () => {
    assertThrowsNaming(() => zeros([1]).sum().backward(), AutogradError, ['backward', 'requires']);
  });

  it('in-place change of a grad leaf', () => {
    const leaf = zeros([2], { requiresGrad: true });
    assertThrowsNaming(() => leaf.add_(1), AutogradError, ['add_', 'leaf', 'noGrad']);
    assertThrowsNaming(() => leaf.copy_(zeros([2])), AutogradError, ['copy_', 'leaf']);
    assertThrowsNaming(() => leaf.mul(2).fill_(0), AutogradError, ['fill_']);
    noGrad(() => leaf.add_(1));
    assert.deepEqual(leaf.toArray(), [1, 1]);
  });

  it('requiresGrad on an integer tensor names the dtype', () => {
    assertThrowsNaming(() => ints([1]).requiresGrad_(), AutogradError, ['requiresGrad_', 'int32']);
    assertThrowsNaming(() => zeros([1], { requiresGrad: true }).mul(2).requiresGrad_(false), AutogradError, ['Mul', 'detach']);
  });
});

describe('value errors', () => {
  it('names the op and the value', () => {
    assertThrowsNaming(() => zeros([3]).clamp(1, 0), ValueError, ['clamp', '1', '0']);
    assertThrowsNaming(() => zeros([2]).item(), ValueError, ['item', '[2]']);
    assertThrowsNaming(() => zeros([0]).max(), ValueError, ['max', '[0]']);
    assertThrowsNaming(() => zeros([4]).slice(0, 0, 4, 0), ValueError, ['slice', 'step']);
    assertThrowsNaming(() => zeros([4]).chunk(0), ValueError, ['chunk', '0']);
    assertThrowsNaming(() => zeros([2]).gelu('fast' as 'tanh'), ValueError, ['gelu', 'fast']);
  });
});

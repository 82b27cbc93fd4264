import assert from 'node:assert/strict';

import { DeviceError, tensor } from '../index.js';
import { dispose, getGpuMode, isGpuModeSupported, memoryInfo, setGpuLogger, setGpuMode } from '../gpu/index.js';
import { GPU_MODE, describeGpu } from './gpu-harness.js';

describeGpu('gpu mode selection', () => {
  afterEach(() => {
    setGpuLogger(console);
  });

  it('runs in the mode under test', () => {
    assert.equal(getGpuMode(), GPU_MODE);
  });

  it('buffers are textures only in GL modes', () => {
    const before = memoryInfo().bytes;
    const x = tensor([1, 2, 3], { device: 'gpu' });
    const bytes = memoryInfo().bytes - before;
    // A GL texel has 4 float32 channels (16 bytes), of which a scalar kernel uses one.
    if (GPU_MODE === 'headlessgl') assert.ok(bytes >= 3 * 16, `expected a float texture of at least 48 bytes, got ${bytes}`);
    else assert.equal(bytes, 3 * 4);
    dispose(x);
  });

  it('logs the chosen mode once', () => {
    const messages: string[] = [];
    setGpuLogger({ info: (message) => messages.push(message) });
    setGpuMode(GPU_MODE);
    tensor([1, 2], { device: 'gpu' }).add(1).sum().item();
    tensor([3], { device: 'gpu' }).mul(2).item();
    assert.equal(messages.length, 1, `expected one log line, got ${JSON.stringify(messages)}`);
    assert.match(messages[0], new RegExp(`gpu.js mode '${GPU_MODE}'`));
  });

  it('tensors from before a mode change are rejected', () => {
    const old = tensor([1, 2], { device: 'gpu' });
    setGpuLogger(null);
    setGpuMode(GPU_MODE);
    assert.throws(() => old.add(1), (e: unknown) => e instanceof DeviceError && /setGpuMode/.test(e.message));
  });

  it('auto picks headlessgl when it works, else cpu', () => {
    setGpuLogger(null);
    setGpuMode('auto');
    try {
      assert.equal(getGpuMode(), isGpuModeSupported('headlessgl') ? 'headlessgl' : 'cpu');
    } finally {
      setGpuMode(GPU_MODE);
    }
  });

  it('promise-returning modes are rejected', () => {
    for (const mode of ['webgpu', 'async']) {
      assert.throws(() => setGpuMode(mode), (e: unknown) => e instanceof DeviceError && /Promise/.test(e.message));
    }
    assert.equal(getGpuMode(), GPU_MODE);
  });

  it('unknown modes list the valid ones', () => {
    assert.throws(() => setGpuMode('vulkan'), (e: unknown) => e instanceof DeviceError && /'headlessgl'/.test(e.message) && /'cpu'/.test(e.message));
  });

  it('browser-only modes are unavailable in node', () => {
    assert.equal(isGpuModeSupported('webgl2'), false);
    assert.throws(() => setGpuMode('webgl2'), (e: unknown) => e instanceof DeviceError && /browser/.test(e.message) && /headlessgl/.test(e.message));
    assert.equal(getGpuMode(), GPU_MODE);
  });
});

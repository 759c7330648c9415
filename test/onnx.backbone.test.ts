/**
 * The ONNX Runtime backbone around the exporter: the cache of exported files (keyed, atomic, corrupt
 * files replaced), input checks, threads, the worker thread that keeps the event loop free, and the
 * batch-size tuner.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { getTf } from "../lib/backbone/tf";
import { BatchTuner, createOnnxBackbone, onnxCacheFile, ortLoader, resetOnnxRuntime } from "../lib/backbone/onnx/index";
import { isCbirError } from "../lib/errors";
import { loadBackbone } from "../lib/backbone/load";
import { FIXTURE_SIZE as SIZE, cut, fixtureMeta as meta, inputs, mobileLike, seedWeights } from "./onnx.fixtures";

test("exports are cached by model, weights, layer and size; a corrupt cache file is replaced", async () => {
  const tf = await getTf();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-onnx-cache-"));
  try {
    const model = cut(tf, mobileLike(tf, SIZE), "m_add");
    seedWeights(tf, model, 3);
    const m = meta("fixture:mobile_like", model, "hash-a");
    const file = onnxCacheFile(m, dir);
    assert.ok(file.startsWith(path.join(dir, "onnx") + path.sep) && file.endsWith(".onnx"));
    const logs: string[] = [];
    const first = await createOnnxBackbone(model, m, { log: (l) => logs.push(l) }, { cacheDir: dir });
    assert.equal(first.fromCache, false);
    assert.equal(first.onnxFile, file);
    assert.ok(fs.existsSync(file));
    assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith(".tmp")), []);
    const { batch, n } = await inputs(2, SIZE);
    const a = await first.infer(batch, n);
    first.dispose();

    const second = await createOnnxBackbone(model, m, undefined, { cacheDir: dir });
    assert.equal(second.fromCache, true);
    assert.deepEqual(await second.infer(batch, n), a);
    second.dispose();

    // any part of the key changes the file
    assert.notEqual(onnxCacheFile({ ...m, weightsHash: "hash-b" }, dir), file);
    assert.notEqual(onnxCacheFile({ ...m, layer: "m_gap" }, dir), file);
    assert.notEqual(onnxCacheFile({ ...m, inputSize: [SIZE, SIZE + 1] }, dir), file);

    fs.writeFileSync(file, "not an onnx model");
    const warnings: string[] = [];
    const third = await createOnnxBackbone(model, m, { notice: (x) => warnings.push(x.message) }, { cacheDir: dir });
    assert.equal(third.fromCache, false);
    assert.match(warnings.join("\n"), /could not be loaded/);
    assert.deepEqual(await third.infer(batch, n), a);
    third.dispose();
    model.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("infer checks its input and honours the threads option", async () => {
  const tf = await getTf();
  const model = cut(tf, mobileLike(tf, SIZE), "m_gap");
  seedWeights(tf, model, 5);
  const b = await createOnnxBackbone(model, meta("fixture:threads", model, ""), undefined, { threads: 2 });
  assert.equal(b.threads, 2);
  await assert.rejects(b.infer(new Float32Array(10), 1), (e: unknown) => isCbirError(e) && e.code === "E_BAD_OPTION");
  await assert.rejects(b.infer(new Float32Array(SIZE * SIZE * 3), 0), (e: unknown) => isCbirError(e) && e.code === "E_BAD_OPTION");
  const out = await b.infer(new Float32Array(2 * SIZE * SIZE * 3), 2);
  assert.equal(out.length, 2 * 12);
  b.dispose();
  await assert.rejects(createOnnxBackbone(model, meta("x", model, ""), undefined, { threads: 0 }), (e: unknown) => isCbirError(e) && e.code === "E_BAD_OPTION");
  process.env.CBIR_ONNX_THREADS = "two";
  try {
    await assert.rejects(createOnnxBackbone(model, meta("x", model, "")), { message: 'Expected integer from 1 to 256 for CBIR_ONNX_THREADS but received "two" of type string' });
    process.env.CBIR_ONNX_THREADS = "2";
    const fromEnv = await createOnnxBackbone(model, meta("x", model, ""));
    assert.equal(fromEnv.threads, 2);
    fromEnv.dispose();
  } finally {
    delete process.env.CBIR_ONNX_THREADS;
  }
  await assert.rejects(
    createOnnxBackbone(model, { ...meta("x", model, ""), inputSize: [SIZE + 2, SIZE] }),
    (e: unknown) => isCbirError(e) && e.code === "E_BAD_OPTION",
  );
  model.dispose();
});

test("the session runs in a worker thread by default, or on the calling thread, with the same results", async () => {
  const tf = await getTf();
  const model = cut(tf, mobileLike(tf, SIZE), "m_sep");
  seedWeights(tf, model, 11);
  const { batch, n } = await inputs(3, SIZE);
  const worker = await createOnnxBackbone(model, meta("fixture:worker", model, ""));
  const local = await createOnnxBackbone(model, meta("fixture:local", model, ""), undefined, { inWorker: false });
  assert.equal(worker.inWorker, true);
  assert.equal(local.inWorker, false);
  const a = await worker.infer(batch, n);
  // a view into a larger buffer is sent as just the batch
  const padded = new Float32Array(batch.length + 100);
  padded.set(batch, 100);
  assert.deepEqual(await worker.infer(padded.subarray(100), n), a);
  assert.deepEqual(await local.infer(batch, n), a);
  worker.dispose();
  local.dispose();
  await assert.rejects(worker.infer(batch, n), /disposed/);
  model.dispose();
});

test("BatchTuner tries each size, ignores each size's first batch, then keeps the fastest per image", () => {
  const tuner = new BatchTuner({ candidates: [4, 8, 16], trials: 3 });
  assert.equal(tuner.largest, 16);
  const msPerImage: Record<number, number> = { 4: 10, 8: 6, 16: 5.9 }; // 16 is not clearly (5%) faster than 8
  const asked: number[] = [];
  for (let i = 0; i < 9; i++) {
    const b = tuner.next();
    asked.push(b);
    const first = asked.filter((x) => x === b).length === 1;
    tuner.record(b, b * msPerImage[b] * (first ? 20 : 1)); // the first batch of a size is slow
  }
  assert.deepEqual(asked, [4, 4, 4, 8, 8, 8, 16, 16, 16]);
  assert.equal(tuner.chosen, undefined);
  assert.equal(tuner.next(), 8);
  assert.equal(tuner.chosen, 8);
  assert.equal(Math.round(tuner.measured()[4]), 100);
  assert.deepEqual(new BatchTuner({ candidates: [4, 8, 16, 32], max: 10 }).largest, 8);
  assert.throws(() => new BatchTuner({ candidates: [0] }), (e: unknown) => isCbirError(e) && e.code === "E_BAD_OPTION");
});

test("an ONNX Runtime that cannot load is E_NO_RUNTIME naming the fix, not an unsupported layer", async () => {
  const tf = await getTf();
  const model = cut(tf, mobileLike(tf, SIZE), "m_add");
  const saved = ortLoader.load;
  ortLoader.load = () => {
    throw new Error("Cannot find module 'onnxruntime-node'\nRequire stack: ...");
  };
  resetOnnxRuntime();
  try {
    await assert.rejects(createOnnxBackbone(model, meta("fixture:no_runtime", model, "none")), (e: unknown) => {
      assert.ok(isCbirError(e));
      assert.equal(e.code, "E_NO_RUNTIME");
      assert.match(e.message, /ONNX Runtime \(onnxruntime-node\) cannot be loaded \(Cannot find module 'onnxruntime-node'\)/);
      assert.match(e.message, /npm ci/);
      assert.match(e.message, /--runtime tfjs/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  } finally {
    ortLoader.load = saved;
    resetOnnxRuntime();
    model.dispose();
  }
});

test("loadBackbone without ONNX Runtime: runs tfjs with a notice naming the missing runtime and its fix, asked for or not", async () => {
  const saved = ortLoader.load;
  ortLoader.load = () => {
    throw new Error("Cannot find module 'onnxruntime-node'");
  };
  resetOnnxRuntime();
  const options = { weights: "random", seed: 1, widthScale: 1 / 16, inputSize: 32, layer: "block_1_project" };
  try {
    const warnings: string[] = [];
    const b = await loadBackbone("keras/mobilenet_v2", { ...options, reporter: { notice: (n) => warnings.push(n.message) } });
    try {
      assert.equal(b.runtime, "tfjs");
      assert.ok(warnings.some((w) => /ONNX Runtime \(onnxruntime-node\) cannot be loaded/.test(w) && /Running keras:mobilenet_v2\S* with tfjs/.test(w)), warnings.join("\n"));
    } finally {
      b.dispose();
    }
    const asked: string[] = [];
    const c = await loadBackbone("keras/mobilenet_v2", { ...options, runtime: "onnx", reporter: { notice: (n) => asked.push(n.message) } });
    try {
      assert.equal(c.runtime, "tfjs");
      assert.ok(asked.some((w) => /onnxruntime-node/.test(w) && /npm ci/.test(w) && !/unsupported/i.test(w)), asked.join("\n"));
    } finally {
      c.dispose();
    }
  } finally {
    ortLoader.load = saved;
    resetOnnxRuntime();
  }
});

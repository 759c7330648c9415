/**
 * Native .onnx files as backbones: a small model exported here with lib/onnx (no download) runs through
 * loadBackbone + extractFeatures with the values tfjs gives, `cbir layers` lists its outputs, asking for
 * another runtime is one error, and a corrupt file is one error line naming it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { getTf } from "../lib/backbone/tf";
import { loadBackbone, listLayers, resolveModel } from "../lib/backbone/index";
import { exportLayersModel, serializeModel } from "../lib/onnx/index";
import { ortLoader, resetOnnxRuntime } from "../lib/backbone/onnx/index";
import { extractFeatures } from "../lib/extract/features";
import { preprocessPixels } from "../lib/backbone/preprocess";
import { decodeImage } from "../lib/prepare/decode";
import { isCbirError } from "../lib/errors";
import { sha256 } from "../lib/fingerprint";
import { FIXTURE_SIZE as SIZE, TOLERANCE, cut, mobileLike, relativeError, seedWeights, tfjsOutput } from "./onnx.fixtures";

const CLI = path.resolve(__dirname, "../bin/cbir.cjs");

async function fixture(): Promise<{ dir: string; file: string; images: string[]; expected: Float32Array; per: number }> {
  const tf = await getTf();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-onnx-native-"));
  const model = cut(tf, mobileLike(tf, SIZE), "m_gap");
  seedWeights(tf, model, 7);
  const file = path.join(dir, "tiny.onnx");
  fs.writeFileSync(file, exportLayersModel(model, { graphName: "tiny", inputSize: [SIZE, SIZE] }).bytes);
  const images: string[] = [];
  for (let i = 0; i < 3; i++) {
    const p = path.join(dir, `img${i}.png`);
    const px = Buffer.alloc(SIZE * SIZE * 3, 0);
    for (let k = 0; k < px.length; k++) px[k] = (k * (i + 3) * 7) % 256;
    await sharp(px, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(p);
    images.push(p);
  }
  const per = SIZE * SIZE * 3;
  const batch = new Float32Array(images.length * per);
  for (let i = 0; i < images.length; i++) {
    const img = await decodeImage(images[i], { size: [SIZE, SIZE], resize: "bilinear" });
    preprocessPixels(img.data, "tf", batch.subarray(i * per, (i + 1) * per));
  }
  const expected = await tfjsOutput(tf, model, batch, images.length);
  model.dispose();
  return { dir, file, images, expected, per: expected.length / images.length };
}

test("an .onnx file is a backbone: defaults from its metadata, id with its hash, features equal tfjs's", async () => {
  const { dir, file, images, expected, per } = await fixture();
  try {
    const resolved = await resolveModel(file);
    assert.equal(resolved.kind, "onnx");
    assert.deepEqual(resolved.defaults, { layer: "output", inputSize: [SIZE, SIZE], preprocessing: "tf", resize: "bilinear" });
    const layers = await listLayers(file);
    assert.deepEqual(layers, [{ name: "output", type: "output", outputShape: [per], params: 0 }]);

    const backbone = await loadBackbone(file);
    try {
      const hash = sha256(fs.readFileSync(file));
      assert.equal(backbone.runtime, "onnx");
      assert.equal(backbone.weightsHash, hash);
      assert.ok(backbone.id.includes(hash.slice(0, 16)), backbone.id);
      assert.deepEqual(backbone.outputShape, [per]);
      const items = images.map((p) => ({ path: p, name: path.basename(p) }));
      const { features, skipped } = await extractFeatures(backbone, items, { pooling: "gap", batchSize: 2 });
      assert.deepEqual(skipped, []);
      assert.equal(features.dim, per);
      assert.ok(relativeError(features.data, expected) < TOLERANCE, `relative error ${relativeError(features.data, expected)}`);
    } finally {
      backbone.dispose();
    }

    await assert.rejects(loadBackbone(file, { runtime: "tfjs" }), (e: unknown) => isCbirError(e) && e.code === "E_BAD_OPTION" && /onnx runtime only/.test(e.message));
    await assert.rejects(loadBackbone(file, { layer: "nope" }), (e: unknown) => isCbirError(e) && e.code === "E_UNKNOWN_LAYER" && /output/.test(e.message));
    await assert.rejects(loadBackbone(file, { inputSize: 64 }), (e: unknown) => isCbirError(e) && e.code === "E_BAD_OPTION" && /takes 45x45 inputs only/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("`cbir layers model.onnx` lists its outputs; a corrupt .onnx is one error line naming the file", async () => {
  const { dir, file, per } = await fixture();
  try {
    const ok = spawnSync(process.execPath, [CLI, "layers", file], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /default cut output, input 45x45, preprocessing tf/);
    assert.match(ok.stdout, new RegExp(`^output \\*\\s+output\\s+${per}\\s+0\\s+${per}$`, "m"));

    const bad = path.join(dir, "corrupt.onnx");
    fs.writeFileSync(bad, fs.readFileSync(file).subarray(0, 200));
    const r = spawnSync(process.execPath, [CLI, "layers", bad], { encoding: "utf8" });
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^error: /);
    assert.ok(lines[0].includes(bad), lines[0]);
    assert.match(lines[0], /not a readable ONNX model/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("an NCHW .onnx input gets each NHWC batch transposed; open spatial dims default to 224", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-onnx-nchw-"));
  try {
    // NCHW in, Transpose back to NHWC out: the output must equal the NHWC batch the backbone was given.
    const bytes = serializeModel(
      {
        name: "nchw_identity",
        nodes: [{ op: "Transpose", inputs: ["pixels"], outputs: ["nhwc"], name: "t", attributes: { perm: [0, 2, 3, 1] } }],
        initializers: [],
        input: { name: "pixels", dims: ["batch", 3, "h", "w"] },
        output: { name: "nhwc", dims: ["batch", "h", "w", 3] },
      },
      "test",
    );
    const file = path.join(dir, "nchw.onnx");
    fs.writeFileSync(file, bytes);
    const resolved = await resolveModel(file);
    assert.equal(resolved.kind, "onnx");
    if (resolved.kind !== "onnx") return;
    assert.equal(resolved.input.layout, "NCHW");
    assert.deepEqual(resolved.defaults.inputSize, [224, 224]);
    const backbone = await loadBackbone(file, { inputSize: [8, 10] });
    try {
      assert.deepEqual(backbone.outputShape, [8 * 10 * 3]);
      const batch = Float32Array.from({ length: 2 * 8 * 10 * 3 }, (_, i) => i);
      assert.deepEqual(await backbone.infer(batch, 2), batch);
    } finally {
      backbone.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("`cbir eval --model model.onnx` ranks a labelled folder with it; `--runtime tfjs` is one error line", async () => {
  const { dir, file, images } = await fixture();
  try {
    const db = path.join(dir, "db");
    images.forEach((p, i) => {
      const label = path.join(db, i < 2 ? "a" : "b");
      fs.mkdirSync(label, { recursive: true });
      fs.copyFileSync(p, path.join(label, path.basename(p)));
    });
    fs.copyFileSync(images[2], path.join(db, "b", "copy.png"));
    const ok = spawnSync(process.execPath, [CLI, "eval", db, "--model", file, "--hist-weight", "0", "-k", "1"], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /mAP/);
    assert.ok(ok.stdout.includes("tiny.onnx") || ok.stderr.includes("tiny.onnx"), ok.stdout);

    const bad = spawnSync(process.execPath, [CLI, "eval", db, "--model", file, "--runtime", "tfjs"], { encoding: "utf8" });
    assert.equal(bad.status, 2, bad.stderr); // a bad option: the usage exit code
    const lines = bad.stderr.trim().split("\n");
    assert.equal(lines.length, 1, bad.stderr);
    assert.match(lines[0], /^error: .*onnx runtime only/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("without ONNX Runtime a native .onnx model is E_NO_RUNTIME naming the file, with no tfjs fallback offered", async () => {
  const { dir, file } = await fixture();
  const saved = ortLoader.load;
  ortLoader.load = () => {
    throw new Error("Cannot find module 'onnxruntime-node'");
  };
  resetOnnxRuntime();
  try {
    await assert.rejects(
      loadBackbone(file),
      (e: unknown) =>
        isCbirError(e) && e.code === "E_NO_RUNTIME" && e.file === path.resolve(file) && /onnxruntime-node/.test(e.message) && /npm ci/.test(e.fix!) && !/tfjs/.test(e.fix!) && !/unsupported/i.test(e.message),
    );
  } finally {
    ortLoader.load = saved;
    resetOnnxRuntime();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

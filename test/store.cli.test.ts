/**
 * `cbir index`, `cbir query` and `cbir eval` end to end, as a user runs them (a child process), with a tiny
 * random-weight model saved to disk, so no download and no shared data are needed.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import sharp from "sharp";
import type * as tfTypes from "@tensorflow/tfjs";
import { getTf } from "../lib/backbone";

const ROOT = path.resolve(__dirname, "..");
const SAMPLE = path.join(ROOT, "data", "sample");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-cli-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function cbir(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "cbir.cjs"), ...args], { cwd: work, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function saveTinyModel(dir: string): Promise<string> {
  const tf = await getTf();
  const input = tf.input({ shape: [32, 32, 3], name: "image" });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: "same", name: "c1", activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfTypes.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: "pool1" }).apply(x) as tfTypes.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: "same", name: "c2", activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tfTypes.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x, name: "tiny" });
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      fs.writeFileSync(path.join(dir, "w.bin"), new Uint8Array(a.weightData as ArrayBuffer));
      const json = { format: "layers-model", modelTopology: a.modelTopology, weightsManifest: [{ paths: ["w.bin"], weights: a.weightSpecs }] };
      fs.writeFileSync(path.join(dir, "model.json"), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  return path.join(dir, "model.json");
}

const haveSample = fs.existsSync(SAMPLE);
test("index, update, query and eval from the command line", { skip: haveSample ? false : "data/sample missing" }, async () => {
  const model = await saveTinyModel(path.join(work, "model"));
  const db = path.join(work, "db");
  fs.mkdirSync(db);
  for (const n of ["bird1.png", "bird2.png", "bird3.png", "fruit1.png", "fruit2.png", "fruit3.png"]) fs.copyFileSync(path.join(SAMPLE, n), path.join(db, n));
  const idx = path.join(work, "idx");
  const pipeline = ["--model", model, "--layer", "c2", "--hist-weight", "0.25"];

  let r = cbir("index", db, "--index", idx, ...pipeline, "--commit-every", "4");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /6 vectors of 528 values/);
  assert.match(r.out, /6 added, 0 changed, 0 removed/);
  const manifest = JSON.parse(fs.readFileSync(path.join(idx, "manifest.json"), "utf8"));
  assert.deepEqual(manifest.post.steps, ["fuse16w0.25c"]);

  fs.copyFileSync(path.join(SAMPLE, "bird4.png"), path.join(db, "bird4.png"));
  r = cbir("index", db, "--index", idx, ...pipeline);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /1 added, 0 changed, 0 removed, 0 renamed, 6 unchanged/);

  r = cbir("query", idx, path.join(SAMPLE, "bird5.png"), "-k", "3", "--out", path.join(work, "out"));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /bird5\.png \(bird\):\n\s+1\. \S+\.png \[(bird|fruit)\]\s+cosine -?\d\.\d{4}/);
  assert.ok(fs.existsSync(path.join(work, "out", "queries", "bird5_rec.png")), "recommendation figure written");

  // two queries that share a file name: each keeps its own ranking, label (its folder) and figure
  for (const [cls, src] of [["bird", "bird6.png"], ["fruit", "fruit5.png"]]) {
    fs.mkdirSync(path.join(work, "q", cls), { recursive: true });
    fs.copyFileSync(path.join(SAMPLE, src), path.join(work, "q", cls, "001.png"));
  }
  r = cbir("query", idx, path.join(work, "q", "bird", "001.png"), path.join(work, "q", "fruit", "001.png"), "-k", "3", "--layout", "row", "--out", path.join(work, "out"));
  assert.equal(r.code, 0, r.err);
  const blocks = r.out.split(/^(?=\S.*:\n)/m).filter((b) => b.includes("cosine"));
  assert.equal(blocks.length, 2, r.out);
  assert.match(blocks[0], /^bird\/001\.png \(bird\):/);
  assert.match(blocks[1], /^fruit\/001\.png \(fruit\):/);
  assert.notEqual(blocks[0].split("\n").slice(1).join("\n"), blocks[1].split("\n").slice(1).join("\n"), "different images, different rankings");
  for (const f of ["bird__001_rec.png", "fruit__001_rec.png"]) {
    const meta = await sharp(path.join(work, "out", "queries", f)).metadata();
    assert.ok(meta.width! > 2 * meta.height!, `${f}: --layout row puts the query and its 3 hits on one line (${meta.width}x${meta.height})`);
  }
  r = cbir("query", idx, path.join(SAMPLE, "bird5.png"), "--layout", "columns");
  assert.equal(r.code, 2);
  assert.match(r.err, /one of grid, row for layout/);

  r = cbir("query", idx, path.join(SAMPLE, "bird5.png"), "--layer", "c1", "--no-figures");
  assert.equal(r.code, 1);
  assert.match(r.err, /different pipeline \(.*layer: "c2" vs "c1"/);

  const json = path.join(work, "eval.json");
  r = cbir("eval", db, ...pipeline, "--at", "1,3", "--json", json);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /settings: 7 images, .* @ c2, gem -> 528 values, post fuse16w0\.25c, cosine, query expansion 10, leave-one-out/);
  assert.match(r.out, /P@1 \d\.\d{3}  P@3 \d\.\d{3}  mAP \d\.\d{3}  \(7 queries, cosine, leave-one-out\)/);
  const ev = JSON.parse(fs.readFileSync(json, "utf8"));
  assert.ok(ev.evaluation.mAP > 0 && ev.evaluation.mAP <= 1);
  assert.deepEqual(Object.keys(ev.evaluation.perClass), ["bird", "fruit"]);

  r = cbir("eval", db, ...pipeline, "--at", "1", "--qe", "0", "--whiten", "4");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /post fuse16w0\.25cpw4, cosine, leave-one-out/, "--whiten whitens the CNN block, --qe 0 turns expansion off");
  r = cbir("eval", db, ...pipeline, "--qe", "-2");
  assert.equal(r.code, 2, "a bad option value is a usage error");
  assert.match(r.err, /queryExpansion but received -2/);
});

test("every command has --help", () => {
  for (const c of ["index", "query", "eval"]) {
    const r = cbir(c, "--help");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`Usage: cbir ${c}`));
    assert.match(r.out, /--model <name>/);
  }
});

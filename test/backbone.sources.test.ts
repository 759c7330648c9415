/**
 * The backbone source registry (lib/backbone/sources/): names go to the first source that matches, in the
 * registry's order; the unknown-model error, the CLI's --model help and the backbone README are read from it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BACKBONE_SOURCES, BACKBONE_SOURCE_NAMES, backboneNamesHelp, knownModelNames, resolveModel, sourceFor, type BackboneSourceName } from "../lib/backbone/index";
import { isCbirError } from "../lib/errors";
import { resolveConfig } from "../lib/config";

function sourceName(name: string): BackboneSourceName | undefined {
  const source = sourceFor(name);
  return BACKBONE_SOURCE_NAMES.find((n) => BACKBONE_SOURCES[n] === source);
}

test("each name goes to the first source that matches it, in the registry's order", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-sources-"));
  try {
    const h5 = path.join(dir, "weights.h5");
    const onnx = path.join(dir, "model.onnx");
    for (const f of [h5, onnx, path.join(dir, "model.json")]) fs.writeFileSync(f, "");
    const cases: Array<[string, BackboneSourceName | undefined]> = [
      ["nsfwjs/inception_v3", "nsfwjs"],
      ["mobilenet_v1_0.75_224", "zoo"],
      ["zoo/mobilenet_v1_0.50_224", "zoo"],
      ["keras/vgg16", "keras"],
      [h5, "keras-h5"],
      ["https://example.invalid/w.h5", "keras-h5"],
      [onnx, "onnx"],
      ["https://example.invalid/model.json", "tfjs-url"],
      [path.join(dir, "model.json"), "tfjs-file"],
      [dir, "tfjs-file"],
      [path.join(dir, "missing.onnx"), undefined],
      ["keras/vgg17", undefined],
    ];
    for (const [name, expected] of cases) assert.equal(sourceName(name), expected, name);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the unknown-model error lists the registry's names; a missing path is named as a file", async () => {
  const names = Object.values(BACKBONE_SOURCES).flatMap((s) => [...(s.names ?? [])]);
  assert.deepEqual(knownModelNames(), names);
  await assert.rejects(resolveModel("keras/vgg17"), (e: unknown) => isCbirError(e) && e.code === "E_UNKNOWN_MODEL" && names.every((n) => e.fix!.includes(n)));
  await assert.rejects(resolveModel("/nonexistent/model.onnx"), (e: unknown) => isCbirError(e) && e.code === "E_UNKNOWN_MODEL" && e.file === "/nonexistent/model.onnx" && /\.onnx/.test(e.fix!));
});

test("--model's help and the backbone README name every registered source", () => {
  const help = backboneNamesHelp();
  for (const s of Object.values(BACKBONE_SOURCES)) assert.ok(help.includes(s.accepts), s.accepts);
  const cli = path.resolve(__dirname, "../bin/cbir.cjs");
  const r = spawnSync(process.execPath, [cli, "eval", "--help"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const flat = r.stdout.replace(/\s+/g, " ");
  assert.ok(flat.includes(`--model <name> backbone: ${help}`), flat);
  const readme = fs.readFileSync(path.resolve(__dirname, "../lib/backbone/README.md"), "utf8");
  for (const name of BACKBONE_SOURCE_NAMES) assert.ok(readme.includes(name), `lib/backbone/README.md does not name the source ${name}`);
});

test("resolveConfig refuses a model name no source takes, with the registered names; paths wait for loadBackbone", () => {
  assert.throws(
    () => resolveConfig({ model: "keras/vgg17" }),
    (e: unknown) => isCbirError(e) && e.code === "E_UNKNOWN_MODEL" && /unknown model 'keras\/vgg17'\. Closest names: keras\/vgg16/.test(e.message) && knownModelNames().every((n) => e.fix!.includes(n)),
  );
  assert.throws(() => resolveConfig({ model: "mobilenet_v3" }), (e: unknown) => isCbirError(e) && e.code === "E_UNKNOWN_MODEL");
  // an index's recorded model file may be gone: its stored vectors are still evaluated without it
  for (const model of ["/gone/model.json", "/gone/weights.h5", "/gone/model.onnx", "https://example.invalid/model.json", "keras/vgg16", "nsfwjs/inception_v3"])
    assert.equal(resolveConfig({ model }).features.model, model);
});

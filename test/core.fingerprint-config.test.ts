import { test } from "node:test";
import assert from "node:assert/strict";
import { assertSameFingerprint, diffFingerprints, extendFingerprint, hashState, makeFingerprint } from "../lib/fingerprint";
import { DEFAULT_CONFIG, resolveConfig, type PipelineConfig } from "../lib/config";
import type { Backbone } from "../lib/backbone/types";
import { Pipeline } from "../lib/pipeline/pipeline";
import { closestNames, CbirError } from "../lib/errors";

const base = { backbone: "nsfwjs:mobilenet_v2_mid", weights: "abc", layer: "Conv_1", inputSize: [224, 224] as [number, number], resize: "bilinear", preprocessing: "unit", pooling: "gap" };

test("the fingerprint is stable, key-order independent, and changes with every part", () => {
  const a = makeFingerprint(base);
  assert.equal(a.id, makeFingerprint({ ...base }).id);
  assert.equal(a.id, makeFingerprint(Object.fromEntries(Object.entries(base).reverse()) as typeof base).id);
  const variants = [{ layer: "block_13" }, { weights: "abd" }, { inputSize: [299, 299] as [number, number] }, { resize: "area" }, { preprocessing: "tf" }, { pooling: "gem3" }, { reducers: ["center:1"] }, { extra: { hist: 0.5 } }];
  const ids = new Set([a.id, ...variants.map((v) => makeFingerprint({ ...base, ...v }).id)]);
  assert.equal(ids.size, variants.length + 1);
});

test("a fitted reducer's state is part of the fingerprint", () => {
  const a = makeFingerprint(base);
  const c1 = extendFingerprint(a, { reducer: `center:${hashState([1, 2, 3])}` });
  const c2 = extendFingerprint(a, { reducer: `center:${hashState([1, 2, 4])}` });
  assert.notEqual(c1.id, c2.id);
  assert.deepEqual(c1.parts.reducers.length, 1);
  assert.equal(a.parts.reducers.length, 0, "extending does not mutate the original");
});

test("mixing fingerprints is refused with a message naming what differs", () => {
  const a = makeFingerprint(base);
  const b = makeFingerprint({ ...base, layer: "block_13_expand_relu" });
  assert.deepEqual(diffFingerprints(a, b), ['layer: "Conv_1" vs "block_13_expand_relu"']);
  assert.throws(() => assertSameFingerprint(a, b, "idx/manifest.json"), (e: CbirError) => {
    assert.equal(e.code, "E_FINGERPRINT_MISMATCH");
    assert.match(e.message, /idx\/manifest\.json/);
    assert.match(e.message, /layer: "Conv_1" vs "block_13_expand_relu"/);
    assert.match(e.message, /Fix: /);
    return true;
  });
  assert.doesNotThrow(() => assertSameFingerprint(a, makeFingerprint(base)));
});

test("config: defaults merge field by field and bad values are named", () => {
  const c = resolveConfig({ k: 10 });
  assert.equal(c.search.k, 10);
  assert.equal(c.features.model, DEFAULT_CONFIG.model);
  assert.equal(c.features.layer, DEFAULT_CONFIG.layer);
  assert.deepEqual(c.settings, { ...DEFAULT_CONFIG, k: 10 }, "the flat form has every field");
  assert.equal(resolveConfig(c), c, "a resolved config is not resolved again");
  assert.equal(DEFAULT_CONFIG.model, "mobilenet_v1_0.75_224", "the bundled pure-ImageNet MobileNet v1 is the default");
  assert.equal(resolveConfig({ model: "nsfwjs/mobilenet_v2" }).features.layer, "", "another model without a layer uses its own default");
  assert.equal(resolveConfig({ model: "nsfwjs/mobilenet_v2" }).post.whiten, 0, "the whitening was chosen for the default backbone only");
  assert.equal(resolveConfig({ model: "nsfwjs/mobilenet_v2", whiten: 64 }).post.whiten, 64);
  assert.equal(resolveConfig({}).post.whiten, DEFAULT_CONFIG.whiten);
  assert.throws(() => resolveConfig({ whiten: 1.5 }), /Expected integer >= 0 \(0 = off\) for whiten/);
  assert.throws(() => resolveConfig({ queryExpansion: -1 }), /queryExpansion/);
  assert.throws(() => resolveConfig({ k: 0 }), /Expected positive integer for k but received 0 of type number/);
  assert.throws(() => resolveConfig({ pooling: "avg" as never }), /Expected one of flatten, gap, gmp, gem for pooling but received "avg"/);
  assert.throws(() => resolveConfig({ histogramWeight: -1 }), { code: "E_BAD_OPTION" });
  assert.ok(Object.isFrozen(DEFAULT_CONFIG));
});

test("config: the GeM exponent is validated and is part of the vectors' fingerprint", async () => {
  assert.equal(resolveConfig({}).features.gemP, DEFAULT_CONFIG.gemP);
  assert.throws(() => resolveConfig({ gemP: 0.5 }), /Expected number >= 1 for gemP but received 0.5/);
  assert.throws(() => resolveConfig({ gemP: Number.NaN }), { code: "E_BAD_OPTION" });
  const backbone = { id: "fake", weightsHash: "w", layer: "l", inputSize: [8, 8], resize: "bilinear", preprocessing: "tf", outputShape: [2, 2, 4], dispose() {} } as unknown as Backbone;
  const fp = async (c: Partial<PipelineConfig>) => (await Pipeline.open(c, { backbone })).fingerprint;
  assert.equal((await fp({ pooling: "gem", gemP: 4, histogramWeight: 0 })).parts.pooling, "gem4");
  assert.notEqual((await fp({ pooling: "gem", gemP: 4 })).id, (await fp({ pooling: "gem", gemP: 3 })).id);
  assert.equal((await fp({ pooling: "gap", gemP: 4 })).id, (await fp({ pooling: "gap", gemP: 3 })).id, "p only matters for gem");
});

test("closest names put substring matches and small edits first", () => {
  assert.deepEqual(closestNames("mixed", ["conv2d_1", "mixed9", "mixed10", "dense"], 2).sort(), ["mixed10", "mixed9"]);
  assert.equal(closestNames("Conv1", ["Conv_1", "block_16_project", "out_relu"], 1)[0], "Conv_1");
});

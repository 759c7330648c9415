import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadBackbone, listLayers, preprocessPixels, zooCacheDir, zooModelDir, ZOO } from "../lib/backbone";
import { decodeImage } from "../lib/prepare/decode";

const shared = path.resolve(__dirname, "../../shared");
const modelDir = path.join(shared, "models", "mobilenet_v1_0.75_224");
const burger = path.join(shared, "data", "steakhouse", "queries", "burger_test.jpeg");
const skip = fs.existsSync(modelDir) && fs.existsSync(burger) ? false : "../shared (models and steakhouse data) is absent";

const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/**
 * A temporary cache pre-seeded with the shared copy of the model under `name`: nothing is downloaded.
 * mobilenet_v1_0.75_224 itself is read from the repository's models/ and never from the cache, so cache
 * tests seed another width's folder with it (the loader does not care which width the files are).
 */
function seededCache(name = "mobilenet_v1_0.75_224"): string {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-zoo-"));
  made.push(cache);
  fs.cpSync(modelDir, path.join(cache, name), { recursive: true });
  return cache;
}

function withCache<T>(cache: string, fn: () => Promise<T>): Promise<T> {
  const old = process.env.CBIR_CACHE_DIR;
  process.env.CBIR_CACHE_DIR = cache;
  return fn().finally(() => {
    if (old === undefined) delete process.env.CBIR_CACHE_DIR;
    else process.env.CBIR_CACHE_DIR = old;
  });
}

test("cache folder: $CBIR_CACHE_DIR, else ~/.cache/cbir/models", () => {
  const old = process.env.CBIR_CACHE_DIR;
  delete process.env.CBIR_CACHE_DIR;
  assert.equal(zooCacheDir(), path.join(os.homedir(), ".cache", "cbir", "models"));
  process.env.CBIR_CACHE_DIR = "/tmp/somewhere";
  assert.equal(zooModelDir("mobilenet_v1_0.75_224"), "/tmp/somewhere/mobilenet_v1_0.75_224");
  if (old === undefined) delete process.env.CBIR_CACHE_DIR;
  else process.env.CBIR_CACHE_DIR = old;
  assert.equal(ZOO["mobilenet_v1_0.75_224"].url, "https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/model.json");
});

test("a zoo model missing from the cache is E_NETWORK when downloads are off", async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-zoo-empty-"));
  made.push(empty);
  await withCache(empty, async () => {
    await assert.rejects(loadBackbone("mobilenet_v1_0.50_224", { offline: true }), (e: Error & { code?: string }) => e.code === "E_NETWORK");
  });
});

test("the zoo MobileNet v1 classifies the burger query as ImageNet class 933 (cheeseburger)", { skip }, async () => {
  await withCache(seededCache(), async () => {
    const rgb = (await decodeImage(burger, { size: [224, 224] })).data;
    const x = preprocessPixels(rgb, "tf");
    const probs = await loadBackbone("mobilenet_v1_0.75_224", { layer: "act_softmax", offline: true });
    assert.equal(probs.id, "zoo:mobilenet_v1_0.75_224");
    const p = await probs.infer(x, 1);
    probs.dispose();
    assert.equal(p.length, 1000);
    let best = 0;
    for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
    assert.equal(best, 933);
    assert.ok(p[933] > 0.5, `p(933) = ${p[933]}`);

    const b = await loadBackbone("mobilenet_v1_0.75_224", { offline: true });
    assert.equal(b.layer, "conv_pw_13_relu");
    assert.equal(b.preprocessing, "tf");
    assert.deepEqual(b.outputShape, [7, 7, 768]);
    b.dispose();
    const layers = await listLayers("mobilenet_v1_0.75_224", { offline: true });
    assert.deepEqual(layers.find((l) => l.name === "conv_preds")?.outputShape, [1, 1, 1000]);
  });
});

test("a damaged cache names the file", { skip }, async () => {
  const cache = seededCache("mobilenet_v1_0.50_224");
  const shard = path.join(cache, "mobilenet_v1_0.50_224", "group1-shard1of1");
  fs.rmSync(shard);
  await withCache(cache, async () => {
    await assert.rejects(loadBackbone("mobilenet_v1_0.50_224", { offline: true }), (e: Error & { code?: string; file?: string }) => e.code === "E_MODEL_FILE" && e.file === shard);
  });
});

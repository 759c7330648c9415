/**
 * `--vectors f16|i8` on a Lance table: the codes column is written at optimize, rows added later get the
 * frozen i8 state, a query ranks on the codes exactly as the folder index of the same vectors does, and a
 * change of encoding is refused unless the run optimizes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { LanceStore } from "../lib/store/lance-store";
import { updateLanceIndex } from "../lib/store/lance-update";
import { buildOrUpdateIndex } from "../lib/store/index-store";
import { openSearchIndex } from "../lib/store/search-open";
import { ExactIndex } from "../lib/rank/exact";
import { float16BitsToFloat32, I8_MAX } from "../lib/rank/encoding";
import type { FeatureMatrix } from "../lib/types";
import { DIM, fakeExtractor, fp, makeFolder, scanItems, tmpdir, vectorOf } from "./lance.fixtures";
import { stepsFitter } from "../lib/pipeline/pipeline";

/** Three query vectors, near the three classes, of the fake extractor's fingerprint. */
function queries(): FeatureMatrix {
  const root = makeFolder(3, tmpdir("cbir-lance-q-"));
  const files = fs.readdirSync(root).sort();
  const data = new Float32Array(files.length * DIM);
  files.forEach((f, i) => data.set(vectorOf(path.join(root, f)), i * DIM));
  return { ids: files.map((f) => `q-${f}`), dim: DIM, data, fingerprint: fp };
}

function unit(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

test("i8 table: codes written at the first update's optimize, within half a step of the normalised search vectors", async () => {
  const root = makeFolder(30);
  const uri = path.join(tmpdir(), "i8.lance");
  const r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]), vectors: "i8" });
  assert.equal(r.optimized, true);
  const store = r.store!;
  assert.equal(store.meta.vectors, "i8");
  assert.equal(store.meta.codes?.encoding, "i8");
  const all = await store.readAll();
  const c = all.codes!;
  assert.equal(c.encoding, "i8");
  assert.equal(c.count, 30);
  assert.ok(c.codes instanceof Int8Array);
  const { scale, offset } = c.state!;
  for (let i = 0; i < c.count; i++) {
    const x = unit(all.features.data.subarray(i * DIM, (i + 1) * DIM));
    for (let j = 0; j < DIM; j++) {
      const code = c.codes[i * DIM + j];
      assert.ok(Math.abs(code) <= I8_MAX);
      // dequantised value within half a quantisation step of the value it encodes
      assert.ok(Math.abs(offset[j] + scale[j] * code - x[j]) <= scale[j] / 2 + 1e-6, `row ${i} dim ${j}`);
    }
  }
  // another LanceDB client sees a plain Int8 list column
  const lancedb = await import("@lancedb/lancedb");
  const db = await lancedb.connect(uri);
  const schema = await (await db.openTable("images")).schema();
  assert.match(String(schema.fields.find((f) => f.name === "codes")!.type), /FixedSizeList\[8\]<Int8>/);
  db.close();
  store.close();
});

test("a Lance i8 table and a folder i8 index of the same vectors give the same rankings, with and without refine", async () => {
  const root = makeFolder(30);
  const uri = path.join(tmpdir(), "i8.lance");
  const lance = (await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]), vectors: "i8" })).store!;
  const dir = path.join(tmpdir(), "idx");
  await buildOrUpdateIndex(scanItems(root), fakeExtractor(), { dir, fingerprint: fp, post: stepsFitter(["center", "l2"]), vectors: "i8" });
  const folder = openSearchIndex(dir);
  assert.equal(folder.encoding, "i8");
  for (const refine of [1, 4]) {
    const fromLance = await lance.search(queries(), { k: 5, refine, labels: false });
    const exact = await ExactIndex.fromEncoded({ ids: folder.ids, fingerprint: folder.fingerprint, vectors: folder.vectors(), rows: folder.rows }, { refine });
    const fromFolder = await exact.search(folder.prepareQueries(queries()), { k: 5 });
    await exact.dispose();
    assert.deepEqual(
      fromLance.map((r) => r.hits.map((h) => h.id)),
      fromFolder.map((r) => r.hits.map((h) => h.id)),
      `refine ${refine}`,
    );
    fromLance.forEach((r, i) => r.hits.forEach((h, j) => assert.ok(Math.abs(h.score - fromFolder[i].hits[j].score) < 1e-5)));
  }
  await assert.rejects(() => lance.search(queries(), { metric: "euclidean" }), /ranked by cosine only, not euclidean/);
  await assert.rejects(() => lance.search(queries(), { vectors: "f16" }), /encoded as i8 but f16 was asked for/);
  lance.close();
});

test("rows added after the optimize get the frozen i8 state; another encoding is refused unless the run optimizes, which re-encodes (f16, then f32 drops the codes)", async () => {
  const root = makeFolder(24);
  const uri = path.join(tmpdir(), "i8.lance");
  let r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]), vectors: "i8" });
  const state = r.store!.meta.codes!.state;
  r.store!.close();
  // 2 new files: below the refit fraction, so no optimize; their codes use the stored state
  for (const i of [500, 501]) fs.writeFileSync(path.join(root, `owl_${i}.jpg`), `new ${i}`);
  r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]) });
  assert.equal(r.optimized, false);
  assert.deepEqual(r.store!.meta.codes!.state, state);
  const all = await r.store!.readAll();
  const row = all.features.ids.indexOf("owl_500.jpg");
  const x = unit(all.features.data.subarray(row * DIM, (row + 1) * DIM));
  for (let j = 0; j < DIM; j++) {
    const want = Math.max(-I8_MAX, Math.min(I8_MAX, Math.round((x[j] - state!.offset[j]) / state!.scale[j])));
    assert.equal(all.codes!.codes[row * DIM + j], want, `dim ${j}`);
  }
  r.store!.close();

  await assert.rejects(() => updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, vectors: "f16" }), /encoded as i8 but f16 was asked for.*--optimize/);
  await assert.rejects(() => updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, vectors: "f16", optimize: true, shard: { index: 1, count: 2 } }), /encoded as i8 but f16/);
  r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]), vectors: "f16", optimize: true });
  const f16 = await r.store!.readAll();
  assert.equal(r.store!.meta.vectors, "f16");
  assert.ok(f16.codes!.codes instanceof Uint16Array);
  for (let i = 0; i < f16.codes!.count; i++) {
    const v = unit(f16.features.data.subarray(i * DIM, (i + 1) * DIM));
    for (let j = 0; j < DIM; j++) assert.ok(Math.abs(float16BitsToFloat32(f16.codes!.codes[i * DIM + j]) - v[j]) <= Math.abs(v[j]) / 2048 + 1e-7);
  }
  assert.deepEqual(f16.features.ids, all.features.ids, "the rows are kept");
  assert.deepEqual(Array.from(f16.raw.data), Array.from(all.raw.data), "the float32 vectors are kept");
  r.store!.close();

  r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]), vectors: "f32", optimize: true });
  assert.equal(r.store!.meta.vectors, "f32");
  assert.equal(r.store!.meta.codes, undefined);
  assert.equal((await r.store!.readAll()).codes, undefined);
  r.store!.close();
  const reopened = await LanceStore.open(uri);
  assert.equal(reopened.meta.vectors, "f32");
  reopened.close();
});

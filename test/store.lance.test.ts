import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { makeFingerprint } from "../lib/fingerprint";
import { applyPostprocess, postFromJSON } from "../lib/reduce/postprocess";
import { LanceStore, chooseVectorIndex, FLAT_MAX_ROWS, sqlString } from "../lib/store/lance-store";
import { updateLanceIndex } from "../lib/store/lance-update";
import { isLanceUri, parseStoreUri } from "../lib/store/store-uri";
import { parseShard, shardOf, inShard } from "../lib/store/shard";
import { DIM, fakeExtractor, fp, makeFolder, scanItems, tmpdir, vectorOf } from "./lance.fixtures";
import { stepsFitter } from "../lib/pipeline/pipeline";

const opts = (uri: string, extra: Record<string, unknown> = {}) => ({ uri, fingerprint: fp, batchSize: 4, post: stepsFitter(["center", "l2"]), ...extra });

test("store URIs: lance:, .lance, object stores, folders; malformed ones refused", () => {
  assert.equal(parseStoreUri("some/folder").kind, "folder");
  const a = parseStoreUri("lance:rel/db");
  assert.ok(a.kind === "lance" && a.scheme === "file" && a.uri === path.resolve("rel/db"));
  const b = parseStoreUri("/x/y.lance");
  assert.ok(b.kind === "lance" && b.uri === "/x/y.lance");
  const env = { AWS_ACCESS_KEY_ID: "k", AWS_SECRET_ACCESS_KEY: "s", AWS_REGION: "eu-west-1", AWS_ENDPOINT_URL: "http://127.0.0.1:9", CBIR_LANCE_STORAGE_OPTIONS: '{"timeout":"5s"}' };
  const s3 = parseStoreUri("s3://bucket/prefix/db", env);
  assert.ok(s3.kind === "lance" && s3.scheme === "s3");
  assert.deepEqual(s3.kind === "lance" && s3.storageOptions, { aws_access_key_id: "k", aws_secret_access_key: "s", region: "eu-west-1", endpoint: "http://127.0.0.1:9", timeout: "5s" });
  assert.ok(isLanceUri("gs://b/p") && isLanceUri("az://c/p") && isLanceUri("lance:s3://b/p") && isLanceUri("http://x/y") && !isLanceUri("x/y") && !isLanceUri("a.lance.d"));
  for (const bad of ["lance:", "s3://", "s3:///x", "http://host/x", "ftp://a/b", "lance:hdfs://a/b", ""])
    assert.throws(() => parseStoreUri(bad, env), (e: Error & { code?: string }) => e.code === "E_BAD_URI", bad);
  assert.throws(() => parseStoreUri("s3://bucket/p", {}), (e: Error & { code?: string }) => e.code === "E_NO_CREDENTIALS" && /s3:\/\/bucket\/p/.test(e.message) && /AWS_ACCESS_KEY_ID/.test(e.message));
  assert.throws(() => parseStoreUri("gs://bucket/p", {}), /GOOGLE_APPLICATION_CREDENTIALS/);
  assert.throws(() => parseStoreUri("az://c/p", {}), /AZURE_STORAGE_ACCOUNT_NAME/);
  assert.throws(() => parseStoreUri("s3://b/p", { ...env, CBIR_LANCE_STORAGE_OPTIONS: "[1]" }), /CBIR_LANCE_STORAGE_OPTIONS/);
  assert.ok(parseStoreUri("s3://b/p", { CBIR_LANCE_INSTANCE_CREDENTIALS: "1" }).kind === "lance");
});

test("shardOf is stable and balanced; --shard i/n is validated", () => {
  assert.equal(shardOf("a/b.jpg", 3), shardOf("a/b.jpg", 3));
  // the value is pinned: every machine and version must agree on it
  assert.equal(shardOf("cat_0001.jpg", 7), shardOf("cat_0001.jpg", 7));
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[shardOf(`img/${i}.jpg`, 4)]++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `unbalanced ${counts}`);
  assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
  for (const bad of ["0/3", "4/3", "1/0", "a/b", "1", "", "1/3/4", undefined]) assert.throws(() => parseShard(bad), (e: Error & { code?: string }) => e.code === "E_BAD_OPTION", String(bad));
  const names = Array.from({ length: 50 }, (_, i) => `f${i}`);
  const shards = [1, 2, 3].map((i) => names.filter((n) => inShard(n, { index: i, count: 3 })));
  assert.equal(shards.flat().length, 50);
  assert.equal(new Set(shards.flat()).size, 50);
});

test("vector index choice: flat below the threshold, HNSW_SQ, then IVF_PQ", () => {
  assert.equal(chooseVectorIndex(FLAT_MAX_ROWS - 1, 768), undefined);
  assert.equal(chooseVectorIndex(1_000_000, 768)?.kind, "hnsw_sq");
  const pq = chooseVectorIndex(10_000_000, 768);
  assert.ok(pq?.kind === "ivf_pq" && 768 % pq.numSubVectors === 0 && pq.numSubVectors === 48);
  assert.equal(sqlString("it's"), "'it''s'");
});

test("index, update by content hash, rename, delete, frozen transform, optimize refit", async () => {
  const root = makeFolder(12);
  const uri = path.join(tmpdir(), "db.lance");
  const calls: string[][] = [];
  const r1 = await updateLanceIndex(scanItems(root), fakeExtractor({ calls }), opts(uri));
  assert.equal(r1.rows, 12);
  assert.equal(r1.added.length, 12);
  assert.ok(r1.optimized, "a never-fitted table is optimized by an unsharded run");
  const s = r1.store!;
  assert.equal(s.meta.fingerprint.id, fp.id);
  assert.ok(s.meta.post);
  const all = await s.readAll();
  assert.equal(all.features.ids.length, 12);
  // search column = raw after the fitted post-processing
  const post = postFromJSON(s.meta.post!.state);
  const again = applyPostprocess(all.raw, post);
  for (let i = 0; i < again.data.length; i++) assert.ok(Math.abs(again.data[i] - all.features.data[i]) < 1e-6);
  for (const id of all.raw.ids) {
    const v = vectorOf(path.join(root, id));
    const i = all.raw.ids.indexOf(id);
    assert.deepEqual(Array.from(all.raw.data.subarray(i * DIM, (i + 1) * DIM)), Array.from(v));
  }
  const fittedAt = s.meta.post!.fittedAt;
  s.close();

  // no change: nothing extracted, nothing refitted
  calls.length = 0;
  const r2 = await updateLanceIndex(scanItems(root), fakeExtractor({ calls }), opts(uri));
  assert.equal(calls.length, 0);
  assert.equal(r2.unchanged, 12);
  assert.ok(!r2.optimized);
  r2.store!.close();

  // one changed, one renamed, one removed, one added: only the changed and added ones are extracted
  fs.writeFileSync(path.join(root, "cat_0000.jpg"), "new content");
  fs.renameSync(path.join(root, "dog_0001.jpg"), path.join(root, "dog_0100.jpg"));
  fs.rmSync(path.join(root, "owl_0002.jpg"));
  fs.writeFileSync(path.join(root, "owl_0200.jpg"), "added");
  const r3 = await updateLanceIndex(scanItems(root), fakeExtractor({ calls }), opts(uri, { optimize: false }));
  assert.deepEqual(calls.flat().sort(), ["cat_0000.jpg", "owl_0200.jpg"]);
  assert.deepEqual(r3.changed, ["cat_0000.jpg"]);
  assert.deepEqual(r3.added, ["owl_0200.jpg"]);
  assert.deepEqual(r3.renamed, [["dog_0001.jpg", "dog_0100.jpg"]]);
  assert.deepEqual(r3.removed, ["owl_0002.jpg"]);
  assert.equal(r3.rows, 12);
  const s3 = r3.store!;
  assert.equal(s3.meta.post!.fittedAt, fittedAt, "not refitted: optimize false");
  // new rows have the frozen transform
  const a3 = await s3.readAll();
  const frozen = applyPostprocess(a3.raw, post);
  for (let i = 0; i < frozen.data.length; i++) assert.ok(Math.abs(frozen.data[i] - a3.features.data[i]) < 1e-6);
  assert.deepEqual(await s3.changesSinceFit(), { rows: 12, sinceFit: 3 + 3 });
  const st = await s3.optimize({ post: stepsFitter(["center", "l2"]) });
  assert.equal(st.rows, 12);
  assert.notEqual(s3.meta.post!.fittedAt, fittedAt);
  assert.deepEqual(await s3.changesSinceFit(), { rows: 12, sinceFit: 0 });
  // a query by a database image's raw vector finds it first, through LanceDB's own search too
  const q = { ids: ["q"], dim: DIM, data: vectorOf(path.join(root, "dog_0100.jpg")), fingerprint: fp };
  for (const forceLance of [false, true]) {
    const [r] = await s3.search(q, { k: 3, forceLance });
    assert.equal(r.hits[0].id, "dog_0100.jpg", `forceLance ${forceLance}`);
    assert.ok(Math.abs(r.hits[0].score - 1) < 1e-5);
    assert.equal(r.hits[0].label, "dog");
  }
  // another pipeline's vectors are refused with the folder index's message
  const other = makeFingerprint({ backbone: "fake-lance", layer: "l2" });
  await assert.rejects(() => updateLanceIndex(scanItems(root), fakeExtractor(), { ...opts(uri), fingerprint: other }), (e: Error & { code?: string }) => e.code === "E_FINGERPRINT_MISMATCH" && /different pipeline/.test(e.message) && /layer/.test(e.message));
  assert.throws(() => s3.prepareQueries({ ...q, fingerprint: other }), (e: Error & { code?: string }) => e.code === "E_FINGERPRINT_MISMATCH");
  assert.equal(await s3.countRows(), 12, "a refused run changed nothing");
  s3.close();
});

test("ids with quotes and non-ASCII names round-trip and delete", async () => {
  const root = tmpdir();
  for (const n of ["it's_1.jpg", "café_2.jpg", "a b_3.jpg"]) fs.writeFileSync(path.join(root, n), n);
  const uri = `lance:${path.join(tmpdir(), "q")}`;
  const r = await updateLanceIndex(scanItems(root), fakeExtractor(), opts(uri));
  assert.equal(r.rows, 3);
  r.store!.close();
  fs.rmSync(path.join(root, "it's_1.jpg"));
  const r2 = await updateLanceIndex(scanItems(root), fakeExtractor(), opts(uri));
  assert.deepEqual(r2.removed, ["it's_1.jpg"]);
  assert.deepEqual((await r2.store!.entries()).map((e) => e.id).sort(), ["a b_3.jpg", "café_2.jpg"]);
  r2.store!.close();
});

test("LanceDB's search maps hits to ids and labels by row address, and sees this store's own writes", async () => {
  const root = makeFolder(30);
  const uri = path.join(tmpdir(), "t.lance");
  const s = (await updateLanceIndex(scanItems(root), fakeExtractor(), opts(uri))).store!;
  const files = ["cat_0003.jpg", "dog_0004.jpg", "owl_0005.jpg"];
  const data = new Float32Array(files.length * DIM);
  files.forEach((f, i) => data.set(vectorOf(path.join(root, f)), i * DIM));
  const q = { ids: files.map((f) => `q-${f}`), dim: DIM, data, fingerprint: fp };
  const same = async (what: string) => {
    const viaLance = await s.search(q, { k: 6, forceLance: true });
    const inMemory = await s.search(q, { k: 6 });
    viaLance.forEach((r, i) => {
      assert.deepEqual(r.hits.map((h) => [h.id, h.label]), inMemory[i].hits.map((h) => [h.id, h.label]), `${what}: query ${i}`);
      r.hits.forEach((h, j) => assert.ok(Math.abs(h.score - inMemory[i].hits[j].score) < 1e-4));
      for (const h of r.hits) assert.equal(h.label, h.id.replace(/_.*$/, ""), "each hit keeps its own label");
    });
    return viaLance;
  };
  const first = await same("as built");
  assert.equal(first[0].hits[0].id, "cat_0003.jpg");
  await s.deleteIds(["cat_0003.jpg"]);
  const afterDelete = await same("after a delete");
  assert.ok(afterDelete.every((r) => r.hits.every((h) => h.id !== "cat_0003.jpg")));
  const [row] = await s.rowsById(["dog_0004.jpg"]);
  await s.upsert([{ ...row, id: "owl_9999.jpg", path: path.join(root, "owl_9999.jpg"), label: "owl" }]);
  const afterAdd = await same("after an add");
  assert.deepEqual(afterAdd[1].hits.slice(0, 2).map((h) => h.id).sort(), ["dog_0004.jpg", "owl_9999.jpg"]);
  s.close();
});

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { LanceStore } from "../lib/store/lance-store";
import { updateLanceIndex } from "../lib/store/lance-update";
import type { ExtractFn } from "../lib/store/index-store";
import { assertOneErrorLine, fakeExtractor, fp, makeFolder, scanItems, tmpdir } from "./lance.fixtures";
import { stepsFitter } from "../lib/pipeline/pipeline";

const CLI = path.join(__dirname, "..", "bin", "cbir.cjs");
const QUERY = path.join(makeFolder(1), "cat_0000.jpg");

/** Runs the CLI with no cloud credentials in the environment; returns exit code and output. */
function cbir(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AWS_|GOOGLE_|AZURE_|CBIR_LANCE_)/.test(k)));
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...clean, CBIR_OFFLINE: "1", ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function storeWith(n: number): Promise<{ uri: string; root: string }> {
  const root = makeFolder(n);
  const uri = path.join(tmpdir(), "t.lance");
  const r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]) });
  r.store!.close();
  return { uri, root };
}

test("object-store URI without credentials fails at once, before any connection", () => {
  for (const uri of ["s3://bucket/cbir/images", "gs://bucket/x", "az://container/x"]) {
    const r = cbir(["query", uri, QUERY], { AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_ALLOW_HTTP: "true" });
    assertOneErrorLine(r, uri, /(AWS_ACCESS_KEY_ID|GOOGLE_APPLICATION_CREDENTIALS|AZURE_STORAGE_ACCOUNT_NAME)/);
  }
  const folder = makeFolder(2);
  assertOneErrorLine(cbir(["index", folder, "--index", "s3://bucket/x", "-q"], { AWS_ENDPOINT_URL: "http://127.0.0.1:9" }), "s3://bucket/x", /AWS_ACCESS_KEY_ID/);
});

test("malformed and unreachable URIs: one error line, exit 1", () => {
  for (const uri of ["lance:", "ftp://host/x", "s3://", "lance:hdfs://a/b"]) assertOneErrorLine(cbir(["query", uri, QUERY]), uri, /lance:<folder>|s3:\/\//);
  const missing = path.join(tmpdir(), "none.lance");
  assertOneErrorLine(cbir(["query", missing, QUERY]), missing, /cbir index/);
  const underFile = `lance:${QUERY}/db`;
  assertOneErrorLine(cbir(["index", path.dirname(QUERY), "--index", underFile, "-q"]), underFile, /writable|path of a folder/);
  const foreign = tmpdir();
  fs.writeFileSync(path.join(foreign, "notes.txt"), "mine");
  assertOneErrorLine(cbir(["index", path.dirname(QUERY), "--index", `lance:${foreign}`, "-q"]), foreign, /new or empty folder/);
  assert.deepEqual(fs.readdirSync(foreign), ["notes.txt"], "a folder of other files is left as it was");
  const shard = cbir(["index", path.dirname(QUERY), "--shard", "4/3", "--index", missing, "-q"]);
  assert.equal(shard.code, 2, "an invalid option value is a usage error");
  assert.match(shard.stderr, /^error: Expected i\/n with 1 <= i <= n for --shard but received "4\/3"\. Fix: /);
  assert.ok(!fs.existsSync(missing), "nothing created");
});

test("folder-index options on a Lance table (--ann, --rebuild, query --exact) exit 2 with one error line, nothing created", () => {
  const missing = path.join(tmpdir(), "never.lance");
  for (const [args, said] of [
    [["index", path.dirname(QUERY), "--index", missing, "--ann", "hnsw", "-q"], /^error: Expected neither for the Lance table .*never\.lance .*folder indexes\) for ann \/ rebuild but received "--ann hnsw"/],
    [["index", path.dirname(QUERY), "--index", missing, "--rebuild", "-q"], /^error: Expected neither for the Lance table .*never\.lance .* but received "--rebuild"/],
    [["query", missing, QUERY, "--exact", "--no-figures"], /^error: Expected not for the Lance table .*never\.lance .*20,000 rows are searched exactly.* for exact but received "--exact"/],
  ] as [string[], RegExp][]) {
    const r = cbir(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], said);
  }
  assert.ok(!fs.existsSync(missing), "nothing created");
});

test("another encoding than the table's: cbir index and cbir query refuse it naming both, before the model loads; the table is unchanged", async () => {
  const root = makeFolder(6);
  const uri = path.join(tmpdir(), "i8.lance");
  const r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, post: stepsFitter(["center", "l2"]), vectors: "i8" });
  const before = await r.store!.readAll();
  r.store!.close();
  const index = cbir(["index", root, "--index", uri, "--vectors", "f16", "-q"]);
  assertOneErrorLine(index, uri, /encoded as i8 but f16 was asked for.*--vectors i8, or add --optimize/);
  const query = cbir(["query", uri, QUERY, "--vectors", "f32", "--no-figures"]);
  assertOneErrorLine(query, uri, /encoded as i8 but f32 was asked for.*--vectors f32 --optimize/);
  const after = await LanceStore.open(uri);
  assert.equal(after.meta.vectors, "i8");
  const now = await after.readAll();
  after.close();
  assert.deepEqual(now.features.ids, before.features.ids);
  assert.deepEqual(Array.from(now.codes!.codes), Array.from(before.codes!.codes), "the codes are as they were");
});

test("a table of another schema is refused and left unchanged", async () => {
  const dir = path.join(tmpdir(), "other.lance");
  const lancedb = await import("@lancedb/lancedb");
  const db = await lancedb.connect(dir);
  await db.createTable("images", [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
  for (const args of [["query", dir, QUERY], ["index", path.dirname(QUERY), "--index", dir, "-q"], ["eval", path.dirname(QUERY), "--index", dir, "-q"]])
    assertOneErrorLine(cbir(args), dir, /another URI|index/);
  const t = await db.openTable("images");
  assert.equal(await t.countRows(), 2);
  assert.deepEqual((await t.schema()).fields.map((f) => f.name), ["a", "b"]);
  db.close();
});

test("a corrupted table: one error line naming it", async () => {
  const { uri } = await storeWith(6);
  const dataDir = path.join(uri, "images.lance", "data");
  for (const f of fs.readdirSync(dataDir)) fs.truncateSync(path.join(dataDir, f), 10);
  assertOneErrorLine(cbir(["query", uri, QUERY, "--no-figures"]), uri, /restore|index again/);
  const { uri: u2 } = await storeWith(6);
  fs.rmSync(path.join(u2, "images.lance", "_versions"), { recursive: true });
  assertOneErrorLine(cbir(["query", u2, QUERY, "--no-figures"]), u2, /restore|index again/);
});

test("a run that fails half-way loses nothing that was in the table", async () => {
  const { uri, root } = await storeWith(9);
  const before = await LanceStore.open(uri);
  const was = await before.readAll();
  before.close();
  for (let i = 100; i < 112; i++) fs.writeFileSync(path.join(root, `dog_${i}.jpg`), `new ${i}`);
  fs.rmSync(path.join(root, "cat_0000.jpg"));
  let calls = 0;
  const good = fakeExtractor();
  const failing: ExtractFn = async (items) => {
    if (++calls === 2) throw new Error("disk on fire");
    return good(items);
  };
  await assert.rejects(() => updateLanceIndex(scanItems(root), failing, { uri, fingerprint: fp, batchSize: 4, post: stepsFitter(["center", "l2"]) }), /disk on fire/);
  const after = await LanceStore.open(uri);
  const now = await after.readAll();
  after.close();
  // every earlier row is still there (deletions come after the new rows), with its vectors
  for (const [i, id] of was.raw.ids.entries()) {
    const j = now.raw.ids.indexOf(id);
    assert.ok(j >= 0, id);
    assert.deepEqual(Array.from(now.raw.data.subarray(j * now.raw.dim, (j + 1) * now.raw.dim)), Array.from(was.raw.data.subarray(i * was.raw.dim, (i + 1) * was.raw.dim)));
  }
  assert.equal(now.raw.ids.length, 9 + 4, "the first batch was committed");
  const r = await updateLanceIndex(scanItems(root), fakeExtractor(), { uri, fingerprint: fp, batchSize: 4, post: stepsFitter(["center", "l2"]) });
  assert.equal(r.rows, 9 - 1 + 12);
  r.store!.close();
});

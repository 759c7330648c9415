/**
 * Encoded search vectors (`--vectors f16|i8`) and the HNSW graph (`--ann hnsw`) of the folder index:
 * written beside the float32 segments, rebuilt when the vectors change or a file is damaged, and searched
 * without reading the segments unless refine asks for float32 rows. Small fake vectors (lib level) and
 * the CLI with a tiny random-weight model (data/sample), as the other store tests.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeFingerprint } from "../lib/fingerprint";
import type { Notice } from "../lib/report";
import type { FeatureMatrix, ImageItem } from "../lib/types";
import { buildOrUpdateIndex, openIndex, type BuildOptions, type ExtractFn } from "../lib/store";
import { openSearchIndex, searchGraph } from "../lib/store/search-open";
import { searchSource } from "../lib/store/search-files";
import { decodeVectors } from "../lib/rank/encoding";
import { encodeForCosine, normaliseRows } from "../lib/rank/encoded-search";
import { ExactIndex, exactSearch } from "../lib/rank/exact";
import { SAMPLE_DIR, cbirSync, copySample, writeTinyModel } from "./fixtures/bad-images";
import { stepsFitter } from "../lib/pipeline/pipeline";

const fp = makeFingerprint({ backbone: "fake", layer: "l1" });
const D = 12;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-store-enc-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));

let dirs = 0;
function tmp(): string {
  return fs.mkdtempSync(path.join(work, `t${dirs++}-`));
}

/** A deterministic pseudo-random vector of D values from a text (its sha256 bytes). */
function vectorOf(text: string): Float32Array {
  const h = createHash("sha256").update(text).digest();
  const h2 = createHash("sha256").update(h).digest();
  const bytes = Buffer.concat([h, h2]);
  return Float32Array.from({ length: D }, (_, k) => (bytes[k] - 128) / 40 + (bytes[k + D] - 128) / 80);
}

function folder(n: number): { root: string; items: ImageItem[] } {
  const root = tmp();
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(root, `${i % 3 === 0 ? "a" : "b"}${String(i).padStart(3, "0")}.jpg`), `image ${i}`);
  return { root, items: scan(root) };
}
function scan(root: string): ImageItem[] {
  return fs
    .readdirSync(root)
    .filter((n) => n.endsWith(".jpg"))
    .sort()
    .map((name) => ({ name, path: path.join(root, name), label: name[0] }));
}

function extractor(opts: { failOnCall?: number } = {}) {
  let calls = 0;
  const fn: ExtractFn = async (items) => {
    if (++calls === opts.failOnCall) throw new Error("killed");
    const data = new Float32Array(items.length * D);
    items.forEach((it, r) => data.set(vectorOf(fs.readFileSync(it.path, "utf8")), r * D));
    return { features: { ids: items.map((i) => i.name), dim: D, data, fingerprint: fp }, skipped: [] };
  };
  return fn;
}

function notices() {
  const got: Notice[] = [];
  return { reporter: { notice: (n: Notice) => got.push(n) }, got, text: () => got.map((n) => `${n.level}: ${n.message}`).join("\n") };
}

function build(items: ImageItem[], dir: string, more: Partial<BuildOptions> = {}, fn = extractor()) {
  return buildOrUpdateIndex(items, fn, { dir, fingerprint: fp, batchSize: 8, post: stepsFitter(["center", "l2"]), ...more });
}

function queries(n: number): FeatureMatrix {
  const data = new Float32Array(n * D);
  for (let i = 0; i < n; i++) data.set(vectorOf(`query ${i}`), i * D);
  return { ids: Array.from({ length: n }, (_, i) => `q${i}`), dim: D, data, fingerprint: fp };
}

/** Exact cosine top-k of query rows against database rows (both as given), ties to the lower row. */
function exactTopK(db: Float32Array, q: Float32Array, nQ: number, k: number): number[][] {
  const n = db.length / D;
  const x = normaliseRows(db, n, D);
  const qn = normaliseRows(q, nQ, D);
  return Array.from({ length: nQ }, (_, i) => {
    const s = Array.from({ length: n }, (_, j) => {
      let dot = 0;
      for (let t = 0; t < D; t++) dot += qn[i * D + t] * x[j * D + t];
      return dot;
    });
    return Array.from({ length: n }, (_, j) => j)
      .sort((a, b) => s[b] - s[a] || a - b)
      .slice(0, k);
  });
}

const files = (dir: string) => fs.readdirSync(dir).sort();
const flipByte = (file: string, at = 40) => {
  const b = fs.readFileSync(file);
  b[at] ^= 0x55;
  fs.writeFileSync(file, b);
};

test("f32 (the default and explicit): no codes or graph file, the manifest and the searched vectors as before", async () => {
  const { items } = folder(20);
  const plain = path.join(tmp(), "idx");
  const f32 = path.join(tmp(), "idx");
  await build(items, plain);
  await build(items, f32, { vectors: "f32", ann: "none" });
  for (const dir of [plain, f32]) {
    assert.deepEqual(files(dir).filter((f) => !/^vectors-\d+\.f32$/.test(f)), ["cbir-index.json", "manifest.json", "segments.journal"]);
    const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
    assert.equal(m.codes, undefined);
    assert.equal(m.ann, undefined);
    const s = openSearchIndex(dir);
    const full = openIndex(dir);
    assert.equal(s.encoding, "f32");
    assert.deepEqual(s.features!.data, full.features.data);
    assert.equal(s.fingerprint.id, full.features.fingerprint.id, "the search fingerprint of an f32 index is the post-processed vectors'");
  }
});

test("i8: codes written beside the segments, round trip, and rankings equal exact cosine top-k on the decoded codes", async () => {
  const { items } = folder(40);
  const dir = path.join(tmp(), "idx");
  await build(items, dir, { vectors: "i8" });
  const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  assert.equal(m.codes.encoding, "i8");
  assert.equal(m.codes.state.scale.length, D);
  assert.equal(fs.statSync(path.join(dir, "codes.i8")).size, 40 * D, "1 byte per value");
  assert.equal(m.codes.fingerprint.parts.extra.vectors, "i8", "the encoding is part of the search vectors' fingerprint");

  const s = openSearchIndex(dir);
  const full = openIndex(dir);
  const fresh = encodeForCosine("i8", full.features.data, 40, D);
  assert.deepEqual(s.vectors().codes, fresh.codes, "stored codes = the post-processed rows, normalised, encoded");
  assert.deepEqual(s.vectors().state, fresh.state);

  const q = s.prepareQueries(queries(6));
  assert.equal(q.fingerprint.id, s.fingerprint.id);
  const index = await ExactIndex.fromEncoded({ ids: s.ids, fingerprint: s.fingerprint, vectors: s.vectors(), rows: s.rows });
  const got = await index.search(q, { k: 5 });
  const truth = exactTopK(decodeVectors(s.vectors()), q.data, 6, 5);
  got.forEach((r, i) => assert.deepEqual(r.hits.map((h) => h.id), truth[i].map((j) => s.ids[j]), `query ${i}`));
  await index.dispose();
  await assert.rejects(ExactIndex.fromEncoded({ ids: s.ids, fingerprint: s.fingerprint, vectors: s.vectors() }, { vectors: "f16" }), /encoded as i8 but f16 was asked for/);
  assert.throws(() => s.prepareQueries({ ...queries(1), fingerprint: makeFingerprint({ backbone: "other" }) }), /different pipeline/);
});

test("refine re-scores with float32 rows read from the segments: the order of float32 exact search", async () => {
  const { items } = folder(60);
  const dir = path.join(tmp(), "idx");
  await build(items, dir, { vectors: "i8" });
  const s = openSearchIndex(dir);
  const full = openIndex(dir);
  const q = s.prepareQueries(queries(8));
  const want = await exactSearch(full.features, full.prepareQueries(queries(8)), { k: 5 });
  const index = await ExactIndex.fromEncoded({ ids: s.ids, fingerprint: s.fingerprint, vectors: s.vectors(), rows: s.rows }, { refine: 4 });
  const got = await index.search(q, { k: 5 });
  got.forEach((r, i) => {
    assert.deepEqual(r.hits.map((h) => h.id), want[i].hits.map((h) => h.id), `query ${i}`);
    r.hits.forEach((h, j) => assert.ok(Math.abs(h.score - want[i].hits[j].score) < 1e-5, `${h.score} vs ${want[i].hits[j].score}`));
  });
  await index.dispose();
});

test("query of an i8 index reads the codes only: it works with the segments moved away, and refine then refuses naming the file", async () => {
  const { items } = folder(30);
  const dir = path.join(tmp(), "idx");
  await build(items, dir, { vectors: "i8" });
  const s0 = openSearchIndex(dir);
  const q0 = s0.prepareQueries(queries(3));
  const before = await (await ExactIndex.fromEncoded({ ids: s0.ids, fingerprint: s0.fingerprint, vectors: s0.vectors() })).search(q0, { k: 4 });
  const aside = tmp();
  for (const f of files(dir).filter((f) => f.endsWith(".f32"))) fs.renameSync(path.join(dir, f), path.join(aside, f));
  const n = notices();
  const s = openSearchIndex(dir, { reporter: n.reporter });
  assert.equal(n.got.length, 0, n.text());
  const q = s.prepareQueries(queries(3));
  const plain = await ExactIndex.fromEncoded({ ids: s.ids, fingerprint: s.fingerprint, vectors: s.vectors(), rows: s.rows });
  assert.deepEqual(await plain.search(q, { k: 4 }), before);
  const refined = await ExactIndex.fromEncoded({ ids: s.ids, fingerprint: s.fingerprint, vectors: s.vectors(), rows: s.rows }, { refine: 3 });
  await assert.rejects(refined.search(q, { k: 4 }), /vector file vectors-\d+\.f32 is missing \(refine reads float32 rows from it\)/);
});

test("the encoding is fixed: another one is refused naming both, --rebuild re-encodes and removes the old codes", async () => {
  const { items } = folder(20);
  const dir = path.join(tmp(), "idx");
  await build(items, dir, { vectors: "i8" });
  const fn = extractor();
  await assert.rejects(build(items, dir, { vectors: "f16" }, fn), (e: Error) => /encoded as i8 but f16 was asked for/.test(e.message) && /--rebuild/.test(String((e as { fix?: string }).fix)));
  const kept = await build(items, dir, {}); // no --vectors: the index's own
  assert.equal(kept.index.manifest.codes?.encoding, "i8");
  const res = await build(items, dir, { vectors: "f16", rebuild: true });
  assert.equal(res.added.length, 0, "re-encoding keeps the float32 vectors");
  assert.ok(fs.existsSync(path.join(dir, "codes.f16")) && !fs.existsSync(path.join(dir, "codes.i8")), files(dir).join(" "));
  assert.equal(fs.statSync(path.join(dir, "codes.f16")).size, 20 * D * 2);
  await build(items, dir, { vectors: "f32", rebuild: true });
  assert.ok(!files(dir).some((f) => f.startsWith("codes.")), "back to f32: no codes file");
});

test("incremental add rebuilds the codes; a run killed part-way leaves stale codes that are not used, then rebuilt", async () => {
  const { root, items } = folder(20);
  const dir = path.join(tmp(), "idx");
  await build(items, dir, { vectors: "i8", ann: "hnsw" });
  const sha0 = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")).codes.sha256;
  fs.writeFileSync(path.join(root, "c900.jpg"), "a new image");
  const res = await build(scan(root), dir);
  const m = res.index.manifest;
  assert.deepEqual(res.added, ["c900.jpg"]);
  assert.equal(m.codes!.count, 21);
  assert.notEqual(m.codes!.sha256, sha0);
  assert.equal(m.codes!.source, searchSource(m));
  const s = openSearchIndex(dir);
  assert.deepEqual(s.vectors().codes, encodeForCosine("i8", openIndex(dir).features.data, 21, D).codes);
  assert.equal(s.hnsw?.size, 21, "the graph was rebuilt with the new row");

  // killed after the first committed batch of a larger update
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(root, `d${i}.jpg`), `later ${i}`);
  await assert.rejects(build(scan(root), dir, {}, extractor({ failOnCall: 2 })), /killed/);
  const n = notices();
  const stale = openSearchIndex(dir, { reporter: n.reporter });
  assert.match(n.text(), /warn: codes\.i8 was encoded from other vectors .* re-encoding the search vectors from the float32 segments/);
  assert.match(n.text(), /warn: hnsw\.usearch was built from other vectors .* exact search instead/);
  assert.equal(stale.hnsw, undefined);
  assert.equal(stale.vectors().count, openIndex(dir).features.ids.length, "re-encoded from what is committed");
  const done = await build(scan(root), dir);
  assert.equal(done.index.manifest.codes!.count, 41);
  const n2 = notices();
  assert.equal(openSearchIndex(dir, { reporter: n2.reporter }).hnsw?.size, 41);
  assert.equal(n2.got.length, 0, n2.text());
});

test("a corrupted codes file is detected by its checksum, used re-encoded with a warning, and rewritten by the next index run", async () => {
  const { items } = folder(20);
  const dir = path.join(tmp(), "idx");
  await build(items, dir, { vectors: "i8" });
  const good = fs.readFileSync(path.join(dir, "codes.i8"));
  flipByte(path.join(dir, "codes.i8"));
  const n = notices();
  const s = openSearchIndex(dir, { reporter: n.reporter });
  assert.match(n.text(), /codes\.i8 fails its checksum: re-encoding/);
  assert.deepEqual(Buffer.from(s.vectors().codes.buffer), good, "nothing stored is lost");
  const n2 = notices();
  await build(items, dir, { reporter: n2.reporter });
  assert.match(n2.text(), /warn: codes\.i8 fails its checksum: re-encoding the search vectors from the float32 segments/);
  assert.deepEqual(fs.readFileSync(path.join(dir, "codes.i8")), good);
});

test("HNSW: written with its recall, used by search, rebuilt after a change and when corrupted", async () => {
  const { root, items } = folder(50);
  const dir = path.join(tmp(), "idx");
  const n = notices();
  await build(items, dir, { vectors: "i8", ann: "hnsw", reporter: n.reporter });
  assert.match(n.text(), /info: HNSW graph \(usearch, i8 scalars, M 16, ef 128\/64\): recall@10 \d\.\d{3} against exact float32 search \(50 of the index's rows/);
  const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  assert.equal(m.ann.kind, "hnsw");
  assert.ok(m.ann.recallAt10 > 0.8 && m.ann.recallAt10 <= 1, String(m.ann.recallAt10));
  const s = openSearchIndex(dir);
  assert.equal(s.hnsw?.size, 50);
  const q = s.prepareQueries(queries(4));
  const viaGraph = await searchGraph(s, q, { k: 5, labels: new Map([["a000.jpg", "a"]]) });
  assert.equal(viaGraph[0].metric, "cosine+hnsw");
  assert.equal(viaGraph[0].hits.length, 5);
  // on 50 rows with ef 64 the graph search visits every row: its top-k is the exact top-k of the decoded codes
  const truth = exactTopK(decodeVectors(s.vectors()), q.data, 4, 5);
  viaGraph.forEach((r, i) => assert.deepEqual(new Set(r.hits.map((h) => h.id)), new Set(truth[i].map((j) => s.ids[j]))));
  const refined = await searchGraph(s, q, { k: 5, refine: 3, queryExpansion: 2 });
  assert.equal(refined[0].hits.length, 5);

  const sha0 = m.ann.sha256;
  fs.rmSync(path.join(root, items[3].name));
  const res = await build(scan(root), dir);
  assert.notEqual(res.index.manifest.ann!.sha256, sha0, "rebuilt after a change");
  assert.equal(openSearchIndex(dir).hnsw?.size, 49);

  flipByte(path.join(dir, "hnsw.usearch"), 200);
  const n2 = notices();
  assert.equal(openSearchIndex(dir, { reporter: n2.reporter }).hnsw, undefined);
  assert.match(n2.text(), /hnsw\.usearch fails its checksum: exact search instead/);
  const n3 = notices();
  await build(scan(root), dir, { reporter: n3.reporter });
  assert.match(n3.text(), /warn: hnsw\.usearch fails its checksum: rebuilding the HNSW graph/);
  assert.equal(openSearchIndex(dir).hnsw?.size, 49);
  await build(scan(root), dir, { ann: "none" });
  assert.ok(!fs.existsSync(path.join(dir, "hnsw.usearch")), "--ann none removes the graph");
});

test("unknown --vectors / --ann values exit 2 with one error line before any work", async () => {
  const missing = path.join(work, "no-such-folder");
  for (const args of [["index", missing, "--vectors", "i4"], ["index", missing, "--ann", "kdtree"], ["query", missing, "x.png", "--vectors", "f64"], ["query", missing, "x.png", "--refine", "0"]]) {
    const r = cbirSync(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    const lines = r.err.trim().split("\n").filter((l) => /^error:/.test(l));
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0], /vector encoding|ann|refine/);
    assert.doesNotMatch(r.err, /no-such-folder/, "refused before the folder is looked at");
  }
});

const haveSample = fs.existsSync(SAMPLE_DIR);
test("cbir index --vectors i8 --ann hnsw, cbir query over the graph, --exact, --refine and a mismatched --vectors", { skip: haveSample ? false : "data/sample missing" }, async () => {
  const model = writeTinyModel(path.join(work, "model"));
  const db = path.join(work, "db");
  const names = fs.readdirSync(SAMPLE_DIR).filter((n) => n.endsWith(".png")).sort();
  copySample(SAMPLE_DIR, db, names.slice(0, 12));
  const idx = path.join(work, "cli-idx");
  const settings = ["--model", model, "--layer", "c2"];
  let r = cbirSync(["index", db, "--index", idx, ...settings, "--vectors", "i8", "--ann", "hnsw"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /search vectors: i8 codes, \d+ bytes per vector \(f32: \d+\)/);
  assert.match(r.out, /HNSW graph \(usearch, i8 scalars, M 16, ef 128\/64\): recall@10 \d\.\d{3}/);
  const query = path.join(SAMPLE_DIR, names[13]);
  r = cbirSync(["query", idx, query, "-k", "3", "--no-figures"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /note: search: HNSW graph \(usearch, i8 scalars/);
  assert.match(r.out, /1\. \S+\.png.*cosine\+hnsw/);
  r = cbirSync(["query", idx, query, "-k", "3", "--no-figures", "--exact", "--refine", "4"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /note: search: exact cosine over i8 codes, refine 4/);
  assert.match(r.out, /1\. \S+\.png.*cosine -?\d\.\d{4}/);
  r = cbirSync(["query", idx, query, "--no-figures", "--vectors", "f16"]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /encoded as i8 but f16 was asked for/);
  r = cbirSync(["index", db, "--index", idx, ...settings, "--vectors", "f16"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /encoded as i8 but f16 was asked for.*--rebuild/s);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { makeFingerprint } from "../lib/fingerprint";
import type { FeatureMatrix, ImageItem } from "../lib/types";
import type { Notice } from "../lib/report";
import { buildOrUpdateIndex, openIndex, acquireLock, exportNpy, readNpy, npyBytes, LOCK_FILE, MANIFEST_FILE, type ExtractFn } from "../lib/store";
import { queryLabel, queryNames } from "../lib/pipeline/folder-index";
import { stepsFitter } from "../lib/pipeline/pipeline";

const fp = makeFingerprint({ backbone: "fake", layer: "l1" });

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "cbir-store-"));
}

/** A folder of small files (content = text) and items with labels from the name prefix. */
function folder(files: Record<string, string>): { root: string; items: ImageItem[] } {
  const root = tmpdir();
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(root, name), text);
  return { root, items: scan(root) };
}
function scan(root: string): ImageItem[] {
  return fs
    .readdirSync(root)
    .filter((n) => n.endsWith(".jpg"))
    .sort()
    .map((name) => ({ name, path: path.join(root, name), label: name.replace(/\d.*$/, "") }));
}

/** Vector = [length, sum of char codes, first char code]; counts the images it was asked for. */
function fakeExtractor(opts: { failOnCall?: number; bad?: string } = {}) {
  const calls: string[][] = [];
  const fn: ExtractFn = async (items) => {
    calls.push(items.map((i) => i.name));
    if (opts.failOnCall === calls.length) throw new Error("killed");
    const ok = items.filter((i) => i.name !== opts.bad);
    const data = new Float32Array(ok.length * 3);
    ok.forEach((it, r) => {
      const t = fs.readFileSync(it.path, "utf8");
      data.set([t.length, [...t].reduce((s, c) => s + c.charCodeAt(0), 0), t.charCodeAt(0)], r * 3);
    });
    const features: FeatureMatrix = { ids: ok.map((i) => i.name), dim: 3, data, fingerprint: fp };
    return { features, skipped: items.filter((i) => i.name === opts.bad).map((i) => ({ path: i.path, reason: "corrupt image" })) };
  };
  return { fn, calls, asked: () => calls.flat() };
}

test("build, reopen: vectors, labels, order and checksums round-trip", async () => {
  const { root, items } = folder({ "a1.jpg": "aaa", "a2.jpg": "ab", "b1.jpg": "bcd" });
  const dir = path.join(tmpdir(), "idx");
  const ex = fakeExtractor();
  const res = await buildOrUpdateIndex(items, ex.fn, { dir, fingerprint: fp, root, batchSize: 2 });
  assert.deepEqual(res.added, ["a1.jpg", "a2.jpg", "b1.jpg"]);
  const idx = openIndex(dir, { fingerprint: fp });
  assert.deepEqual(idx.raw.ids, ["a1.jpg", "a2.jpg", "b1.jpg"]);
  assert.deepEqual(Array.from(idx.raw.data.subarray(6, 9)), [3, 98 + 99 + 100, 98]);
  assert.equal(idx.labels.get("b1.jpg"), "b");
  assert.equal(idx.manifest.segments.length, 1, "batches compacted into one file at the end");
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".f32")).length, 1);
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)), "lock released");
  assert.equal(idx.manifest.items[0].sha256.length, 64);
});

test("update: only new and changed images are extracted; removed and renamed are detected", async () => {
  const { root, items } = folder({ "a1.jpg": "aaa", "a2.jpg": "ab", "b1.jpg": "bcd" });
  const dir = path.join(tmpdir(), "idx");
  await buildOrUpdateIndex(items, fakeExtractor().fn, { dir, fingerprint: fp, root });
  fs.writeFileSync(path.join(root, "c1.jpg"), "cc"); // new
  fs.writeFileSync(path.join(root, "a2.jpg"), "abX"); // changed (size differs)
  fs.rmSync(path.join(root, "a1.jpg")); // removed
  fs.renameSync(path.join(root, "b1.jpg"), path.join(root, "b2.jpg")); // renamed: same content
  const ex = fakeExtractor();
  const res = await buildOrUpdateIndex(scan(root), ex.fn, { dir, fingerprint: fp, root });
  assert.deepEqual(ex.asked().sort(), ["a2.jpg", "c1.jpg"]);
  assert.deepEqual(res.added, ["c1.jpg"]);
  assert.deepEqual(res.changed, ["a2.jpg"]);
  assert.deepEqual(res.removed, ["a1.jpg"]);
  assert.deepEqual(res.renamed, [["b1.jpg", "b2.jpg"]]);
  const idx = openIndex(dir);
  assert.deepEqual(idx.raw.ids, ["a2.jpg", "b2.jpg", "c1.jpg"]);
  assert.equal(idx.raw.data[0], 3, "a2's new vector");
  // nothing to do the next time
  const again = fakeExtractor();
  const r3 = await buildOrUpdateIndex(scan(root), again.fn, { dir, fingerprint: fp, root });
  assert.equal(again.calls.length, 0);
  assert.equal(r3.unchanged, 3);
});

test("a killed run resumes without recomputing committed batches", async () => {
  const { root, items } = folder({ "a1.jpg": "1", "a2.jpg": "22", "a3.jpg": "333", "a4.jpg": "4444", "a5.jpg": "55555" });
  const dir = path.join(tmpdir(), "idx");
  const dying = fakeExtractor({ failOnCall: 2 });
  await assert.rejects(buildOrUpdateIndex(items, dying.fn, { dir, fingerprint: fp, batchSize: 2 }), /killed/);
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)), "lock released on failure");
  const ex = fakeExtractor();
  const res = await buildOrUpdateIndex(items, ex.fn, { dir, fingerprint: fp, batchSize: 2 });
  assert.deepEqual(ex.asked(), ["a3.jpg", "a4.jpg", "a5.jpg"], "the first batch was committed");
  assert.equal(res.unchanged, 2);
  assert.deepEqual(openIndex(dir).raw.ids, ["a1.jpg", "a2.jpg", "a3.jpg", "a4.jpg", "a5.jpg"]);
});

test("an index of another pipeline is refused, naming what differs, unless rebuild", async () => {
  const { root, items } = folder({ "a1.jpg": "aaa", "b1.jpg": "b" });
  const dir = path.join(tmpdir(), "idx");
  await buildOrUpdateIndex(items, fakeExtractor().fn, { dir, fingerprint: fp, root });
  const other = makeFingerprint({ backbone: "fake", layer: "l2" });
  const otherEx: ExtractFn = async (its) => {
    const r = await fakeExtractor().fn(its);
    return { ...r, features: { ...r.features, fingerprint: other } };
  };
  await assert.rejects(buildOrUpdateIndex(items, otherEx, { dir, fingerprint: other }), (e: Error & { code?: string }) => e.code === "E_FINGERPRINT_MISMATCH" && /layer: "l1" vs "l2"/.test(e.message));
  assert.throws(() => openIndex(dir, { fingerprint: other }), (e: Error & { code?: string }) => e.code === "E_FINGERPRINT_MISMATCH");
  const res = await buildOrUpdateIndex(items, otherEx, { dir, fingerprint: other, rebuild: true });
  assert.equal(res.added.length, 2);
  assert.equal(openIndex(dir).manifest.fingerprint.id, other.id);
});

test("a vector file that fails its checksum is E_INDEX_CORRUPT and its images are recomputed", async () => {
  const { root, items } = folder({ "a1.jpg": "aaa", "b1.jpg": "bb" });
  const dir = path.join(tmpdir(), "idx");
  await buildOrUpdateIndex(items, fakeExtractor().fn, { dir, fingerprint: fp, root });
  const seg = path.join(dir, openIndex(dir).manifest.segments[0].file);
  const bytes = fs.readFileSync(seg);
  bytes[5] ^= 0xff;
  fs.writeFileSync(seg, bytes);
  assert.throws(() => openIndex(dir), (e: Error & { code?: string }) => e.code === "E_INDEX_CORRUPT" && /checksum/.test(e.message));
  const notices: Notice[] = [];
  const ex = fakeExtractor();
  await buildOrUpdateIndex(items, ex.fn, { dir, fingerprint: fp, root, reporter: { notice: (n) => notices.push(n) } });
  assert.deepEqual(ex.asked(), ["a1.jpg", "b1.jpg"]);
  assert.ok(notices.some((n) => /fails its checksum/.test(n.message)));
  assert.deepEqual(Array.from(openIndex(dir).raw.data.subarray(0, 3)), [3, 291, 97]);
  fs.writeFileSync(path.join(dir, "manifest.json"), "{not json");
  assert.throws(() => openIndex(dir), (e: Error & { code?: string }) => e.code === "E_INDEX_CORRUPT");
  await buildOrUpdateIndex(items, fakeExtractor().fn, { dir, fingerprint: fp, root });
  assert.equal(openIndex(dir).raw.ids.length, 2, "rebuilt after an unreadable manifest");
});

test("lock: a live writer is E_LOCKED, a dead one's lock is stale and taken over", async () => {
  const dir = tmpdir();
  const lock = acquireLock(dir);
  assert.throws(() => acquireLock(dir), (e: Error & { code?: string }) => e.code === "E_LOCKED" && new RegExp(`process ${process.pid}`).test(e.message));
  lock.release();
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  const deadPid = Number(child.stdout.toString());
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: os.hostname(), startedAt: "2020-01-01T00:00:00.000Z" }));
  const notices: Notice[] = [];
  const l2 = acquireLock(dir, { notice: (n) => notices.push(n) });
  assert.match(notices[0].message, new RegExp(`stale lock of process ${deadPid}`));
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8")).pid, process.pid);
  l2.release();
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)));
});

test("post-processing is fitted on the index, stored, and applied to queries", async () => {
  const { root, items } = folder({ "a1.jpg": "aaa", "a2.jpg": "ab", "b1.jpg": "bcd", "b2.jpg": "zz" });
  const dir = path.join(tmpdir(), "idx");
  await buildOrUpdateIndex(items, fakeExtractor().fn, { dir, fingerprint: fp, root, post: stepsFitter(["center", "l2"]) });
  const idx = openIndex(dir);
  assert.deepEqual(idx.manifest.post?.steps, ["center", "l2"]);
  assert.equal(idx.features.fingerprint.id, idx.manifest.post?.fingerprint.id);
  let norm = 0;
  for (let k = 0; k < 3; k++) norm += idx.features.data[k] ** 2;
  assert.ok(Math.abs(norm - 1) < 1e-5);
  const q = idx.prepareQueries({ ids: ["q"], dim: 3, data: Float32Array.from([3, 291, 97]), fingerprint: fp });
  assert.equal(q.fingerprint.id, idx.features.fingerprint.id);
  assert.deepEqual(Array.from(q.data), Array.from(idx.features.data.subarray(0, 3)));
  // an update with nothing to do keeps the fitted state; a removal refits it
  await buildOrUpdateIndex(items, fakeExtractor().fn, { dir, fingerprint: fp, root, post: stepsFitter(["center", "l2"]) });
  assert.equal(openIndex(dir).features.fingerprint.id, idx.features.fingerprint.id);
  fs.rmSync(path.join(root, "b2.jpg"));
  await buildOrUpdateIndex(scan(root), fakeExtractor().fn, { dir, fingerprint: fp, root, post: stepsFitter(["center", "l2"]) });
  assert.notEqual(openIndex(dir).features.fingerprint.id, idx.features.fingerprint.id, "mean refitted on 3 images");
  // the store never fits by itself: without the pipeline's fitter the update is refused before any work
  const manifest = fs.readFileSync(path.join(dir, MANIFEST_FILE));
  fs.writeFileSync(path.join(root, "c1.jpg"), "new");
  await assert.rejects(buildOrUpdateIndex(scan(root), fakeExtractor().fn, { dir, fingerprint: fp, root }), (e: Error & { code?: string }) => e.code === "E_BAD_OPTION" && /center,l2/.test(e.message) && /postFitter/.test(e.message));
  assert.deepEqual(fs.readFileSync(path.join(dir, MANIFEST_FILE)), manifest, "the manifest is unchanged");
});

test("unusable images are remembered and not retried while unchanged", async () => {
  const { root, items } = folder({ "a1.jpg": "aaa", "bad.jpg": "xx" });
  const dir = path.join(tmpdir(), "idx");
  const r1 = await buildOrUpdateIndex(items, fakeExtractor({ bad: "bad.jpg" }).fn, { dir, fingerprint: fp });
  assert.equal(r1.skipped.length, 1);
  const ex = fakeExtractor({ bad: "bad.jpg" });
  const r2 = await buildOrUpdateIndex(items, ex.fn, { dir, fingerprint: fp });
  assert.equal(ex.calls.length, 0);
  assert.equal(r2.skipped[0].reason, "corrupt image");
});

test(".npy export: valid v1.0 header, 64-byte aligned, data round-trips", () => {
  const dir = tmpdir();
  const m: FeatureMatrix = { ids: ["x", "y"], dim: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6.5]), fingerprint: fp };
  const file = path.join(dir, "v.npy");
  exportNpy(m, file);
  const bytes = fs.readFileSync(file);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x93, 78, 85, 77, 80, 89, 1, 0]);
  const hlen = bytes[8] | (bytes[9] << 8);
  assert.equal((10 + hlen) % 64, 0);
  const header = bytes.subarray(10, 10 + hlen).toString("latin1");
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
  assert.equal(bytes.length, 10 + hlen + 24);
  assert.deepEqual(Array.from(readNpy(bytes).data), [1, 2, 3, 4, 5, 6.5]);
  assert.deepEqual(readNpy(bytes).shape, [2, 3]);
  assert.equal(fs.readFileSync(path.join(dir, "v.ids.txt"), "utf8"), "x\ny\n");
  assert.match(Buffer.from(npyBytes(new Float32Array(2), [2]).subarray(10, 74)).toString("latin1"), /'shape': \(2,\)/);
});

test("query names tell apart files that share a base name; query labels follow the index's classes", () => {
  const p = (...parts: string[]) => path.join(os.tmpdir(), ...parts);
  assert.deepEqual(queryNames([p("q", "satay", "001.jpg"), p("q", "rojak", "001.jpg"), p("burger_test.jpeg")]), ["satay/001.jpg", "rojak/001.jpg", "burger_test.jpeg"]);
  assert.deepEqual(queryNames([p("a.jpg"), p("a.jpg")]), ["a.jpg", "a.jpg#2"], "the same file twice still gets two names");
  const known = new Set(["satay", "burger"]);
  assert.equal(queryLabel(p("q", "satay", "001.jpg"), known), "satay", "folder when the prefix is no class");
  assert.equal(queryLabel(p("satay", "burger_test.jpeg"), known), "burger", "prefix first");
  assert.equal(queryLabel(p("x", "001.jpg"), known), undefined, "digits alone are no label");
  assert.equal(queryLabel(p("x", "CT (3).jpg"), known), "CT", "an unknown but readable prefix is kept");
});

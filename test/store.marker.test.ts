/**
 * An index touches only its own files: a folder of user files given as the index is refused
 * (E_NOT_AN_INDEX) and left byte for byte as it was; a marked index is still rebuilt when its manifest is
 * damaged (or has no checksum); clean-up deletes only the segments the index recorded and its own
 * temporary files; an index of the version before markers is recognised and marked. Paths that cannot
 * hold an index or outputs (a file, a path under a file, `/`, a read-only folder) are one `error:` line
 * from every command, exit 1, before any work.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { makeFingerprint, sha256 } from "../lib/fingerprint";
import { fsFaults } from "../lib/fsutil";
import { buildOrUpdateIndex, openIndex, readManifest, JOURNAL_FILE, MANIFEST_FILE, MARKER_FILE, type ExtractFn } from "../lib/store/index";
import type { Notice } from "../lib/report";
import type { FeatureMatrix, ImageItem } from "../lib/types";
import { SAMPLE_DIR, cbirSync, copySample, hasStackTrace, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-store-marker-"));
let readOnly: string | undefined; // a read-only tmpfs, unmounted before the folder holding it is removed
after(() => {
  if (readOnly) execFileSync("umount", [readOnly]);
  fs.rmSync(work, { recursive: true, force: true });
});
const fp = makeFingerprint({ backbone: "fake", layer: "l1" });
const extract: ExtractFn = async (items) => {
  const data = new Float32Array(items.length * 2);
  items.forEach((it, r) => data.set([fs.statSync(it.path).size, r], r * 2));
  const features: FeatureMatrix = { ids: items.map((i) => i.name), dim: 2, data, fingerprint: fp };
  return { features, skipped: [] };
};

const root = path.join(work, "db");
fs.mkdirSync(root);
for (const n of ["a1.jpg", "a2.jpg", "b1.jpg"]) fs.writeFileSync(path.join(root, n), n.repeat(3));
const items: ImageItem[] = ["a1.jpg", "a2.jpg", "b1.jpg"].map((name) => ({ name, path: path.join(root, name), label: name[0] }));
let n = 0;
const fresh = (what: string) => path.join(work, `${what}-${++n}`);
const build = (dir: string, notices: Notice[] = []) => buildOrUpdateIndex(items, extract, { dir, fingerprint: fp, root, reporter: { notice: (x) => notices.push(x) } });

/** Names, bytes and modification times of everything in a folder. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, f);
    out[f] = `${sha256(fs.readFileSync(p))} ${fs.statSync(p).mtimeMs}`;
  }
  return out;
}

/** A folder of user files whose names the index also uses or used to delete. */
function userFolder(): string {
  const dir = fresh("user");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify({ project: "holiday", version: 3 }));
  fs.writeFileSync(path.join(dir, "notes.tmp"), "draft");
  fs.writeFileSync(path.join(dir, "vectors-0.f32"), Buffer.alloc(64, 7));
  fs.writeFileSync(path.join(dir, "photo.jpg"), "not really a photo");
  return dir;
}

test("a folder of user files is refused as an index and left byte for byte as it was", async () => {
  const dir = userFolder();
  const before = snapshot(dir);
  await assert.rejects(build(dir), (e: Error & { code?: string }) => e.code === "E_NOT_AN_INDEX" && e.message.includes(dir) && /nothing in it was changed/.test(e.message));
  assert.deepEqual(snapshot(dir), before);
});

test("the marker is written first; an empty folder is taken; a damaged or checksum-less manifest is rebuilt", async () => {
  const dir = fresh("idx");
  fs.mkdirSync(dir); // empty: fine
  const renames: string[] = [];
  fsFaults.hook = (ev) => void (ev.op === "rename" && renames.push(path.basename(ev.to!)));
  try {
    await build(dir);
  } finally {
    delete fsFaults.hook;
  }
  assert.equal(renames[0], MARKER_FILE, `first file written: ${renames.join(", ")}`);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, MARKER_FILE), "utf8")).format, "cbir-index");

  for (const [what, damage, detected] of [
    ["cut short", (m: string) => m.slice(0, 40), /not valid JSON/],
    ["without its checksum", (m: string) => JSON.stringify({ ...JSON.parse(m), checksum: undefined }), /has no checksum/],
  ] as const) {
    const file = path.join(dir, MANIFEST_FILE);
    fs.writeFileSync(file, damage(fs.readFileSync(file, "utf8")));
    assert.throws(() => readManifest(dir), (e: Error & { code?: string }) => e.code === "E_INDEX_CORRUPT" && detected.test(e.message), what);
    const notices: Notice[] = [];
    const res = await build(dir, notices);
    assert.ok(notices.some((x) => x.level === "warn" && detected.test(x.message) && /Rebuilding the index/.test(x.message)), `${what}: ${JSON.stringify(notices)}`);
    assert.deepEqual(res.added, ["a1.jpg", "a2.jpg", "b1.jpg"], what);
    assert.equal(openIndex(dir).raw.ids.length, 3);
    // the segments of the lost manifest were recorded in the journal: deleted, not left behind
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".f32")).length, 1, `${what}: ${fs.readdirSync(dir)}`);
  }
});

test("clean-up deletes only what the index recorded and its own temporary files", async () => {
  const dir = fresh("idx");
  await build(dir);
  // user files dropped into the index folder, named like the files the previous version deleted
  const foreign = ["notes.tmp", "vectors-0.f32", "vectors-12.f32", ".manifest.json.tmp", ".photo.jpg.123.abc.tmp"];
  for (const f of foreign) fs.writeFileSync(path.join(dir, f), "mine");
  // what a killed run of the index leaves: a temporary manifest and a segment named in the journal
  const ownTmp = `.${MANIFEST_FILE}.99999.k2j4h5abc.tmp`;
  fs.writeFileSync(path.join(dir, ownTmp), "{");
  const journal = path.join(dir, JOURNAL_FILE);
  fs.appendFileSync(journal, "vectors-000777.f32\n../escape.f32\n");
  fs.writeFileSync(path.join(dir, "vectors-000777.f32"), Buffer.alloc(8));
  fs.writeFileSync(path.join(root, "c1.jpg"), "c1");
  try {
    await buildOrUpdateIndex([...items, { name: "c1.jpg", path: path.join(root, "c1.jpg"), label: "c" }], extract, { dir, fingerprint: fp, root });
  } finally {
    fs.rmSync(path.join(root, "c1.jpg"));
  }
  const left = fs.readdirSync(dir);
  for (const f of foreign) assert.ok(left.includes(f), `${f} kept`);
  assert.ok(!left.includes(ownTmp), "its own temporary file removed");
  assert.ok(!left.includes("vectors-000777.f32"), "its recorded orphan segment removed");
  assert.equal(openIndex(dir).raw.ids.length, 4);
});

test("an index of the version before markers (valid manifest, checksum) is accepted and marked", async () => {
  const dir = fresh("legacy");
  await build(dir);
  fs.rmSync(path.join(dir, MARKER_FILE));
  fs.rmSync(path.join(dir, JOURNAL_FILE));
  const notices: Notice[] = [];
  const res = await build(dir, notices);
  assert.equal(res.unchanged, 3);
  assert.ok(fs.existsSync(path.join(dir, MARKER_FILE)), "marked");
  assert.ok(notices.some((x) => /marked as a cbir index \(made by an earlier version/.test(x.message)), JSON.stringify(notices));
  // the same folder with a manifest that does not pass is not recognised as one
  fs.rmSync(path.join(dir, MARKER_FILE));
  const file = path.join(dir, MANIFEST_FILE);
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), checksum: undefined }));
  const before = snapshot(dir);
  await assert.rejects(build(dir), (e: Error & { code?: string }) => e.code === "E_NOT_AN_INDEX");
  assert.deepEqual(snapshot(dir), before);
});

// ---- the command line: one error line, exit 1, before any work ----

const haveSample = fs.existsSync(SAMPLE_DIR);
const skip = haveSample ? false : "data/sample missing";

function assertOneLineError(r: { code: number | null; err: string }, what: string, ...fragments: (string | RegExp)[]): void {
  assert.equal(r.code, 1, `${what}: ${r.err}`);
  const lines = r.err.split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(lines.length, 1, `${what}: ${r.err}`);
  for (const f of fragments) assert.ok(typeof f === "string" ? lines[0].includes(f) : f.test(lines[0]), `${what}: '${f}' in: ${lines[0]}`);
  assert.ok(!hasStackTrace(r.err), `${what}: ${r.err}`);
}

/** A read-only folder: a tmpfs remounted read-only (root can write through any permission bits). */
function readOnlyFolder(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = path.join(work, "ro");
  fs.mkdirSync(dir);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "pipe" });
    readOnly = dir;
    execFileSync("mount", ["-o", "remount,ro", dir], { stdio: "pipe" });
    return dir;
  } catch {
    return undefined;
  }
}

test("cbir index, query, demo and eval: a file, a path under a file, `/`, a user folder, a read-only folder", { skip }, (t) => {
  const model = writeTinyModel(path.join(work, "model"));
  const db = path.join(work, "cli-db");
  copySample(SAMPLE_DIR, db, ["bird1.png", "bird2.png", "fruit1.png", "fruit2.png"]);
  const settings = ["--model", model, "--layer", "c2", "-q"];
  const env = { CBIR_CACHE_DIR: path.join(work, "cache") };
  const cli = (...args: string[]) => cbirSync([...args, ...settings], { env });
  const aFile = path.join(work, "a-file.txt");
  fs.writeFileSync(aFile, "user data");
  const ro = readOnlyFolder();
  if (!ro) t.diagnostic("read-only sub-cases skipped: needs root and a tmpfs mount");

  const user = userFolder();
  const before = snapshot(user);
  assertOneLineError(cli("index", db, "--index", user), "index into a user folder", user, "no cbir-index.json", "nothing in it was changed");
  assert.deepEqual(snapshot(user), before, "the user folder is untouched");
  assertOneLineError(cli("index", db, "--index", aFile), "index into a file", aFile, "is a file, not a folder");
  assertOneLineError(cli("index", db, "--index", path.join(aFile, "idx")), "index under a file", aFile, "is a file, not a folder");
  assertOneLineError(cli("index", db, "--index", "/"), "index into /", "'/'", "no cbir-index.json");
  if (ro) assertOneLineError(cli("index", db, "--index", path.join(ro, "idx")), "index into a read-only folder", ro, /read-only/);
  assert.equal(fs.readFileSync(aFile, "utf8"), "user data");

  const idx = path.join(work, "cli-idx");
  const r = cli("index", db, "--index", idx);
  assert.equal(r.code, 0, r.err);
  const query = path.join(SAMPLE_DIR, "bird5.png");
  assertOneLineError(cli("query", aFile, query), "query a file", aFile, "is a file, not an index folder");
  assertOneLineError(cli("query", "/", query), "query /", "holds no index");
  assertOneLineError(cli("query", idx, query, "--out", aFile), "query --out a file", aFile, "is a file, not a folder");
  assertOneLineError(cli("query", idx, query, "--out", "/"), "query --out /", "root of the file system");
  if (ro) assertOneLineError(cli("query", idx, query, "--out", ro), "query --out read-only", ro, /read-only/);

  assertOneLineError(cli("demo", db, "--out", aFile), "demo --out a file", aFile, "is a file");
  assertOneLineError(cli("demo", db, "--out", path.join(aFile, "out")), "demo --out under a file", aFile, "is a file, not a folder");
  assertOneLineError(cli("demo", db, "--out", "/"), "demo --out /", "root of the file system");
  if (ro) assertOneLineError(cli("demo", db, "--out", ro), "demo --out read-only", ro, /read-only/);

  assertOneLineError(cli("eval", db, "--json", "/"), "eval --json /", "is a folder, not a file");
  assertOneLineError(cli("eval", db, "--json", path.join(aFile, "ev.json")), "eval --json under a file", aFile, "is a file, not a folder");
  if (ro) assertOneLineError(cli("eval", db, "--json", path.join(ro, "ev.json")), "eval --json read-only", ro, /read-only/);
  assert.equal(fs.readFileSync(aFile, "utf8"), "user data");
});

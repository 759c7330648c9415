/**
 * A full or failing disk never costs what is already stored, tested the way SQLite tests its commits:
 * the fault-injection seam under the atomic writer (lib/fsutil.ts fsFaults) fails the Nth file operation
 * (mkdir, open, write, fsync, close, rename) of one index update, for every N the update makes, with ENOSPC
 * and with EIO. After each failure: the error is E_DISK_FULL naming the folder; the index on disk is exactly
 * the last committed one (the previous index when no commit happened), byte for byte; no temporary or
 * unrecorded file is left; and a run without faults then ends exactly like a clean run. Short writes (what
 * a filling disk returns first) are continued. Plus a real full disk: a small tmpfs, through the real CLI.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { isCbirError } from "../lib/errors";
import { makeFingerprint } from "../lib/fingerprint";
import { fsFaults, writeFileAtomic, writeFileAtomicSync, writeError, type FsOpEvent } from "../lib/fsutil";
import { buildOrUpdateIndex, openIndex, JOURNAL_FILE, MANIFEST_FILE, MARKER_FILE, type ExtractFn } from "../lib/store/index";
import type { FeatureMatrix, ImageItem } from "../lib/types";
import { SAMPLE_DIR, cbirSync, copySample, hasStackTrace, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-disk-"));
let mounted = false; // the tmpfs of the last test, unmounted before the folder holding it is removed
after(() => {
  if (mounted) execFileSync("umount", [disk]);
  fs.rmSync(work, { recursive: true, force: true });
});
const fp = makeFingerprint({ backbone: "fake", layer: "l1" });

/** Vector of a file = [length, sum of char codes, first char code]: cheap, and a function of the content only. */
function vectorOf(text: string): number[] {
  return [text.length, [...text].reduce((s, c) => s + c.charCodeAt(0), 0), text.charCodeAt(0)];
}
const extract: ExtractFn = async (items) => {
  const data = new Float32Array(items.length * 3);
  items.forEach((it, r) => data.set(vectorOf(fs.readFileSync(it.path, "utf8")), r * 3));
  const features: FeatureMatrix = { ids: items.map((i) => i.name), dim: 3, data, fingerprint: fp };
  return { features, skipped: [] };
};
function scan(root: string): ImageItem[] {
  return fs
    .readdirSync(root)
    .sort()
    .map((name) => ({ name, path: path.join(root, name), label: name[0] }));
}

/** Runs `run` with the Nth operation (1-based) failing with `code`; records every operation and the last manifest committed. */
async function withFault<T>(failAt: number, code: string, run: () => Promise<T>) {
  const ops: FsOpEvent[] = [];
  let committed: Buffer | undefined;
  fsFaults.hook = (ev) => {
    ops.push(ev);
    if (ops.length === failAt) throw Object.assign(new Error(`${code}: injected fault, ${ev.op} '${ev.file}'`), { code, syscall: ev.op });
    if (ev.op === "rename" && path.basename(ev.to!) === MANIFEST_FILE) committed = fs.readFileSync(ev.file);
  };
  try {
    return { ops, committed, result: await run(), error: undefined as unknown };
  } catch (error) {
    return { ops, committed, result: undefined, error };
  } finally {
    delete fsFaults.hook;
  }
}

/** What two runs must agree on: rows, content hashes, labels, vectors (not the times they ran). */
function essence(dir: string) {
  const idx = openIndex(dir);
  const { createdAt: _c, updatedAt: _u, checksum: _s, segments, ...rest } = idx.manifest;
  return { ...rest, segments: segments.map((s) => ({ rows: s.rows, sha256: s.sha256 })), vectors: Array.from(idx.raw.data) };
}

/** Only the index's own, recorded files: marker, manifest, journal, and the segments the manifest names. */
function assertOnlyOwnFiles(dir: string, what: string): void {
  const named = new Set(fs.existsSync(path.join(dir, MANIFEST_FILE)) ? openIndex(dir).manifest.segments.map((s) => s.file) : []);
  const stray = fs.readdirSync(dir).filter((f) => ![MARKER_FILE, MANIFEST_FILE, JOURNAL_FILE].includes(f) && !named.has(f));
  assert.deepEqual(stray, [], `${what}: no temporary, unrecorded or lock file left`);
}

// The database before and after the update: one image added, one changed, one removed.
const root = path.join(work, "db");
fs.mkdirSync(root);
for (const [n, t] of Object.entries({ "a1.jpg": "aaa", "a2.jpg": "ab", "a3.jpg": "aXa", "b1.jpg": "bcd", "b2.jpg": "bb" })) fs.writeFileSync(path.join(root, n), t);
const base = path.join(work, "base");
const itemsBefore = scan(root);
const updated = (() => {
  const r2 = path.join(work, "db2");
  fs.cpSync(root, r2, { recursive: true, preserveTimestamps: true });
  fs.writeFileSync(path.join(r2, "c1.jpg"), "cc");
  fs.writeFileSync(path.join(r2, "a2.jpg"), "abXY");
  fs.rmSync(path.join(r2, "a1.jpg"));
  return { root: r2, items: scan(r2) };
})();
const opts = (dir: string, r = root) => ({ dir, fingerprint: fp, root: r, batchSize: 1 });

before(() => buildOrUpdateIndex(itemsBefore, extract, opts(base)));

let copies = 0;
function copyOfBase(): string {
  const dir = path.join(work, `idx-${++copies}`);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}

test("every failing operation of an index update leaves the last committed index; the next run completes", async (t) => {
  const baseManifest = fs.readFileSync(path.join(base, MANIFEST_FILE));
  const baseEssence = essence(base);

  const clean = copyOfBase();
  const counted = await withFault(0, "ENOSPC", () => buildOrUpdateIndex(updated.items, extract, opts(clean, updated.root)));
  assert.equal(counted.error, undefined);
  const reference = essence(clean);
  const total = counted.ops.length;
  const kinds = new Set(counted.ops.map((o) => o.op));
  assert.deepEqual([...kinds].sort(), ["close", "fsync", "mkdir", "open", "rename", "write"], "every kind of operation is walked");
  t.diagnostic(`one update (1 added, 1 changed, 1 removed, batches of 1) makes ${total} file operations`);

  for (const code of ["ENOSPC", "EIO"])
    for (let n = 1; n <= total; n++) {
      const dir = copyOfBase();
      const what = `${code} at operation ${n}/${total} (${counted.ops[n - 1].op} ${path.basename(counted.ops[n - 1].file)})`;
      const run = await withFault(n, code, () => buildOrUpdateIndex(updated.items, extract, opts(dir, updated.root)));
      // (a) one expected error, naming the index folder
      assert.ok(isCbirError(run.error) && run.error.code === "E_DISK_FULL", `${what}: ${String(run.error)}`);
      assert.ok(run.error.message.includes(dir) && run.error.message.includes(code), `${what}: ${run.error.message}`);
      // (b) the index on disk is the last committed one, byte for byte, and opens
      const manifest = fs.readFileSync(path.join(dir, MANIFEST_FILE));
      assert.deepEqual(manifest, run.committed ?? baseManifest, `${what}: manifest is the last committed one`);
      const idx = openIndex(dir);
      if (!run.committed) assert.deepEqual(essence(dir), baseEssence, `${what}: previous index unchanged`);
      else
        idx.manifest.items.forEach((it, i) =>
          assert.deepEqual(Array.from(idx.raw.data.subarray(i * 3, i * 3 + 3)), vectorOf(fs.readFileSync(it.path, "utf8")), `${what}: ${it.name} keeps its own vector`),
        );
      // (c) nothing stray
      assertOnlyOwnFiles(dir, what);
      // (d) the next run, without faults, ends like a clean run
      await buildOrUpdateIndex(updated.items, extract, opts(dir, updated.root));
      assert.deepEqual(essence(dir), reference, `${what}: the next run completes like a clean one`);
      assertOnlyOwnFiles(dir, `${what}, after the next run`);
    }
});

test("every failing operation of a first build leaves no index or a committed one; the next run completes", async () => {
  const cleanDir = path.join(work, "fresh-clean");
  const counted = await withFault(0, "ENOSPC", () => buildOrUpdateIndex(itemsBefore, extract, opts(cleanDir)));
  const reference = essence(cleanDir);
  for (let n = 1; n <= counted.ops.length; n++) {
    const dir = path.join(work, `fresh-${n}`);
    const what = `ENOSPC at operation ${n} (${counted.ops[n - 1].op} ${path.basename(counted.ops[n - 1].file)})`;
    const run = await withFault(n, "ENOSPC", () => buildOrUpdateIndex(itemsBefore, extract, opts(dir)));
    assert.ok(isCbirError(run.error) && run.error.code === "E_DISK_FULL", `${what}: ${String(run.error)}`);
    if (run.committed) assert.deepEqual(fs.readFileSync(path.join(dir, MANIFEST_FILE)), run.committed, what);
    else assert.ok(!fs.existsSync(path.join(dir, MANIFEST_FILE)), `${what}: no manifest was ever committed`);
    if (fs.existsSync(dir)) assertOnlyOwnFiles(dir, what);
    await buildOrUpdateIndex(itemsBefore, extract, opts(dir));
    assert.deepEqual(essence(dir), reference, `${what}: the next run completes like a clean one`);
  }
});

test("short writes are continued until every byte is written (sync and async writers)", async () => {
  const dir = copyOfBase();
  const reference = copyOfBase();
  await buildOrUpdateIndex(updated.items, extract, opts(reference, updated.root));
  let writes = 0;
  fsFaults.hook = (ev) => {
    if (ev.op !== "write") return;
    writes++;
    return Math.max(1, Math.floor(ev.length! / 3)); // a third at a time, as a filling disk may return
  };
  try {
    await buildOrUpdateIndex(updated.items, extract, opts(dir, updated.root));
    const text = "x".repeat(1000);
    await writeFileAtomic(path.join(work, "async.txt"), text);
    assert.equal(fs.readFileSync(path.join(work, "async.txt"), "utf8"), text);
  } finally {
    delete fsFaults.hook;
  }
  assert.ok(writes > 20, `short writes happened (${writes})`);
  assert.deepEqual(essence(dir), essence(reference), "same index as with whole writes");
});

test("the async writer: every failing operation leaves the old file and no temporary file", async () => {
  const dir = path.join(work, "async");
  const file = path.join(dir, "report.json");
  await writeFileAtomic(file, "old");
  const counted = await withFault(0, "ENOSPC", () => writeFileAtomic(path.join(dir, "other.json"), "new"));
  assert.deepEqual(counted.ops.map((o) => o.op), ["mkdir", "open", "write", "fsync", "close", "rename"]);
  for (const code of ["ENOSPC", "EDQUOT", "EIO"])
    for (let n = 1; n <= counted.ops.length; n++) {
      const run = await withFault(n, code, () => writeFileAtomic(file, "new content"));
      assert.ok(isCbirError(run.error) && run.error.code === "E_DISK_FULL", `${code} at ${n}: ${String(run.error)}`);
      assert.ok(run.error.message.includes(file) && /Fix: free space on the disk holding/.test(run.error.message), run.error.message);
      assert.equal(fs.readFileSync(file, "utf8"), "old", `${code} at ${n}: old file kept`);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["other.json", "report.json"], `${code} at ${n}: no temporary file`);
    }
  // a write that cannot happen at all is E_NOT_WRITABLE, naming the file
  const blocker = path.join(work, "a-file");
  fs.writeFileSync(blocker, "");
  assert.throws(() => writeFileAtomicSync(path.join(blocker, "x.json"), "{}"), (e: Error & { code?: string }) => e.code === "E_NOT_WRITABLE" && e.message.includes(blocker));
  const rofs = writeError(Object.assign(new Error("EROFS"), { code: "EROFS" }), "/mnt/x") as Error & { code?: string };
  assert.equal(rofs.code, "E_NOT_WRITABLE");
  assert.match(rofs.message, /read-only/);
});

// A real full disk: a 512 KB tmpfs holds the index; the database and the model stay outside it.
const isRoot = process.getuid?.() === 0;
const haveSample = fs.existsSync(SAMPLE_DIR);
const disk = path.join(work, "disk");
function mountTmpfs(): string | false {
  if (!isRoot) return "needs root to mount a small tmpfs (run the tests as root to try a real full disk)";
  if (!haveSample) return "data/sample missing";
  fs.mkdirSync(disk, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", disk], { stdio: "pipe" });
  } catch (e) {
    return `cannot mount a tmpfs here (${String((e as Error).message).split("\n")[0]})`;
  }
  mounted = true;
  return false;
}

test("a real full disk (tmpfs): cbir index exits 1 with one error line, the previous index intact", { skip: mountTmpfs() }, (t) => {
  const model = writeTinyModel(path.join(work, "model"));
  const db = path.join(work, "cli-db");
  const names = fs.readdirSync(SAMPLE_DIR).filter((n) => n.endsWith(".png")).sort();
  copySample(SAMPLE_DIR, db, names.slice(0, 12), 2);
  const idx = path.join(disk, "idx");
  const env = { CBIR_CACHE_DIR: path.join(work, "cache") };
  const settings = ["--model", model, "--layer", "c2", "-q"];
  let r = cbirSync(["index", db, "--index", idx, ...settings], { env });
  assert.equal(r.code, 0, r.err);
  const snapshot = new Map(fs.readdirSync(idx).map((f) => [f, fs.readFileSync(path.join(idx, f))] as const));
  const baseItems = openIndex(idx).manifest.items.map((i) => i.name);
  fs.copyFileSync(path.join(SAMPLE_DIR, names[12]), path.join(db, names[12]));

  // fill the disk to the last byte, then free a few pages at a time until the update fits
  const filler = path.join(disk, "filler");
  const fd = fs.openSync(filler, "w");
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, "ENOSPC");
  }
  const full = fs.fstatSync(fd).size;
  const failures: string[] = [];
  let passed = false;
  for (const pages of [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64]) {
    fs.ftruncateSync(fd, Math.max(0, full - pages * 4096));
    r = cbirSync(["index", db, "--index", idx, ...settings], { env });
    if (r.code === 0) {
      passed = true;
      t.diagnostic(`the update fits with ${pages} free pages`);
      break;
    }
    const lines = r.err.split("\n").filter((l) => l.startsWith("error: "));
    assert.equal(r.code, 1, r.err);
    assert.equal(lines.length, 1, r.err);
    assert.ok(lines[0].includes(idx) && /no space left on the device \(ENOSPC\)/.test(lines[0]), lines[0]);
    assert.ok(!hasStackTrace(r.err), r.err);
    failures.push(`${pages} free pages: ${lines[0].slice(0, 160)}`);
    // the previous index, or a later commit of this run holding every previous image with its vector
    const now = openIndex(idx);
    const stray = fs.readdirSync(idx).filter((f) => ![MARKER_FILE, MANIFEST_FILE, JOURNAL_FILE].includes(f) && !now.manifest.segments.some((s) => s.file === f));
    assert.deepEqual(stray, [], `${pages} free pages: nothing stray`);
    if (pages === 0)
      for (const [f, bytes] of snapshot) assert.deepEqual(fs.readFileSync(path.join(idx, f)), bytes, `no space at all: ${f} untouched`);
    assert.deepEqual(
      now.manifest.items.map((i) => i.name).filter((n) => baseItems.includes(n)),
      baseItems,
      `${pages} free pages: every stored image kept`,
    );
  }
  fs.closeSync(fd);
  t.diagnostic(failures.join("\n"));
  assert.ok(failures.length >= 1, "the disk was full at least once");
  assert.ok(passed, `the update fits once space is freed:\n${failures.join("\n")}`);
  assert.equal(openIndex(idx).manifest.items.length, 25);
});

/**
 * Interrupted and concurrent runs of `cbir index` (the real CLI, as child processes): a run killed with
 * SIGINT or SIGKILL after its first committed batch resumes without recomputing what was committed and
 * ends with the same vectors as an uninterrupted run; a second writer is refused by the lock (E_LOCKED);
 * a lock left by a dead process, or an unreadable one, is taken over.
 *
 * To leave time to kill a run part-way, a preload script written by the test delays every fsync (each
 * batch commit makes two) in the child; nothing else in the child changes.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { acquireLock, LOCK_FILE, openIndex } from "../lib/store/index";
import { SAMPLE_DIR, cbirStart, cbirSync, copySample, hasStackTrace, writeTinyModel, type CliRun } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-resume-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
const haveSample = fs.existsSync(SAMPLE_DIR);
const skip = haveSample ? false : "data/sample missing";

const db = path.join(work, "db");
const reference = path.join(work, "idx-reference");
const slowFsync = path.join(work, "slow-fsync.cjs");
const N = 60;
let model = "";
const settings = () => ["--model", model, "--layer", "c2", "-q"];

before(() => {
  if (!haveSample) return;
  model = writeTinyModel(path.join(work, "model"));
  const names = fs.readdirSync(SAMPLE_DIR).filter((n) => n.endsWith(".png")).sort().slice(0, N / 2);
  copySample(SAMPLE_DIR, db, names, 2);
  fs.writeFileSync(
    slowFsync,
    `const fs = require("fs");
const delay = Number(process.env.CBIR_TEST_FSYNC_DELAY_MS || 0);
const fsync = fs.fsyncSync;
const cell = new Int32Array(new SharedArrayBuffer(4));
fs.fsyncSync = function (fd) { if (delay) Atomics.wait(cell, 0, 0, delay); return fsync.call(this, fd); };
`,
  );
  const r = cbirSync(["index", db, "--index", reference, ...settings(), "--commit-every", "4"]);
  assert.equal(r.code, 0, r.err);
});

function committedRows(idx: string): number {
  try {
    return JSON.parse(fs.readFileSync(path.join(idx, "manifest.json"), "utf8")).items.length;
  } catch {
    return 0; // not written yet
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

function vectorsByName(idx: string): Map<string, Float32Array> {
  const index = openIndex(idx); // verifies every vector file's sha256
  return new Map(index.raw.ids.map((id, i) => [id, index.raw.data.slice(i * index.raw.dim, (i + 1) * index.raw.dim)] as const));
}

/** Starts a slowed `cbir index` and kills it with `signal` once a batch is committed. */
async function killAfterFirstCommit(idx: string, signal: NodeJS.Signals): Promise<{ run: CliRun; pid: number }> {
  const { child, done } = cbirStart(["index", db, "--index", idx, ...settings(), "--commit-every", "4"], {
    preload: [slowFsync],
    env: { CBIR_TEST_FSYNC_DELAY_MS: "150" },
  });
  let exited = false;
  void done.then(() => (exited = true));
  await waitFor(() => exited || committedRows(idx) > 0, "the first committed batch");
  child.kill(signal);
  return { run: await done, pid: child.pid! };
}

for (const signal of ["SIGINT", "SIGKILL"] as const) {
  test(`killed with ${signal} after a committed batch: resumes, reuses the committed rows, same vectors as an uninterrupted run`, { skip }, async () => {
    const idx = path.join(work, `idx-${signal}`);
    const { run, pid } = await killAfterFirstCommit(idx, signal);
    assert.equal(run.signal, signal, `the run was still going when killed (exit ${run.code}): ${run.err}`);

    // what the killed run left: a valid index of the committed batches, plus its lock
    const committed = vectorsByName(idx);
    assert.ok(committed.size > 0 && committed.size < N, `part-way: ${committed.size} of ${N} rows committed`);
    assert.equal(JSON.parse(fs.readFileSync(path.join(idx, LOCK_FILE), "utf8")).pid, pid, "the dead run's lock is still there");

    const resumed = cbirSync(["index", db, "--index", idx, ...settings(), "--commit-every", "4"]);
    assert.equal(resumed.code, 0, resumed.err);
    assert.ok(resumed.err.includes(`removing the stale lock of process ${pid}`), resumed.err);
    assert.match(resumed.out, new RegExp(`${N} vectors .*\\n  ${N - committed.size} added, 0 changed, 0 removed, 0 renamed, ${committed.size} unchanged, 0 skipped`));

    const final = vectorsByName(idx);
    for (const [name, v] of committed) assert.deepEqual(final.get(name), v, `${name}: committed vector kept as it was`);
    const ref = vectorsByName(reference);
    assert.deepEqual([...final.keys()], [...ref.keys()], "same images, same row order");
    for (const [name, v] of ref) {
      const got = final.get(name)!;
      assert.ok(v.every((x, i) => Math.abs(x - got[i]) <= 1e-6), `${name}: same vector as the uninterrupted run`);
    }
    const left = fs.readdirSync(idx).sort();
    assert.equal(left.length, 4, `only the marker, the manifest, the segment journal and one compacted vector file remain: ${left}`);
    assert.ok(left.includes("manifest.json") && left.includes("cbir-index.json") && left.includes("segments.journal") && left.some((f) => /^vectors-\d+\.f32$/.test(f)));
  });
}

test("a second writer is refused while a live process holds the lock (E_LOCKED), and not after", { skip }, () => {
  const idx = path.join(work, "idx-locked");
  fs.cpSync(reference, idx, { recursive: true });
  const before = fs.readFileSync(path.join(idx, "manifest.json"));
  const lock = acquireLock(idx); // this test process is the live writer
  try {
    const r = cbirSync(["index", db, "--index", idx, ...settings()]);
    assert.equal(r.code, 1, r.err);
    const line = r.err.split("\n").filter((l) => l.startsWith("error: "));
    assert.equal(line.length, 1, r.err);
    const lockFile = path.join(idx, LOCK_FILE);
    assert.ok(
      line[0].startsWith(`error: ${lockFile}: index '${idx}' is being written by process ${process.pid} on ${os.hostname()} (started `) &&
        line[0].endsWith(` Fix: wait for that run to finish, or stop it; if no such process exists, delete ${lockFile}.`),
      line[0],
    );
    assert.ok(!hasStackTrace(r.err), r.err);
    assert.deepEqual(fs.readFileSync(path.join(idx, "manifest.json")), before, "the refused run wrote nothing");
  } finally {
    lock.release();
  }
  assert.ok(!fs.existsSync(path.join(idx, LOCK_FILE)), "released");
  const r = cbirSync(["index", db, "--index", idx, ...settings()]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`0 added, 0 changed, 0 removed, 0 renamed, ${N} unchanged`));
});

test("two runs started together on one index: each finishes or is refused by the lock; the index is whole", { skip }, async (t) => {
  const idx = path.join(work, "idx-race");
  const start = () =>
    cbirStart(["index", db, "--index", idx, ...settings(), "--commit-every", "8"], { preload: [slowFsync], env: { CBIR_TEST_FSYNC_DELAY_MS: "40" } }).done;
  const runs = await Promise.all([start(), start()]);
  for (const r of runs) {
    assert.ok(r.code === 0 || (r.code === 1 && /is being written by process \d+/.test(r.err)), `exit ${r.code} ${r.signal}: ${r.err}`);
    assert.ok(!hasStackTrace(r.err), r.err);
  }
  assert.ok(runs.some((r) => r.code === 0), "one of them built the index");
  t.diagnostic(`exit codes ${runs.map((r) => r.code).join(", ")} (1 = refused by the lock)`);
  assert.equal(vectorsByName(idx).size, N);
  assert.ok(!fs.existsSync(path.join(idx, LOCK_FILE)));
});

test("a lock left by a dead process, or an unreadable one, is taken over with a notice", { skip }, () => {
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!; // has exited: its pid names no process
  const cases: [string, string, RegExp][] = [
    ["dead", JSON.stringify({ pid: dead, host: os.hostname(), startedAt: "2020-01-01T00:00:00.000Z" }), new RegExp(`removing the stale lock of process ${dead} \\(started 2020-01-01T00:00:00\\.000Z, no longer running\\)`)],
    ["garbled", "{\"pid\": 12", /removing an unreadable lock file/],
  ];
  for (const [what, content, notice] of cases) {
    const idx = path.join(work, `idx-${what}-lock`);
    fs.cpSync(reference, idx, { recursive: true });
    fs.writeFileSync(path.join(idx, LOCK_FILE), content);
    const r = cbirSync(["index", db, "--index", idx, ...settings()]);
    assert.equal(r.code, 0, `${what}: ${r.err}`);
    assert.match(r.err, new RegExp(`warning: ${path.join(idx, LOCK_FILE)}: ${notice.source}`));
    assert.ok(!fs.existsSync(path.join(idx, LOCK_FILE)), `${what}: the lock is gone after the run`);
  }
});

test("a stale lock taken over by another process at the same instant is not stolen from it", () => {
  // Simulates the interleaving: just before this process moves (or deletes) the stale lock it has judged,
  // another process replaces it with its own live lock. That fresh lock must survive, and this process
  // must be refused. The real fs module is patched, so lib/store/lock.ts sees the patch.
  const nodeFs = require("node:fs") as typeof fs;
  const dir = path.join(work, "lock-race");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
  fs.writeFileSync(file, JSON.stringify({ pid: dead, host: os.hostname(), startedAt: "2020-01-01T00:00:00.000Z" }));
  const rival = JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: "rival" });
  let injected = false;
  const inject = (target: unknown) => {
    if (!injected && target === file) {
      injected = true;
      nodeFs.writeFileSync(file, rival);
    }
  };
  const rename = nodeFs.renameSync;
  const rm = nodeFs.rmSync;
  nodeFs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    inject(from);
    return rename(from, to);
  };
  nodeFs.rmSync = (p: fs.PathLike, o?: fs.RmOptions) => {
    inject(p);
    return rm(p, o);
  };
  try {
    assert.throws(() => acquireLock(dir), (e: Error & { code?: string }) => e.code === "E_LOCKED" && e.message.includes(`process ${process.pid}`));
  } finally {
    nodeFs.renameSync = rename;
    nodeFs.rmSync = rm;
  }
  assert.ok(injected, "the simulated rival acted");
  assert.equal(fs.readFileSync(file, "utf8"), rival, "the rival's lock is intact");
  assert.deepEqual(fs.readdirSync(dir), [LOCK_FILE], "no stray files left");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { LanceStore } from "../lib/store/lance-store";
import { updateLanceIndex } from "../lib/store/lance-update";
import { fakeExtractor, fp, makeFolder, scanItems, tmpdir } from "./lance.fixtures";
import { stepsFitter } from "../lib/pipeline/pipeline";

const FIXTURE = path.join(__dirname, "lance.fixtures.ts");

function child(folder: string, uri: string, shard: string, slowMs = 0): { proc: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const proc = spawn(process.execPath, ["--import", "tsx", FIXTURE, folder, uri, shard, String(slowMs)], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (d) => (stdout += d));
  proc.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => proc.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { proc, done };
}

/** id -> raw vector and id -> search vector of a table. */
async function contents(uri: string) {
  const s = await LanceStore.open(uri);
  const entries = await s.entries();
  const all = await s.readAll();
  s.close();
  const raw = new Map(all.raw.ids.map((id, i) => [id, Array.from(all.raw.data.subarray(i * all.raw.dim, (i + 1) * all.raw.dim))] as const));
  const search = new Map(all.features.ids.map((id, i) => [id, Array.from(all.features.data.subarray(i * all.features.dim, (i + 1) * all.features.dim))] as const));
  return { ids: entries.map((e) => e.id), raw, search };
}

test("3 shard processes writing one local table at once = one process; a SIGKILLed shard re-run leaves no duplicate or missing row", async () => {
  const folder = makeFolder(60);
  const items = scanItems(folder);

  const single = path.join(tmpdir(), "single.lance");
  const one = await updateLanceIndex(items, fakeExtractor(), { uri: single, fingerprint: fp, batchSize: 4, post: stepsFitter(["center", "l2"]) });
  one.store!.close();
  const want = await contents(single);
  assert.equal(want.ids.length, 60);

  const sharded = path.join(tmpdir(), "sharded.lance");
  const runs = await Promise.all(["1/3", "2/3", "3/3"].map((s) => child(folder, sharded, s, 150).done));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assert.equal(runs.reduce((n, r) => n + JSON.parse(r.stdout).added, 0), 60, "each file added by exactly one shard");
  {
    const s = await LanceStore.open(sharded);
    assert.ok(!s.meta.post, "shards do not fit the post-processing");
    await assert.rejects(() => s.search({ ids: ["q"], dim: 8, data: new Float32Array(8), fingerprint: fp }), /not been optimized/);
    await s.optimize({ post: stepsFitter(["center", "l2"]) });
    s.close();
  }
  const got = await contents(sharded);
  assert.equal(got.ids.length, 60);
  assert.equal(new Set(got.ids).size, 60);
  assert.deepEqual([...got.raw.keys()].sort(), [...want.raw.keys()].sort());
  for (const [id, v] of want.raw) assert.deepEqual(got.raw.get(id), v, id);
  for (const [id, v] of want.search) got.search.get(id)!.forEach((x, j) => assert.ok(Math.abs(x - v[j]) < 1e-6, id));

  // a shard killed after some of its batches are committed, then re-run
  const killed = path.join(tmpdir(), "killed.lance");
  const c = child(folder, killed, "2/3", 1000);
  for (let waited = 0; ; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    const s = await LanceStore.tryOpen(killed).catch(() => undefined);
    const n = s ? await s.countRows() : 0;
    s?.close();
    if (n > 0 || waited > 60_000) break;
  }
  c.proc.kill("SIGKILL");
  const k = await c.done;
  assert.equal(k.signal, "SIGKILL");
  const partial = (await contents(killed)).ids.length;
  const expected = items.filter((it) => want.ids.includes(it.name)).length;
  assert.ok(partial > 0, "some batches committed before the kill");
  assert.ok(partial < JSON.parse(runs[1].stdout).added, "killed before its last batch");
  const rerun = await child(folder, killed, "2/3").done;
  assert.equal(rerun.code, 0, rerun.stderr);
  const shard2 = runs[1];
  const afterRerun = await contents(killed);
  assert.equal(afterRerun.ids.length, JSON.parse(shard2.stdout).added, `killed at ${partial} rows of ${expected}`);
  assert.equal(new Set(afterRerun.ids).size, afterRerun.ids.length, "no duplicates");
  for (const id of afterRerun.ids) assert.deepEqual(afterRerun.raw.get(id), want.raw.get(id), id);
  assert.equal(JSON.parse(rerun.stdout).added, afterRerun.ids.length - partial, "the re-run extracts only what the killed run had not committed");
});

/**
 * Shared by the Lance store tests: a folder of small files and a synthetic extractor (the vector is a
 * function of the file's bytes), so the tests need no model and run in seconds. Also run as a child
 * process (`node --import tsx test/lance.fixtures.ts <folder> <uri> <shard> [slowMs]`) by the shard test.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { makeFingerprint } from "../lib/fingerprint";
import type { ExtractFn } from "../lib/store/index-store";
import { updateLanceIndex } from "../lib/store/lance-update";
import { parseShard } from "../lib/store/shard";
import type { ImageItem } from "../lib/types";
import { stepsFitter } from "../lib/pipeline/pipeline";

export const DIM = 8;
export const fp = makeFingerprint({ backbone: "fake-lance", layer: "l1" });

/** A CLI run's exit code and stderr: one `error:` line naming `what`, with a fix, no stack trace (JS or Rust), exit 1. */
export function assertOneErrorLine(r: { code: number | null; stderr: string }, what: string, fix: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^error: /);
  assert.ok(lines[0].includes(what), lines[0]);
  assert.match(lines[0], /Fix: /);
  assert.match(lines[0], fix);
  assert.doesNotMatch(r.stderr, /\n\s+at |\.rs:\d+/);
}

export function tmpdir(prefix = "cbir-lance-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** n files `<class>_<i>.jpg` (bytes derived from i) in a new folder. */
export function makeFolder(n: number, root = tmpdir()): string {
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(root, `${["cat", "dog", "owl"][i % 3]}_${String(i).padStart(4, "0")}.jpg`), `image ${i} ${"x".repeat(i % 7)}`);
  return root;
}

export function scanItems(root: string): ImageItem[] {
  return fs
    .readdirSync(root)
    .filter((n) => n.endsWith(".jpg"))
    .sort()
    .map((name) => ({ name, path: path.join(root, name), label: name.replace(/_.*$/, "") }));
}

/** The vector of a file: DIM values from the sha256 of its bytes, plus a class direction. */
export function vectorOf(file: string): Float32Array {
  const bytes = fs.readFileSync(file);
  const h = createHash("sha256").update(bytes).digest();
  const v = new Float32Array(DIM);
  for (let j = 0; j < DIM; j++) v[j] = h[j] / 255 - 0.5;
  const cls = ["cat", "dog", "owl"].indexOf(path.basename(file).replace(/_.*$/, ""));
  if (cls >= 0) v[cls] += 2;
  return v;
}

export function fakeExtractor(opts: { slowMs?: number; calls?: string[][] } = {}): ExtractFn {
  return async (items) => {
    opts.calls?.push(items.map((i) => i.name));
    if (opts.slowMs) await new Promise((r) => setTimeout(r, opts.slowMs));
    const data = new Float32Array(items.length * DIM);
    items.forEach((it, i) => data.set(vectorOf(it.path), i * DIM));
    return { features: { ids: items.map((i) => i.name), dim: DIM, data, fingerprint: fp }, skipped: [] };
  };
}

if (require.main === module) {
  const [folder, uri, shard, slow] = process.argv.slice(2);
  updateLanceIndex(scanItems(folder), fakeExtractor({ slowMs: slow ? Number(slow) : 0 }), {
    uri,
    fingerprint: fp,
    root: folder,
    batchSize: 4,
    post: stepsFitter(["center", "l2"]),
    shard: shard && shard !== "-" ? parseShard(shard) : undefined,
  }).then(
    (r) => {
      process.stdout.write(JSON.stringify({ rows: r.rows, added: r.added.length, removed: r.removed.length }) + "\n");
      r.store?.close();
    },
    (e) => {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}

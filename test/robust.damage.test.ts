/**
 * Poisoned or damaged state, through the real CLI: an index made by another pipeline is refused naming
 * what differs; a vector file or manifest truncated, altered or removed on disk fails its checksum, is
 * never read by `cbir query`, and is rebuilt by `cbir index` to the same vectors; a file too large to
 * read is skipped, not fatal; a broken model names the broken file.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openIndex } from "../lib/store/index";
import { SAMPLE_DIR, cbirSync, copySample, hasStackTrace, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-damage-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
const haveSample = fs.existsSync(SAMPLE_DIR);
const skip = haveSample ? false : "data/sample missing";

const db = path.join(work, "db");
const base = path.join(work, "idx-base");
const IMAGES = ["bird1.png", "bird2.png", "bird3.png", "fruit1.png", "fruit2.png", "fruit3.png"];
let model = "";
const settings = () => ["--model", model, "--layer", "c2"];

before(() => {
  if (!haveSample) return;
  model = writeTinyModel(path.join(work, "model"));
  copySample(SAMPLE_DIR, db, IMAGES);
  const r = cbirSync(["index", db, "--index", base, ...settings(), "-q", "--commit-every", "4"]);
  assert.equal(r.code, 0, r.err);
});

let copies = 0;
function copyOfBase(): string {
  const dir = path.join(work, `idx-${++copies}`);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}

function onlyVectorFile(idx: string): string {
  const files = fs.readdirSync(idx).filter((f) => /^vectors-\d+\.f32$/.test(f));
  assert.equal(files.length, 1);
  return path.join(idx, files[0]);
}

function vectorsByName(idx: string): Map<string, Float32Array> {
  const index = openIndex(idx);
  return new Map(index.raw.ids.map((id, i) => [id, index.raw.data.slice(i * index.raw.dim, (i + 1) * index.raw.dim)] as const));
}

function assertSameVectors(idx: string, what: string): void {
  const want = vectorsByName(base);
  const got = vectorsByName(idx);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), what);
  for (const [name, v] of want) {
    const g = got.get(name)!;
    assert.ok(v.every((x, i) => Math.abs(x - g[i]) <= 1e-6), `${what}: ${name} has its own vector`);
  }
}

/** Exactly one `error:` line containing every fragment, exit 1, no stack trace. */
function assertOneLineError(r: { code: number | null; err: string }, ...fragments: string[]): void {
  assert.equal(r.code, 1, r.err);
  const lines = r.err.split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(lines.length, 1, r.err);
  for (const f of fragments) assert.ok(lines[0].includes(f), `'${f}' in: ${lines[0]}`);
  assert.ok(!hasStackTrace(r.err), r.err);
}

test("an index made with other settings is refused, naming what differs; --rebuild replaces it", { skip }, () => {
  const idx = copyOfBase();
  const manifest = path.join(idx, "manifest.json");
  const before = fs.readFileSync(manifest);
  const cases: [string[], string][] = [
    [["--layer", "c1"], 'layer: "c2" vs "c1"'],
    [["--layer", "c2", "--pool", "gmp"], 'pooling: "gem2" vs "gmp"'],
    [["--layer", "c2", "--hist-weight", "0"], 'extra: {"histogram":"rgb8-sqrt"} vs {}'],
  ];
  for (const [change, diff] of cases) {
    const r = cbirSync(["index", db, "--index", idx, "--model", model, ...change, "-q"]);
    assertOneLineError(r, manifest, "vectors were made by a different pipeline", diff, "Fix: rebuild the index with the current settings (delete it or use --rebuild)");
  }
  assert.deepEqual(fs.readFileSync(manifest), before, "refused runs leave the index untouched");
  const r = cbirSync(["index", db, "--index", idx, "--model", model, "--layer", "c1", "-q", "--rebuild"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /rebuilding: the index was made by another pipeline \(.*layer: "c2" vs "c1"/);
  assert.equal(openIndex(idx).manifest.fingerprint.parts.layer, "c1");
});

const damages: [string, (idx: string) => void, RegExp][] = [
  ["a vector file cut short", (idx) => fs.truncateSync(onlyVectorFile(idx), fs.statSync(onlyVectorFile(idx)).size - 4), /vector file vectors-\d+\.f32 fails its checksum/],
  [
    "a vector file with one byte changed",
    (idx) => {
      const f = onlyVectorFile(idx);
      const b = fs.readFileSync(f);
      b[Math.floor(b.length / 2)] ^= 0x40;
      fs.writeFileSync(f, b);
    },
    /vector file vectors-\d+\.f32 fails its checksum/,
  ],
  ["a vector file deleted", (idx) => fs.rmSync(onlyVectorFile(idx)), /vector file vectors-\d+\.f32 is missing/],
];

for (const [what, damage, detected] of damages) {
  test(`${what}: detected by its checksum, refused by query, recomputed by index`, { skip }, () => {
    const idx = copyOfBase();
    damage(idx);
    assert.throws(() => openIndex(idx), (e: Error & { code?: string }) => e.code === "E_INDEX_CORRUPT" && detected.test(e.message));
    const q = cbirSync(["query", idx, path.join(SAMPLE_DIR, "bird5.png"), "--no-figures", "-q"]);
    assertOneLineError(q, path.join(idx, "vectors-"), "Fix: run `cbir index` again");
    assert.match(q.err, detected);

    const r = cbirSync(["index", db, "--index", idx, ...settings()]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`warning: .*${detected.source}.* Its ${IMAGES.length} images are recomputed\\.`));
    assert.match(r.out, new RegExp(`${IMAGES.length} to recompute from a corrupt file`));
    assertSameVectors(idx, what);
  });
}

const manifestDamages: [string, (m: string) => string, RegExp][] = [
  ["a manifest cut short", (m) => m.slice(0, Math.floor(m.length / 2)), /index manifest is not valid JSON/],
  [
    // still valid JSON, every field plausible: only the checksum tells that rows and names no longer match
    "a manifest with two image records swapped",
    (m) => {
      const j = JSON.parse(m);
      [j.items[0], j.items[1]] = [j.items[1], j.items[0]];
      return JSON.stringify(j);
    },
    /index manifest fails its checksum \(damaged or edited on disk\)/,
  ],
];

for (const [what, damage, detected] of manifestDamages) {
  test(`${what}: refused by query, rebuilt by index with every image's own vector`, { skip }, () => {
    const idx = copyOfBase();
    const file = path.join(idx, "manifest.json");
    fs.writeFileSync(file, damage(fs.readFileSync(file, "utf8")));
    const q = cbirSync(["query", idx, path.join(SAMPLE_DIR, "bird5.png"), "--no-figures", "-q"]);
    assertOneLineError(q, file);
    assert.match(q.err, detected);

    const r = cbirSync(["index", db, "--index", idx, ...settings(), "-q"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`warning: .*${detected.source}.* Rebuilding the index\\.`));
    assert.match(r.out, new RegExp(`${IMAGES.length} added, 0 changed, 0 removed, 0 renamed, 0 unchanged`));
    assertSameVectors(idx, what);
  });
}

test("a file too large to read (3 GB, sparse) is skipped by index and demo, not fatal", { skip }, () => {
  const dir = path.join(work, "db-huge");
  copySample(SAMPLE_DIR, dir, IMAGES.slice(0, 3));
  const huge = path.join(dir, "huge.jpg");
  fs.closeSync(fs.openSync(huge, "w"));
  fs.truncateSync(huge, 3 * 1024 ** 3); // no blocks written: costs no disk space
  const idx = path.join(work, "idx-huge");
  const r = cbirSync(["index", dir, "--index", idx, ...settings(), "-q"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /3 added, .* 1 skipped/);
  assert.ok(r.err.includes(`  ${huge}: file too large (3221225472 bytes`), r.err);
  const again = cbirSync(["index", dir, "--index", idx, ...settings(), "-q", "--strict"]);
  assert.equal(again.code, 3, again.err);
  assert.match(again.out, /0 added, .* 3 unchanged, 1 skipped/);

  const demo = cbirSync(["demo", dir, ...settings(), "-q", "--no-tsne", "--out", path.join(work, "out-huge")]);
  assert.equal(demo.code, 0, demo.err);
  assert.ok(demo.err.includes(`  ${huge}: file too large (3221225472 bytes)`), demo.err);
});

test("a broken model names the broken file: cbir layers and cbir demo", { skip }, () => {
  const broken = path.join(work, "broken");
  const cases: [string, (dir: string) => void, string, string][] = [
    ["truncated weights", (d) => fs.truncateSync(path.join(d, "weights.bin"), 100), "weights.bin", "is truncated"],
    ["missing weight file", (d) => fs.rmSync(path.join(d, "weights.bin")), "weights.bin", "is missing"],
    ["truncated model.json", (d) => fs.truncateSync(path.join(d, "model.json"), 300), "model.json", "not valid JSON"],
  ];
  for (const [what, damage, file, message] of cases) {
    fs.rmSync(broken, { recursive: true, force: true });
    writeTinyModel(broken);
    damage(broken);
    const r = cbirSync(["layers", path.join(broken, "model.json")]);
    assertOneLineError(r, path.join(broken, file), message, "Fix: ");
    if (what === "truncated weights") {
      const d = cbirSync(["demo", db, "--model", path.join(broken, "model.json"), "--no-tsne", "-q", "--out", path.join(work, "out-broken")]);
      assertOneLineError(d, path.join(broken, file), message);
    }
  }
});

/**
 * The walk stays in the folder: a symbolic link leading outside it (even to `/`) is skipped with its reason
 * unless `followLinks` / `--follow-links`; links to places inside the folder are followed, each folder once.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { scanFolder } from "../lib/prepare/scan";
import { cbirSync, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-links-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
const db = path.join(work, "db");
const outside = path.join(work, "outside");
let model = "";

before(async () => {
  model = writeTinyModel(path.join(work, "model"));
  const png = (c: number) => sharp({ create: { width: 32, height: 32, channels: 3, background: { r: c, g: 80, b: 255 - c } } }).png().toBuffer();
  fs.mkdirSync(path.join(db, "sub"), { recursive: true });
  fs.mkdirSync(outside, { recursive: true });
  fs.writeFileSync(path.join(db, "a1.png"), await png(10));
  fs.writeFileSync(path.join(db, "b2.png"), await png(90));
  fs.writeFileSync(path.join(db, "sub", "c3.png"), await png(170));
  fs.writeFileSync(path.join(outside, "x9.png"), await png(250));
  fs.writeFileSync(path.join(outside, "y8.png"), await png(200));
  fs.symlinkSync("/", path.join(db, "root"));
  fs.symlinkSync(outside, path.join(db, "out-dir"));
  fs.symlinkSync(path.join(outside, "x9.png"), path.join(db, "out-file.png"));
  fs.symlinkSync("sub", path.join(db, "in-dir")); // inside: followed, but sub is walked once
  fs.symlinkSync("a1.png", path.join(db, "in-file.png")); // inside: followed
  fs.symlinkSync("..", path.join(db, "sub", "up")); // the folder itself: already visited
});

test("links leading outside the folder are skipped with their reason, never walked", () => {
  const scan = scanFolder(db);
  const names = scan.items.map((i) => i.name).sort();
  assert.deepEqual(names, ["a1.png", "b2.png", "in-dir/c3.png", "in-file.png"]);
  for (const it of scan.items) assert.ok(!it.path.startsWith(outside) && !fs.realpathSync(it.path).startsWith(outside));
  const reasons = new Map(scan.skipped.map((s) => [path.relative(db, s.path), s.reason] as const));
  for (const link of ["root", "out-dir", "out-file.png"]) assert.match(reasons.get(link) ?? "", /outside the folder.*--follow-links/, link);
  assert.match(reasons.get("sub") ?? "", /already visited/);
});

test("followLinks follows them (folders still walked once)", () => {
  fs.rmSync(path.join(db, "root")); // not the whole disk in a test
  try {
    const names = scanFolder(db, { followLinks: true }).items.map((i) => i.name).sort();
    assert.deepEqual(names, ["a1.png", "b2.png", "in-dir/c3.png", "in-file.png", "out-dir/x9.png", "out-dir/y8.png", "out-file.png"]);
  } finally {
    fs.symlinkSync("/", path.join(db, "root"));
  }
});

test("cbir index skips them with warning lines while it runs, and --follow-links follows them", () => {
  const base = ["--model", model, "--layer", "c2"];
  const r = cbirSync(["index", db, "--index", path.join(work, "idx"), ...base]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /^warning: .*out-dir: skipped symbolic link to .*outside the folder/m);
  assert.match(r.out, /4 added/);
  fs.rmSync(path.join(db, "root"));
  const f = cbirSync(["eval", db, "--follow-links", ...base, "-q"]);
  fs.symlinkSync("/", path.join(db, "root"));
  assert.equal(f.code, 0, f.err);
  assert.match(f.out, /settings: 7 images/);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { outputStem, scanFolder } from "../lib/prepare/scan";
import { labelFromName } from "../lib/prepare/labels";
import { areaResize, decodeImage } from "../lib/prepare/decode";

const SAMPLE = path.resolve(__dirname, "../data/sample");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "cbir-prep-"));

test("the bundled sample: 36 images, 6 labels x 6, named <category><n>.png", () => {
  const { items, skipped } = scanFolder(SAMPLE);
  assert.equal(items.length, 36);
  assert.deepEqual(skipped, []);
  const counts = new Map<string, number>();
  for (const it of items) counts.set(it.label!, (counts.get(it.label!) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), ["bird", "computer", "flower", "fruit", "music", "vehicle"]);
  assert.ok([...counts.values()].every((n) => n === 6));
  assert.ok(items.every((it) => /^[a-z]+[1-6]\.png$/.test(it.name)));
  assert.ok(fs.readFileSync(path.join(SAMPLE, "SOURCES.md"), "utf8").includes("public domain"));
});

test("labels from name prefixes as the originals name files", () => {
  assert.equal(labelFromName("burger4_resized.jpeg"), "burger");
  assert.equal(labelFromName("CT (3).jpg"), "CT");
  assert.equal(labelFromName("burger_test.jpeg"), "burger");
  assert.equal(labelFromName("fruit1.png"), "fruit");
  assert.equal(labelFromName("sub/dir/OPHTHAL (12).jpg"), "OPHTHAL");
});

test("labels from sub-folders and from labels.csv; output names never collide", async () => {
  const dir = tmp();
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } }).png().toBuffer();
  for (const f of ["cats/a1.png", "dogs/a1.png", "dogs/b.png"]) {
    fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), png);
  }
  const byFolder = scanFolder(dir);
  assert.deepEqual(byFolder.items.map((i) => [i.name, i.label]), [["cats/a1.png", "cats"], ["dogs/a1.png", "dogs"], ["dogs/b.png", "dogs"]]);
  assert.notEqual(outputStem("cats/a1.png"), outputStem("dogs/a1.png"));
  assert.equal(outputStem("cats/a1.png"), "cats__a1");
  fs.writeFileSync(path.join(dir, "labels.csv"), "path,label\ncats/a1.png,feline\ndogs/a1.png,canine\n");
  const byCsv = scanFolder(dir);
  assert.deepEqual(byCsv.items.map((i) => i.label), ["feline", "canine", undefined]);
});

test("missing, empty and image-less folders are errors naming the path and the fix", () => {
  assert.throws(() => scanFolder("/no/such/folder"), (e: Error & { code: string }) => e.code === "E_NO_FOLDER" && /\/no\/such\/folder/.test(e.message) && /Fix:/.test(e.message));
  const empty = tmp();
  assert.throws(() => scanFolder(empty), { code: "E_EMPTY_FOLDER" });
  fs.writeFileSync(path.join(empty, "notes.txt"), "x");
  assert.throws(() => scanFolder(empty), { code: "E_NO_IMAGES" });
});

test("decode: RGB at the requested size, alpha flattened onto white, every resize mode", async () => {
  const dir = tmp();
  const file = path.join(dir, "t.png");
  await sharp({ create: { width: 40, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toFile(file);
  for (const resize of ["nearest", "bilinear", "area"] as const) {
    const d = await decodeImage(file, { size: [10, 12], resize });
    assert.equal(d.data.length, 10 * 12 * 3);
    assert.ok(d.data.every((v) => v === 255), `${resize}: transparent becomes white`);
  }
  const bad = path.join(dir, "bad.jpg");
  fs.writeFileSync(bad, "not an image");
  await assert.rejects(decodeImage(bad, { size: [8, 8] }), (e: Error & { code: string; file: string }) => e.code === "E_BAD_IMAGE" && e.file === bad);
});

test("area resize averages exactly the covered pixels", () => {
  // 4x2 image: left half black, right half white -> 2x1 gives one black and one white pixel
  const src = new Uint8Array([0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]);
  assert.deepEqual([...areaResize(src, 4, 2, 2, 1)], [0, 0, 0, 255, 255, 255]);
  // 3 -> 2 pixels: the middle pixel is split half and half
  const row = new Uint8Array([0, 0, 0, 90, 90, 90, 180, 180, 180]);
  assert.deepEqual([...areaResize(row, 3, 1, 2, 1)], [30, 30, 30, 150, 150, 150]);
});

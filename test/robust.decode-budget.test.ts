/**
 * Decode budgets (lib/prepare/budget.ts, lib/prepare/decode-child.ts): files that pass the header and pixel
 * checks but would cost minutes or gigabytes are stopped and skipped with their reason, quickly, and the
 * run goes on. Each hostile file is shown to be a valid image first (a small one of the same kind decodes),
 * so a refusal is the budget's doing, not a parse error.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { decodeImage, decodeThumbnail } from "../lib/prepare/decode";
import { admitImage, DEFAULT_DECODE_LIMITS, estimateCost, resolveDecodeLimits, setDecodeLimits } from "../lib/prepare/budget";
import { decodeChildrenStarted } from "../lib/prepare/decode-child";
import { describeSharpError } from "../lib/prepare/sharp-plan";
import { manyScanJpeg, inflatingSvgz } from "./fixtures/hostile-decodes";
import { SAMPLE_DIR, cbirSync, copySample, hasStackTrace, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-budget-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
const at = (n: string) => path.join(work, n);
const svgOf = (body: string, w = 64, h = 64) => `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${body}</svg>`;

/** The rejection of `p`, checked to be one E_BAD_IMAGE naming the file and matching `reason`. */
async function refused(p: Promise<unknown>, file: string, reason: RegExp): Promise<Error> {
  let caught: (Error & { code?: string }) | undefined;
  await p.then(() => undefined, (e) => (caught = e));
  assert.ok(caught, `${path.basename(file)} should be refused`);
  assert.equal(caught.code, "E_BAD_IMAGE", caught.message);
  assert.ok(caught.message.includes(file), `names the file: ${caught.message}`);
  assert.match(caught.message, reason);
  return caught;
}

before(async () => {
  fs.writeFileSync(at("scans-10000.jpg"), manyScanJpeg(10_000));
  fs.writeFileSync(at("scans-64.jpg"), manyScanJpeg(64));
  fs.writeFileSync(at("few-scans-10000.jpg"), manyScanJpeg(10_000, 1)); // 190 scans, under the scan limit
  fs.writeFileSync(at("bomb.svgz"), await inflatingSvgz(250_000_000));
  fs.writeFileSync(at("small.svgz"), await inflatingSvgz(10));
  fs.writeFileSync(at("groups.svg"), svgOf('<rect width="64" height="64" fill="#c33"/>' + "<g/>".repeat(300_000)));
  fs.writeFileSync(at("long-text.svg"), svgOf(`<text y="20">${"ab ".repeat(15_000)}</text>`));
  fs.writeFileSync(at("big-canvas.svg"), svgOf('<rect width="9000" height="9000" fill="#36c"/>', 9000, 9000));
  fs.writeFileSync(at("plain.svg"), svgOf('<rect width="64" height="64" fill="#fc0"/>'));
});

test("the generated JPEG is valid: 2,647 progressive scans, and the 64 px one decodes to its flat grey", async () => {
  const big = fs.readFileSync(at("scans-10000.jpg"));
  assert.ok(big.length < 1.2e6, `about 1 MB on disk (${big.length} bytes)`);
  const meta = await sharp(big).metadata();
  assert.deepEqual([meta.width, meta.height, meta.isProgressive], [10_000, 10_000, true]);
  assert.deepEqual({ ...estimateCost(big), memoryBytes: undefined }, { format: "jpeg", width: 10_000, height: 10_000, scans: 2647, memoryBytes: undefined });
  // the decoder accepts every scan of the small one (the budget raised): the stream is well formed
  const small = await decodeImage(at("scans-64.jpg"), { size: [8, 8], limits: { maxJpegScans: 5000 } });
  assert.ok(small.data.every((v) => Math.abs(v - 128) <= 1), "DC 0 with unit quantisation is mid-grey");
});

test("a progressive JPEG with thousands of scans is refused from its markers, before any decoding", async () => {
  const file = at("scans-10000.jpg");
  const rss0 = process.memoryUsage().rss;
  const e = await refused(decodeImage(file, { size: [224, 224] }), file, /progressive JPEG with 2647 scans \(limit 200/);
  assert.match(e.message, /--max-jpeg-scans/, "names the option that raises it");
  await refused(decodeThumbnail(file, 100), file, /2647 scans/);
  // decoding it takes 88 s and 680 MB here; refused from the markers, no coefficient memory was taken
  assert.ok(process.memoryUsage().rss - rss0 < 200 * 1024 * 1024, "no decode started");
});

test("a progressive JPEG whose coefficients would not fit the memory budget is refused; raising it is the fix", () => {
  const file = at("few-scans-10000.jpg");
  const bytes = fs.readFileSync(file);
  const cost = estimateCost(bytes);
  assert.equal(cost.scans, 190);
  // 3 components x 1250 x 1250 blocks x 64 coefficients x 2 bytes, plus the 300 MB RGB output
  assert.equal(cost.memoryBytes, 3 * 1250 * 1250 * 128 + 10_000 * 10_000 * 3);
  assert.throws(() => admitImage(file, bytes), (e: Error) => /decoding would need about 859 MB \(limit 512 MB\)/.test(e.message) && /--max-decode-mb/.test(e.message));
  assert.doesNotThrow(() => admitImage(file, bytes, resolveDecodeLimits({ maxMemoryBytes: 2 ** 30 }, DEFAULT_DECODE_LIMITS)));
  // a baseline JPEG of the same size streams: only its output is counted
  const baseline = estimateCost(Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0x27, 0x10, 0x27, 0x10, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9]));
  assert.deepEqual([baseline.scans, baseline.memoryBytes], [1, 10_000 * 10_000 * 3]);
});

test("PNG: a sequential file streams (its 8-bit output counted), an interlaced one is held whole at its depth", () => {
  const ihdr = (w: number, h: number, depth: number, colourType: number, interlace: number) => {
    const b = Buffer.alloc(33);
    b.writeUInt32BE(0x89504e47, 0);
    b.writeUInt32BE(0x0d0a1a0a, 4);
    b.writeUInt32BE(13, 8);
    b.write("IHDR", 12, "latin1");
    b.writeUInt32BE(w, 16);
    b.writeUInt32BE(h, 20);
    b[24] = depth;
    b[25] = colourType;
    b[28] = interlace;
    return b;
  };
  const px = 9000 * 9000;
  assert.equal(estimateCost(ihdr(9000, 9000, 16, 6, 0)).memoryBytes, px * 4);
  assert.equal(estimateCost(ihdr(9000, 9000, 16, 6, 1)).memoryBytes, px * 4 * 2 + px * 4);
  assert.throws(() => admitImage("deep.png", ihdr(9000, 9000, 16, 6, 1)), /about 927 MB \(limit 512 MB\)/);
  assert.doesNotThrow(() => admitImage("deep.png", ihdr(9000, 9000, 16, 6, 0)));
});

test("a 1 MB .svgz that inflates to 1 GB is refused after inflating at most the SVG limit; a small one decodes", async () => {
  const file = at("bomb.svgz");
  assert.ok(fs.statSync(file).size < 1.2e6);
  const rss0 = process.memoryUsage().rss;
  const e = await refused(decodeImage(file, { size: [32, 32] }), file, /inflates past 32 MB \(possible decompression bomb\)/);
  assert.match(e.message, /--max-svg-mb/);
  assert.ok(process.memoryUsage().rss - rss0 < 300 * 1024 * 1024, "the inflated gigabyte was never held");
  const ok = await decodeThumbnail(at("small.svgz"), 16);
  assert.deepEqual([ok.width, ok.height], [16, 16]);
  assert.deepEqual([...ok.data.subarray(0, 3)], [204, 51, 51], "gzip undone, then rendered (#c33)");
});

test("an SVG with more elements than librsvg can hold in the budget is refused before rendering", async () => {
  const file = at("groups.svg");
  const started = decodeChildrenStarted();
  await refused(decodeImage(file, { size: [32, 32] }), file, /decoding would need about \d+ MB \(limit 512 MB\)/);
  assert.equal(decodeChildrenStarted(), started, "refused from the text: no renderer was started");
});

test("SVGs render in a child process that is killed past the time budget; the next SVG renders in a fresh one", async () => {
  const plain = await decodeThumbnail(at("plain.svg"), 10);
  assert.deepEqual([...plain.data.subarray(0, 3)], [255, 204, 0], "rendered in the child, same pixels as sharp in-process");
  const before = decodeChildrenStarted();
  assert.ok(before >= 1);
  const file = at("long-text.svg");
  const e = await refused(decodeImage(file, { size: [32, 32], limits: { timeoutSeconds: 1 } }), file, /rendering took longer than 1 s/);
  assert.match(e.message, /--decode-timeout/);
  const again = await decodeThumbnail(at("plain.svg"), 10);
  assert.deepEqual([...again.data.subarray(0, 3)], [255, 204, 0]);
  assert.equal(decodeChildrenStarted(), before + 1, "the killed child was replaced by one new child");
});

test("an SVG whose rendering grows past the memory budget is killed and skipped with that reason", async () => {
  const file = at("big-canvas.svg");
  // full size (area resize reads the whole raster): 9000 x 9000 RGBA is 324 MB, over a 64 MB budget
  await refused(decodeImage(file, { size: [32, 32], resize: "area", limits: { maxMemoryBytes: 64 * 1024 * 1024 } }), file, /rendering needed more than 64 MB/);
  // at network size librsvg renders at the reduced scale, well inside the same budget
  const small = await decodeImage(file, { size: [32, 32], limits: { maxMemoryBytes: 64 * 1024 * 1024 } });
  assert.deepEqual([...small.data.subarray(0, 3)], [51, 102, 204]);
});

test("sharp's timeout message becomes the time-limit reason; limits are validated with the flag's name", () => {
  assert.equal(describeSharpError(new Error("timeout: 57% complete")), "decoding took longer than the time limit");
  assert.throws(() => resolveDecodeLimits({ maxJpegScans: 0 }), /max-jpeg-scans/);
  assert.throws(() => resolveDecodeLimits({ timeoutSeconds: Number.NaN }), /decode-timeout/);
  assert.throws(() => resolveDecodeLimits({ maxPixels: 1.5 }), /max-pixels/);
  const previous = setDecodeLimits({ maxJpegScans: 3000, maxMemoryBytes: 2 ** 30 });
  try {
    assert.doesNotThrow(() => admitImage(at("scans-10000.jpg"), fs.readFileSync(at("scans-10000.jpg"))), "the process-wide limit is used");
  } finally {
    setDecodeLimits(previous);
  }
  assert.throws(() => admitImage(at("scans-10000.jpg"), fs.readFileSync(at("scans-10000.jpg"))), /2647 scans/);
});

test("cbir eval on good images plus the hostile ones: exit 0, each hostile file one warning with its reason and fix", { skip: fs.existsSync(SAMPLE_DIR) ? false : "data/sample missing" }, () => {
  const dir = at("mixed");
  fs.mkdirSync(path.join(dir, "a"), { recursive: true });
  copySample(SAMPLE_DIR, path.join(dir, "a"), ["bird1.png", "bird2.png"]);
  fs.mkdirSync(path.join(dir, "b"), { recursive: true });
  copySample(SAMPLE_DIR, path.join(dir, "b"), ["fruit1.png", "fruit2.png"]);
  fs.copyFileSync(at("scans-10000.jpg"), path.join(dir, "a", "scans.jpg"));
  fs.copyFileSync(at("bomb.svgz"), path.join(dir, "b", "bomb.svg"));
  const model = writeTinyModel(at("model"));
  const r = cbirSync(["eval", dir, "--model", model, "--layer", "c2", "-k", "1", "--out", at("out")]);
  assert.equal(r.code, 0, r.err);
  assert.ok(!hasStackTrace(r.err), r.err);
  assert.ok(r.err.includes(`warning: skipped ${path.join(dir, "a", "scans.jpg")}: progressive JPEG with 2647 scans`), r.err);
  assert.ok(r.err.includes(`warning: skipped ${path.join(dir, "b", "bomb.svg")}: compressed file that inflates past 32 MB`), r.err);
  assert.match(r.out + r.err, /P@1/);
  const bad = cbirSync(["eval", dir, "--model", model, "--layer", "c2", "--decode-timeout", "soon"]);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /^error: .*decode-timeout/m);
});

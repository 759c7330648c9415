/**
 * Every format a real folder holds: BMP (every variant Windows and OS/2 writers use), the Netpbm family
 * (PBM/PGM/PPM/PAM, plain and raw, any maxval) and HEIC/HEIF decode to their known pixels through the
 * same entry as JPEG and PNG; truncated, corrupt and over-large ones are refused with a reason; the
 * extension list holds only what decodes; and a folder of PGM faces indexes and evaluates like any other.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { decodeImage, decodeThumbnail } from "../lib/prepare/decode";
import { decodeBmp } from "../lib/prepare/formats/bmp";
import { decodeNetpbm } from "../lib/prepare/formats/netpbm";
import { IMAGE_EXTENSIONS, scanFolder } from "../lib/prepare/scan";
import { avifBytes, bmpCases, exactAfterFlatten, pgmFaces, pnmCases, refusedCases, type FormatCase } from "./fixtures/formats";
import { PROJECT_ROOT, cbirSync, hasStackTrace, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-formats-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
/** 64 x 48, four flat quadrants; made with heif-enc, see quadrants.heic.md. */
const HEIC = path.join(__dirname, "fixtures", "quadrants.heic");
let model = "";

before(() => {
  model = writeTinyModel(path.join(work, "model"));
});

function write(name: string, bytes: Buffer): string {
  const file = path.join(work, "files", name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

const px = (d: { data: Uint8Array; width: number }, x: number, y: number) => [...d.data.subarray((y * d.width + x) * 3, (y * d.width + x) * 3 + 3)];

/** Decoded through decodeThumbnail (own size) and decodeImage (asked for its own size): the known pixels. */
async function assertDecodes(c: FormatCase): Promise<void> {
  const file = write(c.name, c.bytes);
  const thumb = await decodeThumbnail(file, 100);
  assert.deepEqual([thumb.width, thumb.height], [c.width, c.height], `${c.name}: size`);
  const full = await decodeImage(file, { size: [c.height, c.width], resize: "nearest" });
  for (let y = 0; y < c.height; y++)
    for (let x = 0; x < c.width; x++) {
      const want = [...c.rgb.subarray((y * c.width + x) * 3, (y * c.width + x) * 3 + 3)];
      if (exactAfterFlatten(c, x, y)) {
        assert.deepEqual(px(thumb, x, y), want, `${c.name} (${x}, ${y})`);
        assert.deepEqual(px(full, x, y), want, `${c.name} (${x}, ${y}) through decodeImage`);
      } else {
        // half-transparent: the colour flattened onto white, to sharp's rounding
        const a = c.raw!.data[(y * c.width + x) * 4 + 3] / 255;
        const flat = [0, 1, 2].map((k) => c.raw!.data[(y * c.width + x) * 4 + k] * a + 255 * (1 - a));
        assert.ok(px(thumb, x, y).every((v, k) => Math.abs(v - flat[k]) <= 1), `${c.name} (${x}, ${y}): ${px(thumb, x, y)} vs ${flat}`);
      }
    }
}

test("every BMP variant decodes to its known pixels", async () => {
  const cases = bmpCases();
  assert.ok(cases.length >= 19);
  for (const c of cases) await assertDecodes(c);
  // alpha is kept (then flattened), including the half-transparent values
  const v5 = cases.find((c) => c.name === "rgba32-v5.bmp")!;
  const raw = decodeBmp(v5.bytes, 1e6);
  assert.equal(raw.channels, 4);
  assert.deepEqual([...raw.data], [...v5.raw!.data]);
  // an alpha mask over all-zero alpha is a writer that filled the mask and not the channel: opaque
  const zeroAlpha = Buffer.from(v5.bytes);
  for (let p = zeroAlpha.readUInt32LE(10) + 3; p < zeroAlpha.length; p += 4) zeroAlpha[p] = 0;
  const opaque = decodeBmp(zeroAlpha, 1e6);
  assert.equal(opaque.channels, 3);
  for (let i = 0; i < v5.width * v5.height; i++) assert.deepEqual([...opaque.data.subarray(3 * i, 3 * i + 3)], [...v5.raw!.data.subarray(4 * i, 4 * i + 3)]);
  // 32-bit BI_RGB: the unused byte (0 and 0x55 here) is not alpha
  assert.equal(decodeBmp(cases.find((c) => c.name === "rgb32.bmp")!.bytes, 1e6).channels, 3);
});

test("every Netpbm variant decodes to its known pixels, grey as one channel", async () => {
  const cases = pnmCases();
  for (const c of cases) await assertDecodes(c);
  for (const c of cases.filter((c) => c.raw)) {
    const raw = decodeNetpbm(c.bytes, 1e6);
    assert.equal(raw.channels, c.raw!.channels, c.name);
    assert.deepEqual([...raw.data], [...c.raw!.data], c.name);
  }
  assert.equal(decodeNetpbm(cases.find((c) => c.name === "raw16-65535.pgm")!.bytes, 1e6).channels, 1);
});

test("the format is told from the bytes: a BMP named .png, a PGM named .jpg, a PNG named .bmp", async () => {
  const bmp = bmpCases().find((c) => c.name === "rgb24.bmp")!;
  const pgm = pnmCases().find((c) => c.name === "raw8.pgm")!;
  const pngBytes = await sharp(Buffer.from(bmp.rgb), { raw: { width: bmp.width, height: bmp.height, channels: 3 } }).png().toBuffer();
  for (const [name, bytes, c] of [["bmp-inside.png", bmp.bytes, bmp], ["pgm-inside.jpg", pgm.bytes, pgm], ["png-inside.bmp", pngBytes, bmp]] as const) {
    const d = await decodeThumbnail(write(name, bytes), 100);
    assert.deepEqual([...d.data], [...c.rgb], name);
  }
});

test("truncated, corrupt and over-large BMP and Netpbm files are refused with their reason", async () => {
  for (const c of refusedCases()) {
    const file = write(c.name, c.bytes);
    for (const run of [() => decodeThumbnail(file, 64), () => decodeImage(file, { size: [8, 8] }), () => decodeImage(file, { size: [8, 8], resize: "area" })])
      await assert.rejects(run(), (e: Error & { code?: string; file?: string }) => {
        assert.equal(e.code, "E_BAD_IMAGE", `${c.name}: ${e.message}`);
        assert.equal(e.file, file);
        assert.match(e.message, c.reason, c.name);
        assert.ok(e.message.startsWith(`${file}: `), "names the file once, first");
        return true;
      });
  }
  // the caller's pixel limit holds for these readers as for sharp's formats
  const small = write("limit.pgm", pnmCases().find((c) => c.name === "raw8.pgm")!.bytes); // 7 x 4
  await assert.rejects(decodeThumbnail(small, 64, 27), /7 x 4 pixels: pixel limit exceeded/);
  assert.equal((await decodeThumbnail(small, 64, 28)).width, 7);
});

test("HEIC (HEVC) decodes through libheif-js: size and the four quadrant colours", async () => {
  const meta = await sharp(HEIC).metadata();
  assert.equal(meta.compression, "hevc", "the fixture is HEVC-coded, what phones write");
  assert.ok(fs.statSync(HEIC).size < 50_000);
  const d = await decodeThumbnail(HEIC, 100);
  assert.deepEqual([d.width, d.height], [64, 48]);
  const near = (got: number[], want: number[]) => assert.ok(got.every((v, i) => Math.abs(v - want[i]) <= 12), `${got} vs ${want}`);
  near(px(d, 10, 10), [220, 30, 30]);
  near(px(d, 54, 10), [30, 180, 40]);
  near(px(d, 10, 38), [40, 60, 210]);
  near(px(d, 54, 38), [245, 245, 245]);
  // the network-size path and a .heif name decode it too
  const heif = write("copy.heif", fs.readFileSync(HEIC));
  near(px(await decodeImage(heif, { size: [24, 32] }), 5, 5), [220, 30, 30]);
});

test("HEIC over the pixel limit (from its header) or truncated is refused with a reason", async () => {
  await assert.rejects(decodeThumbnail(HEIC, 64, 1000), /64 x 48 pixels: pixel limit exceeded; possible decompression bomb/);
  // every ispe box claiming 100000 x 100000: refused before libheif decodes anything
  const huge = Buffer.from(fs.readFileSync(HEIC));
  let boxes = 0;
  for (let p = huge.indexOf("ispe"); p >= 0; p = huge.indexOf("ispe", p + 4), boxes++) {
    huge.writeUInt32BE(100_000, p + 8);
    huge.writeUInt32BE(100_000, p + 12);
  }
  assert.ok(boxes >= 1);
  await assert.rejects(decodeThumbnail(write("huge.heic", huge), 64), /100000 x 100000 pixels: pixel limit exceeded/);
  const bytes = fs.readFileSync(HEIC);
  for (const cut of [300, bytes.length - 100]) {
    const file = write(`cut${cut}.heic`, bytes.subarray(0, cut));
    await assert.rejects(decodeThumbnail(file, 64), (e: Error & { code?: string }) => e.code === "E_BAD_IMAGE" && /corrupt or truncated HEIF/.test(e.message));
  }
});

test("AVIF is decoded by sharp itself, under either extension", async () => {
  const avif = await avifBytes();
  for (const name of ["pic.avif", "pic-avif.heic"]) {
    const d = await decodeThumbnail(write(name, avif), 100);
    assert.deepEqual([d.width, d.height], [32, 16]);
    assert.ok(px(d, 8, 8).every((v, i) => Math.abs(v - [200, 100, 50][i]) <= 10), `${name}: ${px(d, 8, 8)}`);
  }
});

test("IMAGE_EXTENSIONS lists exactly the extensions that decode, and the README lists the same", async () => {
  const rgb = Buffer.alloc(8 * 8 * 3, 120);
  const img = () => sharp(rgb, { raw: { width: 8, height: 8, channels: 3 } });
  const sample: Record<string, () => Promise<Buffer> | Buffer> = {
    ".jpg": () => img().jpeg().toBuffer(),
    ".jpeg": () => img().jpeg().toBuffer(),
    ".png": () => img().png().toBuffer(),
    ".webp": () => img().webp().toBuffer(),
    ".gif": () => img().gif().toBuffer(),
    ".tif": () => img().tiff().toBuffer(),
    ".tiff": () => img().tiff().toBuffer(),
    ".avif": () => avifBytes(),
    ".svg": () => Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#777"/></svg>`),
    ".bmp": () => bmpCases()[0].bytes,
    ".pbm": () => pnmCases().find((c) => c.name === "raw.pbm")!.bytes,
    ".pgm": () => pnmCases().find((c) => c.name === "raw8.pgm")!.bytes,
    ".ppm": () => pnmCases().find((c) => c.name === "raw8.ppm")!.bytes,
    ".pnm": () => pnmCases().find((c) => c.name === "plain.ppm")!.bytes,
    ".pam": () => pnmCases().find((c) => c.name === "rgba.pam")!.bytes,
    ".heic": () => fs.readFileSync(HEIC),
    ".heif": () => fs.readFileSync(HEIC),
  };
  assert.deepEqual([...IMAGE_EXTENSIONS].sort(), Object.keys(sample).sort(), "a sample for every listed extension, and no more");
  const dir = path.join(work, "every-extension");
  fs.mkdirSync(dir);
  for (const ext of IMAGE_EXTENSIONS) fs.writeFileSync(path.join(dir, `a${ext}`), await sample[ext]());
  const scan = scanFolder(dir);
  assert.equal(scan.items.length, IMAGE_EXTENSIONS.length);
  for (const it of scan.items) assert.ok((await decodeThumbnail(it.path, 16)).width > 0, it.name);

  const readme = fs.readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
  const listed = /files without an image\s+extension \(([^)]*)\)\s+are\s+ignored/.exec(readme);
  assert.ok(listed, "the README states the extension list");
  assert.deepEqual(listed[1].trim().split(/\s+/).sort(), [...IMAGE_EXTENSIONS].sort());
});

test("a folder of PGM faces in class sub-folders: cbir eval and cbir index with zero skips", () => {
  const db = path.join(work, "faces");
  const faces = pgmFaces(3, 4);
  for (const f of faces) {
    fs.mkdirSync(path.join(db, f.label), { recursive: true });
    fs.writeFileSync(path.join(db, f.label, f.name), f.bytes);
  }
  const settings = ["--model", model, "--layer", "c2"];
  const ev = cbirSync(["eval", db, ...settings, "--out", path.join(work, "out-eval")]);
  assert.equal(ev.code, 0, ev.err);
  assert.ok(!hasStackTrace(ev.err), ev.err);
  assert.doesNotMatch(ev.err, /skipped|warning:/, "nothing skipped");
  assert.match(ev.out, /settings: 12 images/);
  const overall = /P@1 ([\d.]+)\s+P@5 ([\d.]+)\s+P@10 ([\d.]+)\s+mAP ([\d.]+)\s+\(12 queries/.exec(ev.out);
  assert.ok(overall, ev.out);
  for (const label of ["s1", "s2", "s3"]) assert.match(ev.out, new RegExp(`^\\s+${label}\\s+4\\s`, "m"), `per-class line for ${label}`);
  // distinct patterns under noise: the pipeline sees the classes (chance would be 3/11 for P@1)
  assert.ok(Number(overall[1]) > 0.5, `P@1 ${overall[1]}`);

  const ix = cbirSync(["index", db, "--index", path.join(work, "faces-index"), ...settings]);
  assert.equal(ix.code, 0, ix.err);
  assert.match(ix.out, /12 added, 0 changed, 0 removed, 0 renamed, 0 unchanged, 0 skipped/);

  const demo = cbirSync(["demo", db, ...settings, "--no-tsne", "-q", "--out", path.join(work, "out-demo")]);
  assert.equal(demo.code, 0, demo.err);
  const report = JSON.parse(fs.readFileSync(path.join(work, "out-demo", "report.json"), "utf8"));
  assert.equal(report.images, 12);
  assert.deepEqual(report.skipped, []);
  assert.equal(fs.readdirSync(path.join(work, "out-demo", "rec")).filter((n) => n.endsWith(".png")).length, 12, "a recommendation figure per face, thumbnails drawn from PGM");
});

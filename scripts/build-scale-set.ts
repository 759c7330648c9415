/**
 * `node --import tsx scripts/build-scale-set.ts [--count 20000] [--out data/scale20k] [--size 64]`: a large
 * labelled folder for memory and speed checks at scale (issue 18, section 5), made from Debian's
 * openclipart-png. Each unique clip-art image (label = its two-level category, categories with fewer
 * than 30 images dropped, as in data:openclipart) is written several times as a small JPEG under a
 * different crop and colour shift, round-robin over the images, until `count` files exist. Variants of one
 * image share its label, so P@k and mAP stay meaningful. Deterministic; the output folder is git-ignored
 * and replaced on every run.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { categories, contentHash, regularPngs, requireOpenclipart } from "./openclipart";

const MIN_PER_CLASS = 30;

/** Crop window (fractions of the side: left, top, width) and colour shift (hue degrees, brightness, saturation). */
const VARIANTS = [
  { crop: [0, 0, 1], hue: 0, brightness: 1, saturation: 1 },
  { crop: [0.1, 0.1, 0.8], hue: 0, brightness: 1, saturation: 1 },
  { crop: [0, 0, 0.75], hue: 30, brightness: 1, saturation: 1 },
  { crop: [0.25, 0.25, 0.75], hue: -30, brightness: 0.9, saturation: 1.2 },
  { crop: [0.05, 0.2, 0.7], hue: 0, brightness: 1.15, saturation: 0.7 },
  { crop: [0.2, 0.05, 0.7], hue: 60, brightness: 1, saturation: 1 },
  { crop: [0, 0.25, 0.75], hue: 0, brightness: 0.8, saturation: 1.3 },
  { crop: [0.25, 0, 0.75], hue: -60, brightness: 1.1, saturation: 1 },
];

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function variantJpeg(src: string, v: (typeof VARIANTS)[number], size: number): Promise<Buffer> {
  const base = sharp(src, { limitInputPixels: 1e8 }).flatten({ background: { r: 255, g: 255, b: 255 } }).resize(4 * size, 4 * size, { fit: "fill" });
  const [left, top, width] = v.crop.map((f) => Math.round(f * 4 * size));
  return sharp(await base.raw().toBuffer(), { raw: { width: 4 * size, height: 4 * size, channels: 3 } })
    .extract({ left, top, width, height: width })
    .resize(size, size)
    .modulate({ hue: v.hue, brightness: v.brightness, saturation: v.saturation })
    .jpeg({ quality: 85 })
    .toBuffer();
}

async function main() {
  const count = Number(argValue("count", "20000"));
  const size = Number(argValue("size", "64"));
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer (got ${argValue("count", "")})`);
  if (!Number.isInteger(size) || size < 16 || size > 512) throw new Error(`--size must be an integer from 16 to 512 (got ${argValue("size", "")})`);
  const out = path.resolve(argValue("out", path.join(__dirname, "../data/scale20k")));
  const root = requireOpenclipart();
  const seen = new Set<string>();
  const sources: { src: string; label: string; stem: string }[] = [];
  for (const cat of categories(root)) {
    const files = regularPngs(path.join(root, cat)).filter((f) => {
      const h = contentHash(f);
      if (seen.has(h)) return false;
      seen.add(h);
      return true;
    });
    if (files.length < MIN_PER_CLASS) continue;
    const label = cat.replace("/", "-");
    for (const f of files) sources.push({ src: f, label, stem: path.basename(f, path.extname(f)) });
  }
  if (sources.length === 0) throw new Error(`no category of ${root} holds ${MIN_PER_CLASS} images`);
  fs.rmSync(out, { recursive: true, force: true });
  // round-robin over the images, variant after variant; a source sharp cannot read is dropped and the
  // next one fills its place, so the folder always holds `count` files
  const bad = new Set<number>();
  const used = new Set<string>();
  let cursor = 0;
  let written = 0;
  let claimed = 0;
  const nextJob = () => {
    for (;;) {
      if (bad.size === sources.length) throw new Error("no source image could be read");
      const at = cursor++;
      const s = at % sources.length;
      if (bad.has(s)) continue;
      const v = Math.floor(at / sources.length);
      let name = `${sources[s].label}/${sources[s].stem}_v${v}.jpg`;
      for (let i = 2; used.has(name); i++) name = `${sources[s].label}/${sources[s].stem}_${i}_v${v}.jpg`;
      used.add(name);
      return { s, file: path.join(out, name), v: v % VARIANTS.length };
    }
  };
  const worker = async () => {
    while (claimed < count) {
      claimed++;
      const j = nextJob();
      try {
        const jpeg = await variantJpeg(sources[j.s].src, VARIANTS[j.v], size);
        fs.mkdirSync(path.dirname(j.file), { recursive: true });
        fs.writeFileSync(j.file, jpeg);
        written++;
      } catch {
        bad.add(j.s);
        claimed--;
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const failed = bad.size;
  process.stdout.write(`${sources.length} unique images in ${new Set(sources.map((s) => s.label)).size} classes; wrote ${written} ${size}x${size} JPEGs (${failed} unreadable sources dropped) to ${out}\n`);
}

main().catch((e) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});

/**
 * Rebuilds data/sample/: 36 public-domain images from Debian's openclipart-png, 6 categories x 6, named
 * <category><n>.png. In each category: the first six regular files by sorted name that are at least 64x64
 * and not byte-identical to an image already taken, flattened onto white. Writes SOURCES.md.
 * The result is committed; run again only to change the selection.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { categories, contentHash, regularPngs, requireOpenclipart } from "./openclipart";

const PICKS: [category: string, prefix: string][] = [
  ["food/fruit", "fruit"],
  ["animals/birds", "bird"],
  ["transportation/vehicles", "vehicle"],
  ["recreation/music", "music"],
  ["plants/flowers", "flower"],
  ["computer/hardware", "computer"],
];
const PER_CATEGORY = 6;
const MIN_SIDE = 64;

async function main() {
  const root = requireOpenclipart();
  const known = new Set(categories(root));
  const out = path.resolve(__dirname, "../data/sample");
  fs.mkdirSync(out, { recursive: true });
  for (const f of fs.readdirSync(out)) if (f.endsWith(".png")) fs.unlinkSync(path.join(out, f));
  const taken = new Set<string>();
  const rows: string[] = [];
  for (const [category, prefix] of PICKS) {
    if (!known.has(category)) throw new Error(`category ${category} not in ${root}`);
    let n = 0;
    for (const file of regularPngs(path.join(root, category))) {
      if (n === PER_CATEGORY) break;
      const hash = contentHash(file);
      if (taken.has(hash)) continue;
      const meta = await sharp(file).metadata();
      if ((meta.width ?? 0) < MIN_SIDE || (meta.height ?? 0) < MIN_SIDE) continue;
      taken.add(hash);
      n++;
      const name = `${prefix}${n}.png`;
      await sharp(file).flatten({ background: "#ffffff" }).png({ compressionLevel: 9 }).toFile(path.join(out, name));
      rows.push(`| ${name} | ${category} | ${path.basename(file)} | ${meta.width}x${meta.height} |`);
    }
    if (n < PER_CATEGORY) throw new Error(`only ${n} usable images in ${category}`);
  }
  fs.writeFileSync(
    path.join(out, "SOURCES.md"),
    [
      "# Sources of the sample database",
      "",
      "36 images, 6 categories x 6, taken from Debian's `openclipart-png` package (version 1:0.18+dfsg),",
      "files under `/usr/share/openclipart/png/<category>/`. Open Clip Art Library images are dedicated to the",
      "public domain by their authors under the Creative Commons \"Copyright-Only Dedication or Public Domain",
      "Certification\" (see `/usr/share/doc/openclipart-png/copyright` on Debian), so they may be redistributed",
      "here. The authors are named in the package's per-image `.txt` notes.",
      "",
      "Selection rule (scripts/build-sample.ts, `npm run data:sample`): in each category, the first six regular",
      "files (not symbolic links) by sorted name that are at least 64x64 and not byte-identical to an image",
      "already taken; each was flattened onto white and written as PNG. The label of each file is its name",
      "prefix (`fruit`, `bird`, ...).",
      "",
      "| file | category | original file | original size |",
      "|---|---|---|---|",
      ...rows,
      "",
    ].join("\n"),
  );
  process.stdout.write(`wrote ${rows.length} images to ${out}\n`);
}

main().catch((e) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});

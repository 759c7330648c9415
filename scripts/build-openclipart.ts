/**
 * `npm run data:openclipart`: a labelled benchmark set from Debian's openclipart-png, written to the
 * git-ignored data/openclipart/<label>/<file>.png with labels.csv. Label = the two-level category
 * (`food-fruit`; one level for images filed directly under a top category). Each image is kept once
 * (by content hash), under its first category in sorted path order; categories with fewer than 30 unique
 * images are dropped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { contentHash, requireOpenclipart } from "./openclipart";

const MIN_PER_CLASS = 30;

function listPngs(dir: string, rel = ""): string[] {
  const out: string[] = [];
  const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    let st: fs.Stats;
    try {
      st = fs.statSync(path.join(dir, r));
    } catch {
      continue; // dangling link
    }
    if (st.isDirectory() && !e.isSymbolicLink()) out.push(...listPngs(dir, r));
    else if (st.isFile() && e.name.toLowerCase().endsWith(".png")) out.push(r);
  }
  return out;
}

function main() {
  const root = requireOpenclipart();
  const out = path.resolve(__dirname, "../data/openclipart");
  const seen = new Set<string>();
  const byLabel = new Map<string, { src: string; file: string }[]>();
  const all = listPngs(root);
  for (const rel of all) {
    const hash = contentHash(path.join(root, rel));
    if (seen.has(hash)) continue;
    seen.add(hash);
    const parts = rel.split("/");
    const label = parts.slice(0, Math.min(2, parts.length - 1)).join("-");
    const list = byLabel.get(label) ?? [];
    list.push({ src: path.join(root, rel), file: parts[parts.length - 1] });
    byLabel.set(label, list);
  }
  fs.rmSync(out, { recursive: true, force: true });
  const rows = ["path,label"];
  let kept = 0;
  for (const label of [...byLabel.keys()].sort()) {
    const list = byLabel.get(label)!;
    if (list.length < MIN_PER_CLASS) continue;
    fs.mkdirSync(path.join(out, label), { recursive: true });
    const used = new Set<string>();
    for (const { src, file } of list) {
      let name = file;
      for (let i = 2; used.has(name); i++) name = file.replace(/\.png$/i, `_${i}.png`);
      used.add(name);
      fs.copyFileSync(src, path.join(out, label, name));
      rows.push(`${label}/${name},${label}`);
      kept++;
    }
  }
  fs.writeFileSync(path.join(out, "labels.csv"), rows.join("\n") + "\n");
  const classes = rows.length > 1 ? new Set(rows.slice(1).map((r) => r.split(",")[1])).size : 0;
  process.stdout.write(`${all.length} PNG paths, ${seen.size} unique images; kept ${kept} images in ${classes} classes (>= ${MIN_PER_CLASS} each) in ${out}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
}

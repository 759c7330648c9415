/**
 * `npm run bench [-- <section> ...]`: speed and quality figures, with ratios against peers (PyTorch,
 * scikit-learn, scikit-image from Debian) measured in the same run. Prints a table per section and writes
 * bench/results.json: {machine: {cpus, loadavg_start, loadavg_end, node, date}, sections: {name: {...}}}.
 * Sections live in bench/<name>.ts and export one async function returning their figures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomicSync } from "../lib/fsutil";

type Figures = Record<string, unknown>;
interface Section {
  name: string;
  file: string;
  fn: string;
  about: string;
  /** Run only when named (`npm run bench -- scale`): too long for the default run. */
  onlyWhenNamed?: boolean;
}

export const SECTIONS: Section[] = [
  { name: "pipeline", file: "./pipeline", fn: "runPipelineBench", about: "main job on data/sample: images/s, P@5, mAP" },
  { name: "extract", file: "./extract", fn: "runExtractBench", about: "feature extraction images/s: tfjs-wasm, ONNX Runtime, PyTorch" },
  { name: "quality", file: "./quality", fn: "runQualityBench", about: "retrieval quality: dataset x backbone x layer x pooling x metric" },
  { name: "search", file: "./search", fn: "runSearchBench", about: "exact and HNSW top-k speed" },
  { name: "tsne", file: "./tsne", fn: "runTsneBench", about: "t-SNE wall time and KL vs scikit-learn" },
  { name: "learn", file: "./learn", fn: "runLearnBench", about: "triplet head and learned similarity: mAP before/after" },
  { name: "scale", file: "./scale", fn: "runScaleBench", about: "all-pairs ranking + evaluation at 5k, 20k, 100k vectors: peak RSS, seconds", onlyWhenNamed: true },
  { name: "lance", file: "./lance", fn: "runLanceBench", about: "LanceDB table + vector index vs usearch HNSW on 10^6 x 768 seeded vectors (CBIR_LANCE_N for fewer), then on the real features of openclipart + food7", onlyWhenNamed: true },
];

function printTable(name: string, figures: Figures): void {
  process.stdout.write(`\n== ${name} ==\n`);
  const flat: [string, string][] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else flat.push([prefix, typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : Array.isArray(v) ? JSON.stringify(v) : String(v)]);
  };
  walk("", figures);
  const w = Math.max(...flat.map(([k]) => k.length), 10);
  for (const [k, v] of flat) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}

async function main() {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const unknown = wanted.filter((w) => !SECTIONS.some((s) => s.name === w));
  if (unknown.length) {
    process.stderr.write(`error: unknown bench section(s) ${unknown.join(", ")}. Valid: ${SECTIONS.map((s) => s.name).join(", ")}\n`);
    process.exit(2);
  }
  const chosen = wanted.length ? SECTIONS.filter((s) => wanted.includes(s.name)) : SECTIONS.filter((s) => !s.onlyWhenNamed);
  const resultsFile = path.join(__dirname, "results.json");
  const machine = { cpus: os.cpus().length, loadavg_start: os.loadavg(), loadavg_end: [] as number[], node: process.version, date: new Date().toISOString() };
  // keep sections from earlier runs that this run does not repeat
  let previous: { sections?: Record<string, Figures> } = {};
  try {
    previous = JSON.parse(fs.readFileSync(resultsFile, "utf8"));
  } catch {
    /* first run */
  }
  const sections: Record<string, Figures> = { ...(previous.sections ?? {}) };
  let failed = 0;
  for (const s of chosen) {
    const file = path.join(__dirname, `${s.file}.ts`);
    if (!fs.existsSync(file)) {
      process.stdout.write(`\n== ${s.name} == not available yet (${path.relative(process.cwd(), file)} missing)\n`);
      continue;
    }
    const t0 = performance.now();
    try {
      const mod = require(s.file) as Record<string, () => Promise<Figures>>;
      const figures = await mod[s.fn]();
      figures.section_seconds = Math.round((performance.now() - t0) / 100) / 10;
      figures.loadavg_after = os.loadavg().map((x) => Math.round(x * 100) / 100);
      sections[s.name] = figures;
      printTable(s.name, figures);
    } catch (e) {
      failed++;
      process.stderr.write(`\n== ${s.name} == failed: ${(e as Error)?.stack ?? e}\n`);
      sections[s.name] = { error: String((e as Error)?.message ?? e) };
    }
  }
  machine.loadavg_end = os.loadavg();
  writeFileAtomicSync(resultsFile, JSON.stringify({ machine, sections }, null, 2) + "\n");
  process.stdout.write(`\nmachine: ${machine.cpus} cpus, load ${machine.loadavg_start.map((x) => x.toFixed(2)).join(" ")} -> ${machine.loadavg_end.map((x) => x.toFixed(2)).join(" ")}\nwrote ${path.relative(process.cwd(), resultsFile)}\n`);
  process.exit(failed ? 1 : 0);
}

if (require.main === module) main();

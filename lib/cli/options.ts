/**
 * Options shared by the sub-commands, parsed into a partial PipelineConfig: the features options (every
 * command that extracts), the search options (the commands that rank: demo, eval, query) and --out (the
 * commands that draw). Values are validated by resolveConfig, once, at the command's lib entry, so the CLI,
 * notebooks and tests reject the same things.
 */
import { type Command, Option } from "commander";
import { DEFAULT_CONFIG, PIPELINE_METRICS, type PipelineConfig } from "../config";
import { poolingNames } from "../extract/pooling/index";
import { RUNTIMES } from "../backbone/types";
import { backboneNamesHelp } from "../backbone/sources/index";
import { invalidOption } from "../errors";
import { DEFAULT_DECODE_LIMITS, resolveDecodeLimits, setDecodeLimits, type DecodeLimits } from "../prepare/budget";
import { ENCODINGS, bytesPerVector } from "../rank/encoding";

/** For the commands that walk a folder (demo, index, eval). */
export const FOLLOW_LINKS_FLAG = "--follow-links";
export const FOLLOW_LINKS_HELP = "also follow symbolic links that lead outside the folder (by default they are skipped with a warning)";

/** Every option of a command that extracts, ranks and draws (demo, eval, query). */
export function addPipelineOptions(cmd: Command): Command {
  return addOutOption(addSearchOptions(addFeatureOptions(cmd)));
}

/** How neighbours are scored and how many are kept. */
export function addSearchOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--metric <metric>", "similarity score").choices([...PIPELINE_METRICS]).default(DEFAULT_CONFIG.metric))
    .option("-k, --k <n>", "neighbours per query", String(DEFAULT_CONFIG.k))
    .option("--qe <n>", "query expansion: re-query with the top n hits weighted by similarity, database rows expanded the same way (0 = off)", String(DEFAULT_CONFIG.queryExpansion));
}

export function addOutOption(cmd: Command): Command {
  return cmd.option("--out <dir>", "output folder for figures and reports", DEFAULT_CONFIG.outDir);
}

/** What makes the vectors (every command that extracts, `cbir index` included), the decode budgets, --strict and --quiet. */
export function addFeatureOptions(cmd: Command): Command {
  return cmd
    .option("--model <name>", `backbone: ${backboneNamesHelp()}`, DEFAULT_CONFIG.model)
    .option("--layer <name>", "cut layer (default: the backbone's documented default; see `cbir layers <model>`)")
    .addOption(new Option("--pool <pooling>", "how a layer's output becomes one vector").choices(poolingNames()).default(DEFAULT_CONFIG.pooling))
    .option("--gem-p <p>", "GeM exponent with --pool gem (1 = average pooling; larger leans towards the maximum)", String(DEFAULT_CONFIG.gemP))
    .option("--hist-weight <w>", "weight of the colour histogram fused with the CNN vector (0 = off)", String(DEFAULT_CONFIG.histogramWeight))
    .option("--whiten <dims>", "PCA-whitening of the CNN vectors to this many dimensions, learned on the database (0 = off; default: 32 for the default model, else 0)")
    .option("--no-center", "do not centre vectors on the database mean")
    .addOption(new Option("--runtime <name>", "inference runtime").choices([...RUNTIMES]).default(DEFAULT_CONFIG.runtime))
    .option("--batch-size <n>", "images per inference batch (0 = automatic)", "0")
    .option("--offline", "never download: zoo models and Keras weights must already be cached (same as CBIR_OFFLINE=1)")
    .option("--max-pixels <n>", "decode budget: refuse images with more pixels than this", String(DEFAULT_DECODE_LIMITS.maxPixels))
    .option("--max-decode-mb <n>", "decode budget: refuse images whose decoding would need more memory (MB)", String(DEFAULT_DECODE_LIMITS.maxMemoryBytes / MB))
    .option("--decode-timeout <s>", "decode budget: stop an image's decoding after this many seconds", String(DEFAULT_DECODE_LIMITS.timeoutSeconds))
    .option("--max-jpeg-scans <n>", "decode budget: refuse progressive JPEGs with more scans", String(DEFAULT_DECODE_LIMITS.maxJpegScans))
    .option("--max-svg-mb <n>", "decode budget: refuse SVGs larger than this once inflated (MB)", String(DEFAULT_DECODE_LIMITS.maxSvgBytes / MB))
    .option("--strict", "exit with code 3 when any file was skipped")
    .option("-q, --quiet", "print only errors and notices");
}

/**
 * For the commands that rank every image against the folder (eval, demo): the encoding the ranking runs
 * on and its refine step. `cbir index` / `cbir query` have their own (the index keeps its encoding).
 */
export function addSearchVectorOptions(cmd: Command): Command {
  const bytes = ENCODINGS.map((e) => `${e} ${bytesPerVector(e, 1)}`).join(", ");
  return cmd
    .addOption(new Option("--vectors <encoding>", `rank on these vectors: f32 exact, f16 / i8 compressed codes (bytes per value: ${bytes})`).choices([...ENCODINGS]).default(DEFAULT_CONFIG.vectors))
    .option("--refine <r>", "with f16 / i8: re-score each query's best r x k with float32 vectors (1 = off)", String(DEFAULT_CONFIG.refine));
}

/**
 * A command-line number, strictly: decimal digits with an optional fraction and exponent, finite. Number()
 * alone would take "", " ", "0x10" and "Infinity". Ranges are checked by resolveConfig.
 */
export function numberArg(name: string, v: unknown, integer = false): number {
  const text = String(v).trim();
  const n = Number(text);
  const syntax = integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
  if (!syntax.test(text) || !Number.isFinite(n) || (integer && !Number.isSafeInteger(n)))
    throw invalidOption(name, integer ? "integer" : "finite number", v);
  return n;
}

function int(name: string, v: string): number {
  return numberArg(name, v, true);
}

const MB = 1024 * 1024;

/** --gem-p: checked here so that a bad value is reported under the flag's name, not the config field's. */
function gemPArg(v: unknown): number {
  const p = numberArg("--gem-p", v);
  if (p < 1) throw invalidOption("--gem-p", "number >= 1", v);
  return p;
}

/** The decode budgets of this run (lib/prepare/budget.ts), validated before any work. */
export function decodeLimitsFromOptions(o: Record<string, unknown>): DecodeLimits {
  const given = (v: unknown) => v !== undefined && v !== null;
  return resolveDecodeLimits({
    maxPixels: given(o.maxPixels) ? numberArg("max-pixels", o.maxPixels, true) : undefined,
    maxMemoryBytes: given(o.maxDecodeMb) ? Math.round(numberArg("max-decode-mb", o.maxDecodeMb) * MB) : undefined,
    timeoutSeconds: given(o.decodeTimeout) ? numberArg("decode-timeout", o.decodeTimeout) : undefined,
    maxJpegScans: given(o.maxJpegScans) ? numberArg("max-jpeg-scans", o.maxJpegScans, true) : undefined,
    maxSvgBytes: given(o.maxSvgMb) ? Math.round(numberArg("max-svg-mb", o.maxSvgMb) * MB) : undefined,
  }, DEFAULT_DECODE_LIMITS);
}

/** The command's options as a partial config (the options a command does not have stay undefined: defaults). */
export function configFromOptions(o: Record<string, unknown>): Partial<PipelineConfig> {
  const model = String(o.model);
  const given = (v: unknown) => v !== undefined;
  // the decode budgets hold for the whole command (every decode in this process reads them)
  setDecodeLimits(decodeLimitsFromOptions(o));
  return {
    model,
    layer: typeof o.layer === "string" ? o.layer : model === DEFAULT_CONFIG.model ? DEFAULT_CONFIG.layer : "",
    pooling: o.pool as PipelineConfig["pooling"],
    gemP: gemPArg(o.gemP),
    metric: o.metric as PipelineConfig["metric"] | undefined,
    k: given(o.k) ? int("k", String(o.k)) : undefined,
    histogramWeight: numberArg("hist-weight", o.histWeight),
    whiten: o.whiten === undefined ? undefined : int("whiten", String(o.whiten)),
    queryExpansion: given(o.qe) ? int("qe", String(o.qe)) : undefined,
    vectors: o.vectors === undefined ? undefined : (String(o.vectors) as PipelineConfig["vectors"]),
    refine: o.refine === undefined ? undefined : int("refine", String(o.refine)),
    center: o.center !== false,
    runtime: o.runtime as PipelineConfig["runtime"],
    batchSize: int("batch-size", String(o.batchSize)),
    outDir: given(o.out) ? String(o.out) : undefined,
  };
}

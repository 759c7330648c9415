/**
 * Model zoo: names of published TensorFlow.js layers models. A name resolves to the URL where the model is
 * published; it is downloaded once into a cache folder and loaded from there afterwards.
 *
 * Cache: `$CBIR_CACHE_DIR` when set, else `~/.cache/cbir/models`; layout `<cache>/<name>/model.json` plus
 * its weight files. A download goes to a temporary folder beside it, renamed into place only when every
 * file is complete, so an interrupted download never leaves a half model behind (lib/backbone/download.ts:
 * each file checked against the manifest, `CBIR_MODEL_BASE_URL`, `CBIR_OFFLINE`). A name shipped in the
 * repository's `models/` (mobilenet_v1_0.75_224, the default backbone) is read from there instead.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CbirError } from "../errors";
import { writeFileCheckedSync } from "../fsutil";
import { reporterOf, type Reporter } from "../report";
import type { BackboneDefaults, ModelSource } from "./source";
import { downloadFile, downloadsDisabled, modelUrl, OFFLINE_ENV } from "./download";
import { fileSource, parseModelJson } from "./tfjs-file";
import { parseManifest, weightByteLength } from "./weights";

export interface ZooEntry {
  url: string;
  defaults: BackboneDefaults;
  /** One line for listings. */
  description: string;
}

const MOBILENET_V1 = (alpha: string): ZooEntry => ({
  url: `https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_${alpha}_224/model.json`,
  defaults: { layer: "conv_pw_13_relu", inputSize: [224, 224], preprocessing: "tf", resize: "bilinear" },
  description: `Keras MobileNet v1, width ${alpha}, ImageNet weights (Apache-2.0, TensorFlow.js models collection)`,
});

export const ZOO_MODELS = ["mobilenet_v1_0.75_224", "mobilenet_v1_1.0_224", "mobilenet_v1_0.50_224", "mobilenet_v1_0.25_224"] as const;
export type ZooModelName = (typeof ZOO_MODELS)[number];

export const ZOO: Readonly<Record<ZooModelName, ZooEntry>> = Object.freeze({
  "mobilenet_v1_0.75_224": MOBILENET_V1("0.75"),
  "mobilenet_v1_1.0_224": MOBILENET_V1("1.0"),
  "mobilenet_v1_0.50_224": MOBILENET_V1("0.50"),
  "mobilenet_v1_0.25_224": MOBILENET_V1("0.25"),
});

export function isZooName(name: string): name is ZooModelName {
  return (ZOO_MODELS as readonly string[]).includes(name.startsWith("zoo/") ? name.slice(4) : name);
}

/** `$CBIR_CACHE_DIR`, else `~/.cache/cbir/models`. */
export function zooCacheDir(): string {
  const env = process.env.CBIR_CACHE_DIR;
  return env ? path.resolve(env) : path.join(os.homedir(), ".cache", "cbir", "models");
}

/**
 * The copy shipped in the repository's `models/` folder (Apache-2.0, see models/README.md), when there is
 * one: such a name is loaded from there, never from the cache or the network.
 */
export function bundledZooDir(name: ZooModelName): string | undefined {
  // the real folder: notebooks reach lib/ through the notebooks/lib link, where ../../models is not the repository's
  const dir = path.resolve(fs.realpathSync(__dirname), "..", "..", "models", name);
  return fs.existsSync(path.join(dir, "model.json")) ? dir : undefined;
}

/** Where a zoo model lives once downloaded. */
export function zooModelDir(name: ZooModelName): string {
  return path.join(zooCacheDir(), name);
}

/** Bytes each path of a manifest holds: exact for one-file groups; a split group is checked as a whole. */
function expectedShardSizes(json: Record<string, unknown>, file: string): { paths: string[]; size: number }[] {
  return parseManifest(json.weightsManifest, file).map((g) => ({ paths: g.paths, size: g.weights.reduce((a, w) => a + weightByteLength(w, file), 0) }));
}

/**
 * Downloads model.json and every weight file into a temporary folder, each checked against the size the
 * manifest declares, then renames the folder into place. `$CBIR_MODEL_BASE_URL` moves the server.
 */
export async function downloadZooModel(name: ZooModelName, reporter?: Reporter, entry: ZooEntry = ZOO[name]): Promise<string> {
  const rep = reporterOf(reporter);
  const url = modelUrl(entry.url);
  const dest = zooModelDir(name);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(dest), `.${name}.download-`));
  try {
    rep.info(`downloading ${name} from ${url} into ${dest}`);
    const jsonTmp = path.join(tmp, ".model.json");
    await downloadFile(url, jsonTmp, { reporter });
    const jsonBytes = fs.readFileSync(jsonTmp);
    fs.rmSync(jsonTmp);
    const groups = expectedShardSizes(parseModelJson(jsonBytes.toString("utf8"), url), url);
    const progress = { done: 0, total: groups.reduce((a, g) => a + g.size, 0) };
    for (const g of groups) {
      let got = 0;
      for (const shard of g.paths) {
        const target = path.join(tmp, shard);
        const expect = g.paths.length === 1 ? { size: g.size, source: `${url} (weightsManifest)` } : undefined;
        got += await downloadFile(new URL(shard, url).toString(), target, { reporter, progress, expect });
      }
      if (got !== g.size)
        throw new CbirError("E_DOWNLOAD_CHECK", `${new URL(g.paths[0], url)} and the rest of its group gave ${got} bytes, but the manifest of ${url} declares ${g.size}; the files were deleted.`, {
          file: dest,
          fix: `run the command again; if it persists, put model.json and its weight files by hand in ${dest}.`,
        });
    }
    writeFileCheckedSync(path.join(tmp, "model.json"), jsonBytes); // last: its presence marks a complete folder
    try {
      fs.renameSync(tmp, dest);
    } catch (e) {
      // another process finished first: keep its copy
      if (!fs.existsSync(path.join(dest, "model.json"))) throw e;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return dest;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export interface ZooOptions {
  reporter?: Reporter;
  /** Refuse to download (E_NETWORK) when the model is not cached. */
  offline?: boolean;
}

/** The cached model, downloaded first when needed. */
export async function zooSource(name: string, options: ZooOptions = {}): Promise<ModelSource> {
  const key = (name.startsWith("zoo/") ? name.slice(4) : name) as ZooModelName;
  const entry = ZOO[key];
  const bundled = bundledZooDir(key);
  if (bundled) return fileSource(bundled, entry.defaults, `zoo:${key}`);
  let dir = zooModelDir(key);
  if (!fs.existsSync(path.join(dir, "model.json"))) {
    if (downloadsDisabled(options.offline))
      throw new CbirError("E_NETWORK", `${key} is not in the model cache and downloads are disabled (--offline or ${OFFLINE_ENV}).`, {
        file: dir,
        fix: `put model.json and its weight files (from ${modelUrl(entry.url)}) in ${dir}, or allow the download.`,
      });
    dir = await downloadZooModel(key, options.reporter);
  }
  try {
    return fileSource(dir, entry.defaults, `zoo:${key}`);
  } catch (e) {
    if (e instanceof CbirError && e.code === "E_MODEL_FILE")
      throw new CbirError(e.code, `${e.message.replace(/ Fix: .*$/, "")}`, { file: e.file, fix: `delete ${dir} to download ${key} again.` });
    throw e;
  }
}

/**
 * TensorFlow.js weight manifests: check that every shard is present and as long as the manifest says,
 * keep only the weights a truncated model needs, and hash what is kept (the fingerprint's weight part).
 */
import { CbirError } from "../errors";
import { sha256 } from "../fingerprint";

/** One entry of a `weightsManifest` group, as written by the tfjs converter. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
  [key: string]: unknown;
}

export interface WeightsGroup {
  paths: string[];
  weights: WeightSpec[];
}

/** Weights ready for `tf.io.fromMemory`. */
export interface WeightBundle {
  specs: WeightSpec[];
  data: ArrayBuffer;
  /** sha256 of `data`. */
  hash: string;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1, int8: 1, int16: 2 };

/** Bytes one weight occupies in its shard (quantized weights are stored at the quantized width). */
export function weightByteLength(spec: WeightSpec, file = "model.json"): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const per = BYTES[dtype];
  if (per === undefined || !Array.isArray(spec.shape)) {
    throw new CbirError("E_MODEL_FILE", `weight '${spec.name}' has an unsupported dtype '${dtype}' or no shape.`, {
      file,
      fix: "re-convert the model with the TensorFlow.js converter (float32, uint8, uint16 or float16 weights).",
    });
  }
  return spec.shape.reduce((a, b) => a * b, 1) * per;
}

/** Validates the `weightsManifest` field of a model.json. */
export function parseManifest(value: unknown, file: string): WeightsGroup[] {
  const ok =
    Array.isArray(value) &&
    value.every((g) => g && Array.isArray(g.paths) && g.paths.every((p: unknown) => typeof p === "string") && Array.isArray(g.weights));
  if (!ok) {
    throw new CbirError("E_MODEL_FILE", "the model has no valid weightsManifest (paths and weights per group).", {
      file,
      fix: "use a TensorFlow.js layers model.json written by the converter, with its weight files beside it.",
    });
  }
  // weight files sit beside model.json: an absolute path, a URL (another host) or `..` would read elsewhere
  for (const g of value as WeightsGroup[]) for (const p of g.paths) if (!isInsidePath(p)) throw weightPathOutside(p, file);
  return value as WeightsGroup[];
}

/** A relative path that stays below its folder, as a file path and as a URL (`%2e%2e` is `..` to a URL parser). */
function isInsidePath(p: string): boolean {
  if (p === "" || p.includes("\0") || /^[a-z][a-z0-9+.-]*:/i.test(p) || /^[\\/]/.test(p)) return false;
  return p.split(/[\\/]/).every((seg) => {
    let decoded = seg;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      /* not percent-encoded */
    }
    return seg !== ".." && decoded !== ".." && decoded !== ".";
  });
}

/** A weight path in model.json that is absolute, a URL or climbs out with `..`. */
export function weightPathOutside(shard: string, file: string): CbirError {
  return new CbirError("E_MODEL_FILE", `weight path ${JSON.stringify(shard)} in model.json leaves the model's folder.`, {
    file,
    fix: "weight files must sit beside model.json (or below it): give relative paths without `..`.",
  });
}

/**
 * Reads every group's shards through `readShard` (which throws E_MODEL_FILE naming a missing file), checks
 * their lengths, and concatenates the weights `keep` accepts, in manifest order.
 */
export async function collectWeights(
  groups: WeightsGroup[],
  readShard: (shardPath: string, maxBytes?: number) => Promise<Uint8Array>,
  keep: (name: string) => boolean = () => true,
  manifestFile = "model.json",
  shardFile: (shardPath: string) => string = (p) => p,
): Promise<WeightBundle> {
  const specs: WeightSpec[] = [];
  const pieces: Uint8Array[] = [];
  for (const group of groups) {
    const wanted = group.weights.some((w) => keep(w.name));
    if (!wanted) continue;
    const need = group.weights.reduce((a, w) => a + weightByteLength(w, manifestFile), 0);
    const shards: Uint8Array[] = [];
    let total = 0;
    for (const p of group.paths) {
      // a shard is never read past what the manifest still expects (a device or a huge file would fill the memory)
      const shard = await readShard(p, need - total);
      total += shard.byteLength;
      if (total > need)
        throw new CbirError("E_MODEL_FILE", `weight file ${shardFile(p)} is larger than the manifest says: group ${group.paths.join(", ")} needs ${need} bytes.`, {
          file: shardFile(p),
          fix: "download the model again; the weight files must be the ones written with this model.json.",
        });
      shards.push(shard);
    }
    if (total < need) {
      // the converter writes equal shards except the last: a shorter one before the end is the culprit
      const short = shards.findIndex((s, i) => i < shards.length - 1 && s.byteLength < shards[0].byteLength);
      const culprit = shardFile(group.paths[short >= 0 ? short : group.paths.length - 1]);
      throw new CbirError("E_MODEL_FILE", `weight file ${culprit} is truncated: group ${group.paths.join(", ")} holds ${total} bytes but the manifest needs ${need}.`, {
        file: culprit,
        fix: "download the model again; every weight file must be complete.",
      });
    }
    const joined = shards.length === 1 ? shards[0] : concat(shards, total);
    let offset = 0;
    for (const w of group.weights) {
      const len = weightByteLength(w, manifestFile);
      if (keep(w.name)) {
        specs.push(w);
        pieces.push(joined.subarray(offset, offset + len));
      }
      offset += len;
    }
  }
  const all = concat(pieces, pieces.reduce((a, p) => a + p.byteLength, 0));
  const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return { specs, data, hash: sha256(all) };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Whether weight `name` belongs to one of `layers` (tfjs weight names are `<layer>/<variable>`). */
export function belongsToLayers(layers: ReadonlySet<string>): (name: string) => boolean {
  return (name) => {
    for (let i = name.indexOf("/"); i > 0; i = name.indexOf("/", i + 1)) {
      if (layers.has(name.slice(0, i))) return true;
    }
    return false;
  };
}

/**
 * The fingerprint says which pipeline produced a set of vectors. Vectors with different fingerprints are
 * never mixed: an index, a cache or an exported model is reused only when every part matches.
 * Defined once here; every stage that changes the vectors contributes a part.
 */
import { createHash } from "node:crypto";
import { CbirError } from "./errors";

export interface FingerprintParts {
  /** Backbone identity, e.g. "nsfwjs:inception_v3" or "zoo:mobilenet_v1_0.75_224" or "hist:rgb8". */
  backbone: string;
  /** sha256 of the weight bytes ("none" for weight-free features). */
  weights: string;
  /** Cut layer name ("" for weight-free features). */
  layer: string;
  /** Network input [height, width]. */
  inputSize: [number, number];
  resize: string;
  preprocessing: string;
  pooling: string;
  /** One entry per fitted reducer, in the order applied: `name:hashOfState` (e.g. "center:3fa1..", "pca64:9be0.."). */
  reducers: string[];
  /** Anything else that changes the vectors: fusion weights, histogram bins, extra layers... */
  extra: Record<string, string | number | boolean>;
}

export interface Fingerprint {
  /** Short stable hash of the canonical parts. */
  id: string;
  parts: FingerprintParts;
}

export function sha256(data: string | Uint8Array | ArrayBufferView): string {
  const h = createHash("sha256");
  if (typeof data === "string") h.update(data);
  else h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return h.digest("hex");
}

/** Hash of a fitted state (mean vector, PCA basis...), so that refitting on other data changes the fingerprint. */
export function hashState(...arrays: (Float32Array | Float64Array | number[])[]): string {
  const h = createHash("sha256");
  for (const a of arrays) {
    const f = a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
    h.update(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }
  return h.digest("hex").slice(0, 16);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

const DEFAULT_PARTS: FingerprintParts = Object.freeze({
  backbone: "",
  weights: "none",
  layer: "",
  inputSize: [0, 0] as [number, number],
  resize: "",
  preprocessing: "",
  pooling: "none",
  reducers: [] as string[],
  extra: {},
});

export function makeFingerprint(parts: Partial<FingerprintParts> & Pick<FingerprintParts, "backbone">): Fingerprint {
  const full: FingerprintParts = {
    ...DEFAULT_PARTS,
    ...parts,
    inputSize: [...(parts.inputSize ?? DEFAULT_PARTS.inputSize)] as [number, number],
    reducers: [...(parts.reducers ?? [])],
    extra: { ...(parts.extra ?? {}) },
  };
  return { id: sha256(canonical(full)).slice(0, 16), parts: full };
}

/** A copy with more parts: a fitted reducer appended, or extra settings merged. */
export function extendFingerprint(
  fp: Fingerprint,
  add: { reducer?: string; extra?: Record<string, string | number | boolean> },
): Fingerprint {
  return makeFingerprint({
    ...fp.parts,
    reducers: add.reducer ? [...fp.parts.reducers, add.reducer] : fp.parts.reducers,
    extra: { ...fp.parts.extra, ...(add.extra ?? {}) },
  });
}

/** Human-readable list of the parts that differ, e.g. `layer: "mixed9" vs "mixed10"`. */
export function diffFingerprints(a: Fingerprint, b: Fingerprint): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a.parts), ...Object.keys(b.parts)]) as Set<keyof FingerprintParts>;
  for (const k of keys) {
    const va = canonical(a.parts[k]);
    const vb = canonical(b.parts[k]);
    if (va !== vb) out.push(`${k}: ${va} vs ${vb}`);
  }
  return out;
}

/** Refuses to combine vectors from two pipelines, naming what differs. */
export function assertSameFingerprint(expected: Fingerprint, actual: Fingerprint, file?: string): void {
  if (expected.id === actual.id) return;
  const diff = diffFingerprints(expected, actual);
  throw new CbirError(
    "E_FINGERPRINT_MISMATCH",
    `vectors were made by a different pipeline (${diff.join("; ") || `id ${expected.id} vs ${actual.id}`}).`,
    { file, fix: "rebuild the index with the current settings (delete it or use --rebuild), or run with the settings it was built with." },
  );
}

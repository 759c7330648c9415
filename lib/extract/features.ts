/**
 * Stage "extract": images -> one pooled feature vector each, in batches. Decoding of the next batch
 * (sharp, on libuv's worker threads) runs while the network works on the current one; memory stays
 * bounded by the batch size whatever the folder size. Unreadable images are skipped with their reason.
 */
import type { Backbone } from "../backbone/types";
import { preprocessPixels } from "../backbone/preprocess";
import { decodeImage } from "../prepare/decode";
import { findBadRows } from "./finite";
import { makeFingerprint, type Fingerprint } from "../fingerprint";
import { CbirError, expectOneOf, invalidOption, isCbirError } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";
import { poolFeatures, pooledDim, poolingNames, type Pooling } from "./pooling/index";

export interface ExtractOptions {
  /** How the cut layer's output becomes one vector (default "gap"; "flatten" as the originals). */
  pooling?: Pooling;
  /** GeM exponent (default 3). */
  gemP?: number;
  /** Images per inference call (default: chosen from the layer size, at most 32). */
  batchSize?: number;
  /** Also compute a colour histogram per image from the same decoded pixels (for fusion). */
  histogram?: (rgb: Uint8Array) => Float32Array;
  reporter?: Reporter;
  /** Called after every batch with the rows just computed (for incremental, resumable indexing). */
  onBatch?: (batch: { items: ImageItem[]; vectors: Float32Array; histograms?: Float32Array[] }) => void | Promise<void>;
}

export interface ExtractResult {
  features: FeatureMatrix;
  /** Present when `histogram` was given: one row per kept image, same order as features. */
  histograms?: Float32Array[];
  /** Items in the order of the feature rows. */
  items: ImageItem[];
  skipped: SkippedFile[];
  seconds: { total: number; decode: number; infer: number };
}

/** The fingerprint of vectors a backbone makes with a given pooling, before any reducer. */
export function backboneFingerprint(backbone: Backbone, pooling: Pooling, gemP = 3): Fingerprint {
  return makeFingerprint({
    backbone: backbone.id,
    weights: backbone.weightsHash,
    layer: backbone.layer,
    inputSize: backbone.inputSize,
    resize: backbone.resize,
    preprocessing: backbone.preprocessing,
    pooling: pooling === "gem" ? `gem${gemP}` : pooling,
  });
}

/** Keeps the per-batch input plus output near 64 MB, between 1 and 32 images. */
export function autoBatchSize(backbone: Backbone): number {
  const [h, w] = backbone.inputSize;
  const perImage = 4 * (h * w * 3 + backbone.outputShape.reduce((a, b) => a * b, 1));
  return Math.max(1, Math.min(32, Math.floor((64 * 1024 * 1024) / perImage)));
}

interface DecodedBatch {
  items: ImageItem[];
  pixels: Float32Array;
  histograms?: Float32Array[];
  skipped: SkippedFile[];
  seconds: number;
}

async function decodeBatch(backbone: Backbone, items: ImageItem[], histogram?: (rgb: Uint8Array) => Float32Array): Promise<DecodedBatch> {
  const t0 = performance.now();
  const [h, w] = backbone.inputSize;
  const size = h * w * 3;
  const results = await Promise.all(
    items.map((item) =>
      decodeImage(item.path, { size: [h, w], resize: backbone.resize }).then(
        (img) => ({ item, img }),
        (e: unknown) => {
          if (!isCbirError(e)) throw e;
          return { item, error: e.message };
        },
      ),
    ),
  );
  const ok = results.filter((r): r is { item: ImageItem; img: { data: Uint8Array; width: number; height: number } } => "img" in r);
  const pixels = new Float32Array(ok.length * size);
  ok.forEach((r, i) => preprocessPixels(r.img.data, backbone.preprocessing, pixels.subarray(i * size, (i + 1) * size)));
  return {
    items: ok.map((r) => r.item),
    pixels,
    histograms: histogram ? ok.map((r) => histogram(r.img.data)) : undefined,
    skipped: results.filter((r): r is { item: ImageItem; error: string } => "error" in r).map((r) => ({ path: r.item.path, reason: r.error })),
    seconds: (performance.now() - t0) / 1000,
  };
}

export async function extractFeatures(backbone: Backbone, items: ImageItem[], options: ExtractOptions = {}): Promise<ExtractResult> {
  const pooling = expectOneOf("pooling", options.pooling ?? "gap", poolingNames()) as Pooling;
  const gemP = options.gemP ?? 3;
  const batchSize = options.batchSize ?? autoBatchSize(backbone);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidOption("batchSize", "positive integer", batchSize);
  const rep = reporterOf(options.reporter);
  const dim = pooledDim(backbone.outputShape, pooling);
  const t0 = performance.now();
  const kept: ImageItem[] = [];
  const skipped: SkippedFile[] = [];
  const chunks: Float32Array[] = [];
  const histograms: Float32Array[] = [];
  let inferSeconds = 0;
  let decodeSeconds = 0;

  const batches: ImageItem[][] = [];
  for (let i = 0; i < items.length; i += batchSize) batches.push(items.slice(i, i + batchSize));
  let next = batches.length ? decodeBatch(backbone, batches[0], options.histogram) : undefined;
  let done = 0;
  for (let b = 0; b < batches.length; b++) {
    const current = await next!;
    // start decoding the following batch before running the network on this one
    next = b + 1 < batches.length ? decodeBatch(backbone, batches[b + 1], options.histogram) : undefined;
    decodeSeconds += current.seconds;
    for (const s of current.skipped) {
      skipped.push(s);
      rep.warn(`skipped ${s.reason}`, s.path);
    }
    if (current.items.length) {
      const ti = performance.now();
      const raw = await backbone.infer(current.pixels, current.items.length);
      let vectors = poolFeatures(raw, current.items.length, backbone.outputShape, pooling, { gemP });
      inferSeconds += (performance.now() - ti) / 1000;
      const bad = findBadRows(vectors, current.items.length, dim);
      if (bad.length) {
        const isBad = new Set(bad);
        for (const i of bad) {
          const s = { path: current.items[i].path, reason: `${current.items[i].path}: its feature vector holds NaN or Infinity (the image decoded; the network gave non-finite values). Fix: check the model's weights; the image is skipped meanwhile.` };
          skipped.push(s);
          rep.warn(`skipped ${s.reason}`, s.path);
        }
        const keep = current.items.map((_, i) => i).filter((i) => !isBad.has(i));
        const finite = new Float32Array(keep.length * dim);
        keep.forEach((i, j) => finite.set(vectors.subarray(i * dim, (i + 1) * dim), j * dim));
        vectors = finite;
        current.items = keep.map((i) => current.items[i]);
        if (current.histograms) current.histograms = keep.map((i) => current.histograms![i]);
      }
      if (current.items.length) {
        // (a batch whose every vector was non-finite has nothing to keep)
        chunks.push(vectors);
        kept.push(...current.items);
        if (current.histograms) histograms.push(...current.histograms);
        await options.onBatch?.({ items: current.items, vectors, histograms: current.histograms });
      }
    }
    done += batches[b].length;
    rep.progress("extract", done, items.length, batches[b][batches[b].length - 1]?.name);
  }
  if (kept.length === 0 && items.length > 0) {
    throw new CbirError("E_NO_IMAGES", `none of the ${items.length} images could be decoded (first: ${skipped[0]?.reason}).`, {
      file: skipped[0]?.path,
      fix: "check that the folder holds valid JPEG/PNG/WebP images.",
    });
  }
  const data = new Float32Array(kept.length * dim);
  let off = 0;
  for (const c of chunks) data.set(c, off), (off += c.length);
  return {
    features: { ids: kept.map((i) => i.name), dim, data, fingerprint: backboneFingerprint(backbone, pooling, gemP) },
    histograms: options.histogram ? histograms : undefined,
    items: kept,
    skipped,
    seconds: { total: (performance.now() - t0) / 1000, decode: decodeSeconds, infer: inferSeconds },
  };
}

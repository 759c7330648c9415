/**
 * Bench section "extract": feature-extraction speed.
 * 1. Network only, images/s: MobileNetV2 (`out_relu`, 224) and InceptionV3 (`mixed10`, 299) from the
 *    nsfwjs bundle, batch 1 and 16, on tfjs-wasm, ONNX Runtime with 1 and 2 threads, and PyTorch (Debian's
 *    CPU build, torchvision's same architectures with random weights, same input size and threads) in the
 *    same run; `ratio_vs_torch` = ONNX Runtime / PyTorch at equal threads and batch.
 * 2. End to end: index the first 1,000 images of malaysian_food7/labels.csv with ONNX MobileNetV2: sharp
 *    decodes and resizes while the network runs, batch size chosen by timing, a bounded number of batch
 *    buffers, global-average-pooled vectors streamed to a float32 file.
 * The machine is shared: os.loadavg() is recorded at the start and the end (and around each part).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { getTf, loadBackbone, loadLayersModel, resolveModel, truncateAt, tfBackendName, preprocessPixels, type Backbone } from "../lib/backbone";
import { createOnnxBackbone, BatchTuner, type OnnxBackbone } from "../lib/backbone/onnx";
import { decodeImage } from "../lib/prepare/decode";
import { isCbirError } from "../lib/errors";
import { PEER_PYTHON, peerAvailable, runPeer } from "./peers";

const FOOD7 = path.resolve(__dirname, "..", "..", "shared", "data", "malaysian_food7");
const END_TO_END_IMAGES = 1000;
const BATCHES = [1, 16] as const;
const THREADS = [1, 2] as const;
/** Each speed figure: one warm-up run, then runs until this many seconds (at least one run). */
const MIN_SECONDS = 3;

/** ONNX Runtime settings compared: the default (1 thread), 2 threads, and 2 threads spin-waiting. */
const ONNX_VARIANTS = [
  { key: "onnx_threads_1", threads: 1, spinWait: false },
  { key: "onnx_threads_2", threads: 2, spinWait: false },
  { key: "onnx_threads_2_spinning", threads: 2, spinWait: true },
] as const;

interface ModelSpec {
  key: string;
  name: string;
  layer: string;
  torch: "mobilenet_v2" | "inception_v3";
}

const MODELS: ModelSpec[] = [
  { key: "mobilenet_v2", name: "nsfwjs/mobilenet_v2", layer: "out_relu", torch: "mobilenet_v2" },
  { key: "inception_v3", name: "nsfwjs/inception_v3", layer: "mixed10", torch: "inception_v3" },
];

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const load = () => os.loadavg().map((x) => round(x, 2));

async function imagesPerSecond(backbone: Backbone, batch: number): Promise<number> {
  const [h, w] = backbone.inputSize;
  const x = Float32Array.from({ length: batch * h * w * 3 }, (_, i) => Math.sin(i * 0.001));
  await backbone.infer(x, batch);
  let runs = 0;
  const t0 = performance.now();
  while (runs < 1 || performance.now() - t0 < MIN_SECONDS * 1000) {
    await backbone.infer(x, batch);
    runs++;
  }
  return (runs * batch * 1000) / (performance.now() - t0);
}

const TORCH_SCRIPT = String.raw`
import json, sys, time
import torch, torchvision
cfg = json.loads(sys.argv[1])
torch.manual_seed(0)
def build(kind):
    if kind == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None).features.eval()
    m = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).eval()
    return torch.nn.Sequential(m.Conv2d_1a_3x3, m.Conv2d_2a_3x3, m.Conv2d_2b_3x3, m.maxpool1, m.Conv2d_3b_1x1,
        m.Conv2d_4a_3x3, m.maxpool2, m.Mixed_5b, m.Mixed_5c, m.Mixed_5d, m.Mixed_6a, m.Mixed_6b, m.Mixed_6c,
        m.Mixed_6d, m.Mixed_6e, m.Mixed_7a, m.Mixed_7b, m.Mixed_7c).eval()
out = {"version": torch.__version__, "torchvision": torchvision.__version__}
for spec in cfg["models"]:
    net = build(spec["torch"])
    res = {}
    for threads in cfg["threads"]:
        torch.set_num_threads(threads)
        for b in cfg["batches"]:
            x = torch.randn(b, 3, spec["size"], spec["size"])
            with torch.inference_mode():
                y = net(x)
                runs, t0 = 0, time.perf_counter()
                while runs < 1 or time.perf_counter() - t0 < cfg["min_seconds"]:
                    net(x)
                    runs += 1
                dt = time.perf_counter() - t0
            res["threads_%d_batch_%d" % (threads, b)] = runs * b / dt
    res["output_shape"] = list(y.shape[1:])
    out[spec["key"]] = res
print(json.dumps(out))
`;

function torchSpeeds(sizes: Record<string, number>): Record<string, unknown> {
  if (!peerAvailable("torch") || !peerAvailable("torchvision"))
    return { error: `PyTorch not found in ${PEER_PYTHON}: apt-get install -y python3-torch python3-torchvision` };
  const cfg = { models: MODELS.map((m) => ({ key: m.key, torch: m.torch, size: sizes[m.key] })), threads: THREADS, batches: BATCHES, min_seconds: MIN_SECONDS };
  return runPeer(TORCH_SCRIPT, [JSON.stringify(cfg)]);
}

async function networkSpeeds(cacheDir: string): Promise<{ figures: Record<string, Record<string, unknown>>; sizes: Record<string, number> }> {
  const figures: Record<string, Record<string, unknown>> = {};
  const sizes: Record<string, number> = {};
  for (const spec of MODELS) {
    const tfjs = await loadBackbone(spec.name, { layer: spec.layer, runtime: "tfjs" });
    const full = await loadLayersModel(spec.name);
    const cut = truncateAt(full, spec.layer);
    const { id, layer, inputSize, preprocessing, resize, outputShape, weightsHash } = tfjs;
    const meta = { id, layer, inputSize, preprocessing, resize, outputShape, weightsHash };
    const t0 = performance.now();
    const onnx: Record<string, OnnxBackbone> = {};
    for (const v of ONNX_VARIANTS) onnx[v.key] = await createOnnxBackbone(cut, meta, undefined, { threads: v.threads, spinWait: v.spinWait, cacheDir });
    const exportSeconds = (performance.now() - t0) / 1000; // the first exports, the others read the cache
    full.dispose();
    sizes[spec.key] = tfjs.inputSize[0];
    const f: Record<string, unknown> = {
      input: tfjs.inputSize,
      output: tfjs.outputShape,
      onnx_export_seconds: round(exportSeconds, 2),
      onnx_file_mb: round(fs.statSync(onnx[ONNX_VARIANTS[0].key].onnxFile!).size / 1e6),
    };
    for (const b of BATCHES) {
      f[`tfjs_wasm_batch_${b}`] = round(await imagesPerSecond(tfjs, b));
      for (const v of ONNX_VARIANTS) f[`${v.key}_batch_${b}`] = round(await imagesPerSecond(onnx[v.key], b));
    }
    f.loadavg_after = load();
    tfjs.dispose();
    for (const v of ONNX_VARIANTS) onnx[v.key].dispose();
    figures[spec.key] = f;
  }
  return { figures, sizes };
}

/** First `count` image paths of a labels.csv (`path,label`, header first). */
function firstImages(csv: string, count: number): string[] {
  const lines = fs.readFileSync(csv, "utf8").split(/\r?\n/).slice(1).filter(Boolean);
  return lines.slice(0, count).map((l) => path.resolve(path.dirname(csv), l.split(",")[0]));
}

/**
 * Index `files` with ONNX MobileNetV2 (`out_relu`, global average pooling, 1,280 floats per image).
 * Images are decoded and resized by sharp (libuv threads) at most `lookAhead` images ahead of the network,
 * `decoders` at a time, into a pool of reused buffers: memory stays bounded whatever the number of images,
 * and decoding overlaps inference. The batch size is tuned on the first real batches (BatchTuner).
 */
async function indexEndToEnd(files: string[], threads: number, cacheDir: string, decoders = 2, lookAhead = 64): Promise<Record<string, unknown>> {
  const rssStart = process.memoryUsage().rss;
  const t0 = performance.now();
  const layer = "out_relu";
  const resolved = await resolveModel("nsfwjs/mobilenet_v2");
  if (resolved.kind !== "layers") throw new Error("nsfwjs/mobilenet_v2 should be a layers model");
  const { model, weightsHash } = await resolved.build(layer, resolved.defaults.inputSize);
  const { inputSize, preprocessing, resize } = resolved.defaults;
  const meta = { id: resolved.id, layer, inputSize, preprocessing, resize, outputShape: [7, 7, 1280], weightsHash };
  const backbone = await createOnnxBackbone(model, meta, undefined, { threads, cacheDir });
  model.dispose();
  const tModel = performance.now();

  const [h, w] = inputSize;
  const per = h * w * 3;
  const channels = 1280;
  const cells = 49;
  const tuner = new BatchTuner({ candidates: [4, 8, 16] });
  const batchBuf = new Float32Array(tuner.largest * per);
  const features = new Float32Array(tuner.largest * channels);
  const outFile = path.join(os.tmpdir(), `cbir-bench-features-${process.pid}-${threads}.f32`);
  const fd = fs.openSync(outFile, "w");
  const pool: Float32Array[] = [];
  const decoded: (Promise<Float32Array | null> | undefined)[] = new Array(files.length);
  let launched = 0;
  let active = 0;
  let consumed = 0;
  let skipped = 0;
  let peakRss = process.memoryUsage().rss;
  let decodeWait = 0;
  let inferMs = 0;

  const decodeOne = async (i: number): Promise<Float32Array | null> => {
    const slot = pool.pop() ?? new Float32Array(per);
    try {
      const img = await decodeImage(files[i], { size: [h, w], resize });
      return preprocessPixels(img.data, preprocessing, slot);
    } catch (e) {
      pool.push(slot);
      if (isCbirError(e) && e.code === "E_BAD_IMAGE") return null;
      throw e;
    }
  };
  const launch = (): void => {
    while (launched < files.length && launched < consumed + lookAhead && active < decoders) {
      const i = launched++;
      active++;
      decoded[i] = decodeOne(i).finally(() => {
        active--;
        launch();
      });
    }
  };

  try {
    launch();
    let next = 0;
    while (next < files.length) {
      const size = tuner.next();
      // gather up to `size` decoded images (unreadable ones are skipped) into the batch buffer
      let n = 0;
      const tw = performance.now();
      while (n < size && next < files.length) {
        const img = await decoded[next]!;
        decoded[next++] = undefined;
        consumed++;
        if (img) {
          batchBuf.set(img, n * per);
          pool.push(img);
          n++;
        } else skipped++;
        launch();
      }
      decodeWait += performance.now() - tw;
      if (n === 0) break;
      const ti = performance.now();
      const out = await backbone.infer(batchBuf.subarray(0, n * per), n);
      const ms = performance.now() - ti;
      inferMs += ms;
      if (n === size) tuner.record(size, ms);
      features.fill(0, 0, n * channels);
      for (let i = 0; i < n; i++)
        for (let c = 0; c < cells; c++) {
          const src = (i * cells + c) * channels;
          for (let ch = 0; ch < channels; ch++) features[i * channels + ch] += out[src + ch];
        }
      for (let i = 0; i < n * channels; i++) features[i] /= cells;
      fs.writeSync(fd, new Uint8Array(features.buffer, 0, n * channels * 4));
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
  } finally {
    fs.closeSync(fd);
    backbone.dispose();
  }
  const tEnd = performance.now();
  const bytes = fs.statSync(outFile).size;
  fs.rmSync(outFile, { force: true });
  return {
    images: files.length,
    threads,
    decoders,
    look_ahead_images: lookAhead,
    batch_size: tuner.chosen ?? tuner.next(),
    batch_sizes_timed: Object.fromEntries(Object.entries(tuner.measured()).map(([k, v]) => [k, round(v)])),
    total_seconds: round((tEnd - t0) / 1000, 2),
    model_load_seconds: round((tModel - t0) / 1000, 2),
    decode_and_extract_seconds: round((tEnd - tModel) / 1000, 2),
    inference_seconds: round(inferMs / 1000, 2),
    waiting_for_decode_seconds: round(decodeWait / 1000, 2),
    images_per_s: round(files.length / ((tEnd - t0) / 1000)),
    skipped,
    features_file_bytes: bytes,
    rss_start_mb: Math.round(rssStart / 1e6),
    rss_peak_mb: Math.round(peakRss / 1e6),
    loadavg_after: load(),
  };
}

/** Runs both parts; `parts` (or CBIR_BENCH_EXTRACT=speeds|e2e) runs only one. */
export async function runExtractBench(parts = process.env.CBIR_BENCH_EXTRACT ?? "all"): Promise<Record<string, unknown>> {
  const loadavgStart = load();
  await getTf();
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-bench-onnx-"));
  const previousConcurrency = sharp.concurrency();
  try {
    const speeds = parts !== "e2e";
    const { figures, sizes } = speeds ? await networkSpeeds(cacheDir) : { figures: {}, sizes: {} };
    const torch = speeds ? torchSpeeds(sizes) : {};
    for (const spec of MODELS) {
      const t = torch[spec.key] as Record<string, number> | undefined;
      if (!t) continue;
      const ratio: Record<string, number> = {};
      for (const th of THREADS)
        for (const b of BATCHES) {
          const key = `threads_${th}_batch_${b}`;
          figures[spec.key][`torch_${key}`] = round(t[key]);
          ratio[key] = round((figures[spec.key][`onnx_${key}`] as number) / t[key], 2);
        }
      figures[spec.key].ratio_vs_torch = ratio;
    }
    const loadavgAfterSpeeds = load();

    let endToEnd: Record<string, unknown>;
    const csv = path.join(FOOD7, "labels.csv");
    if (parts === "speeds") endToEnd = { skipped: "not asked for" };
    else if (!fs.existsSync(csv)) endToEnd = { skipped: `${csv} is absent` };
    else {
      // One image per libvips thread: images are decoded in parallel instead (libuv's pool).
      sharp.concurrency(1);
      const files = firstImages(csv, END_TO_END_IMAGES);
      endToEnd = {};
      for (const t of THREADS) endToEnd[`threads_${t}`] = await indexEndToEnd(files, t, cacheDir);
    }
    return {
      loadavg_start: loadavgStart,
      tfjs_backend: tfBackendName(),
      cpus: os.cpus().length,
      ...figures,
      torch_versions: torch.error ? { error: torch.error } : { torch: torch.version, torchvision: torch.torchvision },
      loadavg_after_speeds: loadavgAfterSpeeds,
      end_to_end_1000_food7_mobilenet_v2: endToEnd,
      loadavg_end: load(),
    };
  } finally {
    sharp.concurrency(previousConcurrency);
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runExtractBench().then((r) => process.stdout.write(JSON.stringify(r, null, 2) + "\n"));
}

/**
 * Downloads as users hit them: `loadBackbone("keras/...")` and a zoo width fetch their files on first use.
 * A server on 127.0.0.1, started and stopped here, stands in for storage.googleapis.com through
 * CBIR_MODEL_BASE_URL, and counts requests. Caches are temporary folders (CBIR_CACHE_DIR, KERAS_HOME).
 */
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import { bundledZooDir, downloadFile, getTf, loadBackbone, zooModelDir } from "../lib/backbone";
import { buildArchitecture, loadH5wasm, seededRandom } from "../lib/backbone/keras";
import type { ProgressEvent } from "../lib/report";

const ROOT = path.resolve(__dirname, "..");
const sharedModel = path.resolve(ROOT, "../shared/models/mobilenet_v1_0.75_224");
const skipZoo = fs.existsSync(path.join(sharedModel, "model.json")) ? false : "../shared/models/mobilenet_v1_0.75_224 is absent";
const KERAS = "/tensorflow/keras-applications/";
const MNV2_NOTOP = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5";
const ZOO_050 = "/tfjs-models/tfjs/mobilenet_v1_0.50_224/";

/** Path -> bytes served; paths in `cut` get their headers and half their body, then the socket is destroyed. */
const files = new Map<string, Buffer>();
const cut = new Set<string>();
const requests: string[] = [];
const endlessSent: number[] = [];
let server: http.Server;
let base = "";
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-download-"));
const savedEnv = { ...process.env };

before(async () => {
  server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    requests.push(p);
    if (p === "/endless.bin") {
      // no length, and bytes until the client hangs up: what a wrong or hostile server can send
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      const pump = () => {
        while (!res.destroyed && sent < 1e9 && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed && sent < 1e9) res.once("drain", pump);
      };
      res.on("close", () => endlessSent.push(sent));
      pump();
      return;
    }
    const body = files.get(p);
    if (!body) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-length": body.length, "content-type": "application/octet-stream" });
    if (cut.delete(p)) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  process.env = savedEnv;
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

/** Fresh caches and environment for every test. */
beforeEach(() => {
  process.env = { ...savedEnv };
  const dir = fs.mkdtempSync(path.join(tmpRoot, "case-"));
  process.env.CBIR_MODEL_BASE_URL = base;
  process.env.CBIR_CACHE_DIR = path.join(dir, "models");
  process.env.KERAS_HOME = path.join(dir, "keras");
  delete process.env.CBIR_OFFLINE;
  files.clear();
  cut.clear();
  requests.length = 0;
});

/** A MobileNetV2 (width 1/4) .h5 in the layout Keras's save_weights writes, with seeded random weights. */
async function smallMobilenetV2H5(): Promise<Buffer> {
  const tf = await getTf();
  const model = buildArchitecture(tf, "mobilenet_v2", { widthScale: 0.25, inputSize: [32, 32] });
  const rand = seededRandom(7);
  const file = path.join(tmpRoot, `mnv2-${crypto.randomBytes(4).toString("hex")}.h5`);
  const h5 = await loadH5wasm();
  const f = new h5.File(file, "w");
  const fixed = (l: string[]) => `S${Math.max(1, ...l.map((s) => s.length))}`;
  const names = model.layers.map((l) => l.name);
  f.create_attribute("layer_names", names, [names.length], fixed(names));
  f.create_attribute("backend", "tensorflow");
  f.create_attribute("keras_version", "2.2.4");
  for (const l of model.layers) {
    const g = f.create_group(l.name);
    const weightNames = l.weights.map((w) => `${l.name}/${(w.originalName ?? w.name).split("/").pop()}:0`);
    if (!weightNames.length) {
      g.create_attribute("weight_names", new Float32Array(0), [0]);
      continue;
    }
    g.create_attribute("weight_names", weightNames, [weightNames.length], fixed(weightNames));
    const sub = g.create_group(l.name);
    l.weights.forEach((w, i) => {
      const shape = w.shape as number[];
      const positive = /moving_variance/.test(w.originalName ?? w.name);
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => (positive ? 0.5 + rand() : rand() - 0.5));
      sub.create_dataset({ name: weightNames[i].split("/")[1], data, shape });
    });
  }
  f.close();
  model.dispose();
  return fs.readFileSync(file);
}

const kerasDest = (name: string) => path.join(process.env.KERAS_HOME!, "models", name);
const loadSmallMnv2 = (reporter?: { progress(e: ProgressEvent): void }) => loadBackbone("keras/mobilenet_v2", { widthScale: 0.25, inputSize: 32, runtime: "tfjs", reporter });
const leftovers = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

test("Keras weights: first use downloads into the Keras cache with a progress bar, second use makes no request", async () => {
  const h5 = await smallMobilenetV2H5();
  files.set(`${KERAS}mobilenet_v2/${MNV2_NOTOP}`, h5);
  const events: ProgressEvent[] = [];
  const b = await loadSmallMnv2({ progress: (e) => events.push(e) });
  assert.deepEqual(b.outputShape, [1, 1, 320]);
  b.dispose();
  assert.deepEqual(requests, [`${KERAS}mobilenet_v2/${MNV2_NOTOP}`]);
  assert.ok(fs.readFileSync(kerasDest(MNV2_NOTOP)).equals(h5));
  const bar = events.filter((e) => e.stage === "download");
  assert.ok(bar.length >= 1, "progress events for the download");
  assert.equal(bar[bar.length - 1].done, h5.length);
  assert.equal(bar[bar.length - 1].total, h5.length);

  const again = await loadSmallMnv2();
  again.dispose();
  assert.equal(requests.length, 1, "the cached file is reused without a request");
});

test("a connection cut halfway leaves no partial file, and the next run downloads it whole", async () => {
  const p = `${KERAS}mobilenet_v2/${MNV2_NOTOP}`;
  files.set(p, await smallMobilenetV2H5());
  cut.add(p);
  await assert.rejects(loadSmallMnv2(), (e: Error & { code?: string; file?: string }) => {
    assert.equal(e.code, "E_NETWORK");
    assert.equal(e.file, kerasDest(MNV2_NOTOP));
    assert.match(e.message, /was cut after \d+ bytes of \d+/);
    assert.ok(e.message.includes(base), e.message);
    return true;
  });
  assert.deepEqual(leftovers(path.dirname(kerasDest(MNV2_NOTOP))), [], "nothing is left in the cache, not even a temporary file");
  const b = await loadSmallMnv2();
  b.dispose();
  assert.equal(requests.length, 2);
  assert.ok(fs.existsSync(kerasDest(MNV2_NOTOP)));
});

test("a file that does not match Keras's published MD5 is refused and deleted", async () => {
  const name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
  const bytes = Buffer.from("\x89HDF\r\n\x1a\n not the real VGG16 weights");
  files.set(`${KERAS}vgg16/${name}`, bytes);
  await assert.rejects(loadBackbone("keras/vgg16", { runtime: "tfjs" }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "E_DOWNLOAD_CHECK");
    const md5 = crypto.createHash("md5").update(bytes).digest("hex");
    assert.ok(e.message.includes(`${base}tensorflow/keras-applications/vgg16/${name} gave ${bytes.length} bytes (MD5 ${md5})`), e.message);
    assert.match(e.message, /publishes MD5 6d6bbae143d832006294945121d1f1fc; the file was deleted/);
    return true;
  });
  assert.deepEqual(leftovers(path.dirname(kerasDest(name))), []);
});

test("downloadFile checks an MD5 and a size it is given", async () => {
  const bytes = crypto.randomBytes(100_000);
  files.set("/f.bin", bytes);
  const dest = path.join(tmpRoot, "f.bin");
  const md5 = crypto.createHash("md5").update(bytes).digest("hex");
  assert.equal(await downloadFile(`${base}f.bin`, dest, { expect: { md5, size: bytes.length } }), bytes.length);
  assert.ok(fs.readFileSync(dest).equals(bytes));
  const other = path.join(tmpRoot, "g.bin");
  await assert.rejects(downloadFile(`${base}f.bin`, other, { expect: { size: 99 } }), /sent more than 99 bytes, but its publisher declares 99 bytes; the download was stopped/);
  assert.equal(fs.existsSync(other), false);
  await assert.rejects(downloadFile(`${base}f.bin`, other, { expect: { size: 200_000 } }), /gave 100000 bytes .*declares 200000 bytes; the file was deleted/);
  assert.equal(fs.existsSync(other), false);
});

test("a body longer than its declared size, or endless, is stopped as soon as it passes the limit", async () => {
  const dir = fs.mkdtempSync(path.join(tmpRoot, "endless-"));
  const dest = path.join(dir, "w.h5");
  await assert.rejects(downloadFile(`${base}endless.bin`, dest, { expect: { size: 1_000_000 } }), /sent more than 1000000 bytes, but its publisher declares 1000000 bytes; the download was stopped and nothing was kept/);
  await assert.rejects(downloadFile(`${base}endless.bin`, dest, { maxBytes: 3_000_000 }), /downloads are limited to 3\.0 MB/);
  assert.deepEqual(leftovers(dir), [], "no partial file");
  await new Promise((r) => setTimeout(r, 200)); // the server sees the hang-up
  assert.equal(endlessSent.length, 2);
  // the connection was closed near the limit, not after the server's gigabyte
  for (const sent of endlessSent) assert.ok(sent < 50e6, `server sent ${sent} bytes before the client hung up`);
});

test("a 404 names the URL and where to put the file by hand", async () => {
  const name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5";
  await assert.rejects(loadBackbone("keras/resnet50", { runtime: "tfjs" }), (e: Error & { code?: string; file?: string }) => {
    assert.equal(e.code, "E_NETWORK");
    assert.ok(e.message.includes(`downloading ${base}tensorflow/keras-applications/resnet/${name} failed: HTTP 404`), e.message);
    assert.ok(e.message.includes(`put it at ${kerasDest(name)}`), e.message);
    return true;
  });
  assert.equal(requests.length, 1);
});

test("offline (CBIR_OFFLINE=1 or --offline on a command): E_NETWORK names the path, no request is made", async () => {
  process.env.CBIR_OFFLINE = "1";
  await assert.rejects(loadSmallMnv2(), (e: Error & { code?: string; file?: string }) => e.code === "E_NETWORK" && e.file === kerasDest(MNV2_NOTOP));
  await assert.rejects(loadBackbone("mobilenet_v1_0.50_224"), (e: Error & { code?: string; file?: string }) => e.code === "E_NETWORK" && e.file === zooModelDir("mobilenet_v1_0.50_224"));
  delete process.env.CBIR_OFFLINE;
  const copy = path.join(tmpRoot, "sample-copy"); // `index` writes beside the images
  fs.cpSync(path.join(ROOT, "data/sample"), copy, { recursive: true });
  for (const cmd of ["demo", "index", "eval"]) {
    const r = spawnSync(process.execPath, ["bin/cbir.cjs", cmd, cmd === "index" ? copy : "data/sample", "--model", "mobilenet_v1_0.50_224", "--offline", ...(cmd === "index" ? [] : ["--out", path.join(tmpRoot, "out")])], {
      cwd: ROOT,
      encoding: "utf8",
      env: process.env,
    });
    assert.equal(r.status, 1, `${cmd}: ${r.stderr}`);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, r.stderr);
    assert.ok(errors[0].includes(zooModelDir("mobilenet_v1_0.50_224")) && /downloads are disabled/.test(errors[0]), errors[0]);
  }
  assert.equal(requests.length, 0);
});

test("the default mobilenet_v1_0.75_224 is the bundled copy: no network, no model cache", async () => {
  process.env.CBIR_OFFLINE = "1";
  assert.equal(bundledZooDir("mobilenet_v1_0.75_224"), path.join(ROOT, "models", "mobilenet_v1_0.75_224"));
  const b = await loadBackbone("mobilenet_v1_0.75_224", { runtime: "tfjs" });
  assert.equal(b.id, "zoo:mobilenet_v1_0.75_224");
  assert.deepEqual(b.outputShape, [7, 7, 768]);
  b.dispose();
  assert.equal(requests.length, 0);
  assert.equal(fs.existsSync(process.env.CBIR_CACHE_DIR!), false, "nothing is written to the model cache");
});

/** Serves the shared MobileNet v1 files under another width's published path (a test stand-in: same layout). */
function serveZoo(): { manifestBytes: number } {
  let manifestBytes = 0;
  for (const f of fs.readdirSync(sharedModel)) {
    const bytes = fs.readFileSync(path.join(sharedModel, f));
    files.set(`${ZOO_050}${f}`, bytes);
    if (f !== "model.json") manifestBytes += bytes.length;
  }
  return { manifestBytes };
}

test("zoo: first use downloads every shard with a progress bar, second use makes no request", { skip: skipZoo }, async () => {
  const { manifestBytes } = serveZoo();
  const events: ProgressEvent[] = [];
  const b = await loadBackbone("mobilenet_v1_0.50_224", { runtime: "tfjs", layer: "conv_pw_1_relu", reporter: { progress: (e) => events.push(e) } });
  assert.deepEqual(b.outputShape, [112, 112, 48]);
  b.dispose();
  assert.equal(requests.length, 56, "model.json and its 55 weight files");
  assert.equal(fs.readdirSync(zooModelDir("mobilenet_v1_0.50_224")).length, 56);
  const last = events.filter((e) => e.stage === "download").pop()!;
  assert.deepEqual([last.done, last.total], [manifestBytes, manifestBytes]);
  const again = await loadBackbone("mobilenet_v1_0.50_224", { runtime: "tfjs", layer: "conv_pw_1_relu" });
  again.dispose();
  assert.equal(requests.length, 56, "the cached model is reused without a request");
});

test("zoo: a cut shard leaves no model and no temporary folder; the next run succeeds", { skip: skipZoo }, async () => {
  serveZoo();
  cut.add(`${ZOO_050}group10-shard1of1`);
  await assert.rejects(loadBackbone("mobilenet_v1_0.50_224", { runtime: "tfjs" }), (e: Error & { code?: string }) => e.code === "E_NETWORK" && /group10-shard1of1 was cut/.test(e.message));
  assert.deepEqual(leftovers(process.env.CBIR_CACHE_DIR!), [], "no half model, no temporary folder");
  const b = await loadBackbone("mobilenet_v1_0.50_224", { runtime: "tfjs", layer: "conv_pw_1_relu" });
  b.dispose();
  assert.ok(fs.existsSync(path.join(zooModelDir("mobilenet_v1_0.50_224"), "model.json")));
});

test("zoo: a shard of another size than the manifest declares is refused, naming the URL", { skip: skipZoo }, async () => {
  serveZoo();
  const p = `${ZOO_050}group3-shard1of1`;
  const bytes = files.get(p)!;
  files.set(p, Buffer.concat([bytes, Buffer.from([0])]));
  await assert.rejects(loadBackbone("mobilenet_v1_0.50_224", { runtime: "tfjs" }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "E_DOWNLOAD_CHECK");
    // stopped at the first byte past the declared size, not after the whole body
    assert.ok(e.message.includes(`${base}${p.slice(1)} sent more than ${bytes.length} bytes`), e.message);
    assert.ok(e.message.includes(`declares ${bytes.length} bytes`), e.message);
    return true;
  });
  assert.deepEqual(leftovers(process.env.CBIR_CACHE_DIR!), []);
});

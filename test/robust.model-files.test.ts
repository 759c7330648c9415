/**
 * Model files stay where they belong and are read within bounds: a FIFO, a device or a folder given as
 * `--model`, as a weight file or as a `.h5` is refused at once (E_MODEL_FILE), never opened blocking or
 * read without limit; a weight file larger than its manifest says is refused; weight paths may not leave
 * the model's folder; a remote model.json cannot send its weight requests to another host.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { loadBackbone } from "../lib/backbone/index";
import { isCbirError } from "../lib/errors";
import { cbirSync, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-model-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
let good = "";
const load = (model: string) => loadBackbone(model, { layer: "c2", runtime: "tfjs" });
const refused = (re: RegExp) => (e: unknown) => isCbirError(e) && e.code === "E_MODEL_FILE" && re.test(e.message);

/** A copy of the tiny model whose model.json is edited by `edit`; returns its model.json. */
function variant(name: string, edit: (json: { weightsManifest: { paths: string[] }[] }, dir: string) => void): string {
  const dir = path.join(work, name);
  fs.cpSync(path.dirname(good), dir, { recursive: true });
  const file = path.join(dir, "model.json");
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  edit(json, dir);
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

before(() => {
  good = writeTinyModel(path.join(work, "good"));
  execFileSync("mkfifo", [path.join(work, "fifo.json"), path.join(work, "fifo.h5")]);
});

// a regression would hang on the FIFO: the timeout turns that into a failure
const opts = { timeout: 60_000 };

test("the tiny model loads (the refusals below are about the files, not the model)", opts, async () => {
  const b = await load(good);
  assert.equal(b.outputShape.at(-1), 16);
  b.dispose();
});

test("a FIFO, a device or a folder as the model is refused at once", opts, async () => {
  await assert.rejects(load(path.join(work, "fifo.json")), refused(/not a regular file/));
  await assert.rejects(load("/dev/zero"), refused(/not a regular file/));
  await assert.rejects(load(path.join(work, "fifo.h5")), refused(/not a regular file/));
  const folderAsJson = path.join(work, "folder.json");
  fs.mkdirSync(path.join(folderAsJson, "model.json"), { recursive: true });
  await assert.rejects(load(folderAsJson), refused(/not a regular file/));
});

test("weight files that are devices, FIFOs or larger than the manifest are refused", opts, async () => {
  const dev = variant("dev", (_j, dir) => {
    fs.rmSync(path.join(dir, "weights.bin"));
    fs.symlinkSync("/dev/zero", path.join(dir, "weights.bin"));
  });
  await assert.rejects(load(dev), refused(/weights\.bin is not a regular file/));
  const fifo = variant("fifo", (_j, dir) => {
    fs.rmSync(path.join(dir, "weights.bin"));
    execFileSync("mkfifo", [path.join(dir, "weights.bin")]);
  });
  await assert.rejects(load(fifo), refused(/not a regular file/));
  const big = variant("big", (_j, dir) => fs.appendFileSync(path.join(dir, "weights.bin"), Buffer.alloc(1024)));
  await assert.rejects(load(big), refused(/larger than expected/));
  // split into two shards whose first is already longer than the whole group needs
  const split = variant("split", (j, dir) => {
    fs.copyFileSync(path.join(dir, "weights.bin"), path.join(dir, "part2.bin"));
    fs.appendFileSync(path.join(dir, "weights.bin"), Buffer.alloc(8));
    j.weightsManifest[0].paths = ["weights.bin", "part2.bin"];
  });
  await assert.rejects(load(split), refused(/larger than expected|larger than the manifest/));
});

test("weight paths may not leave the model's folder", opts, async () => {
  for (const p of ["../../etc/passwd", "/etc/passwd", "sub/../../good/weights.bin", "%2e%2e/good/weights.bin", "file:///etc/passwd", "http://127.0.0.1:9/w.bin", "//127.0.0.1/w.bin", "..\\good\\weights.bin"]) {
    const file = variant(`out-${Buffer.from(p).toString("hex").slice(0, 24)}`, (j) => (j.weightsManifest[0].paths = [p]));
    await assert.rejects(load(file), refused(/leaves the model's folder/), p);
  }
  const nested = variant("nested", (j, dir) => {
    fs.mkdirSync(path.join(dir, "w"));
    fs.renameSync(path.join(dir, "weights.bin"), path.join(dir, "w", "weights.bin"));
    j.weightsManifest[0].paths = ["w/weights.bin"];
  });
  (await load(nested)).dispose(); // below the folder is fine
});

test("the CLI says it in one error line, exit 1", opts, () => {
  const r = cbirSync(["layers", "/dev/zero"], { timeoutMs: 60_000 });
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /^error: \/dev\/zero: model\.json is not a regular file/m);
  assert.doesNotMatch(r.err, /\n\s+at /);
});

/** Serves `routes` on 127.0.0.1; each hit is counted. */
async function serve(routes: Record<string, (res: http.ServerResponse) => void>): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    const route = routes[req.url ?? ""];
    if (route) route(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test("a remote model.json cannot send the weight requests to another host", opts, async () => {
  const json = JSON.parse(fs.readFileSync(good, "utf8"));
  const weights = fs.readFileSync(path.join(path.dirname(good), "weights.bin"));
  const other = await serve({ "/weights.bin": (res) => res.end(weights) });
  const main = await serve({
    "/abs/model.json": (res) => res.end(JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: [`${other.url}/weights.bin`] }] })),
    "/redirect/model.json": (res) => res.end(JSON.stringify(json)),
    "/redirect/weights.bin": (res) => res.writeHead(302, { location: `${other.url}/weights.bin` }).end(),
    "/big/model.json": (res) => res.end(JSON.stringify(json)),
    "/big/weights.bin": (res) => res.end(Buffer.concat([weights, Buffer.alloc(4096)])),
    "/ok/model.json": (res) => res.end(JSON.stringify(json)),
    "/ok/weights.bin": (res) => res.end(weights),
  });
  try {
    await assert.rejects(load(`${main.url}/abs/model.json`), refused(/leaves the model's folder/));
    await assert.rejects(load(`${main.url}/redirect/model.json`), refused(/outside .*127\.0\.0\.1/));
    await assert.rejects(load(`${main.url}/big/model.json`), refused(/larger than expected/));
    assert.deepEqual(other.hits, [], "the other host was never asked");
    (await load(`${main.url}/ok/model.json`)).dispose();
  } finally {
    await main.close();
    await other.close();
  }
});

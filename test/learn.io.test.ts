import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { getTf } from "../lib/backbone/tf";
import { embed, loadHead, loadSimilarityHead, loadTripletHead, predictPairs, saveHead, trainSimilarityHead, trainTripletHead } from "../lib/learn";
import { isCbirError, type ErrorCode } from "../lib/errors";
import { clusters } from "./learn.fixtures";

const train = clusters(10, 3, 24, 1);
const other = clusters(4, 3, 24, 2, { backbone: "synthetic:other" });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-learn-io-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fresh folder of its own under tmp: no test reads another test's files. */
const ownDir = (name: string) => fs.mkdtempSync(path.join(tmp, `${name}-`));

/** A small triplet head trained and saved in a folder of its own; returns the folder. */
async function savedTripletHead(): Promise<string> {
  const head = await trainTripletHead(train.m, train.labels, { epochs: 2, hiddenUnits: 16, embeddingDim: 8 });
  const dir = path.join(ownDir("triplet"), "index", "heads", "triplet");
  await saveHead(head, dir);
  head.dispose();
  return dir;
}

const code = (c: ErrorCode) => (e: unknown) => isCbirError(e) && e.code === c;

test("a triplet head saved to a folder loads back with identical embeddings, history and fingerprint", async () => {
  const tf = await getTf();
  const head = await trainTripletHead(train.m, train.labels, { epochs: 2, hiddenUnits: 16, embeddingDim: 8 });
  const dir = path.join(ownDir("roundtrip"), "index", "heads", "triplet");
  await saveHead(head, dir);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["head.json", "model.json", "weights.bin"]);
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  assert.equal(modelJson.format, "layers-model");
  assert.deepEqual(modelJson.weightsManifest[0].paths, ["./weights.bin"]);
  assert.equal(fs.statSync(path.join(dir, "weights.bin")).size, (24 * 16 + 16 + 16 * 8 + 8) * 4);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, "head.json"), "utf8"));
  assert.equal(meta.inputFingerprint.id, train.m.fingerprint.id);

  const before = tf.memory().numTensors;
  const loaded = await loadTripletHead(dir, { features: train.m });
  assert.equal(loaded.weightsHash, head.weightsHash);
  assert.deepEqual(loaded.history, head.history);
  const a = embed(head, train.m);
  const b = embed(loaded, train.m);
  assert.deepEqual(b.fingerprint, a.fingerprint);
  assert.deepEqual(Array.from(b.data), Array.from(a.data));
  loaded.dispose();
  assert.equal(tf.memory().numTensors, before, "dispose releases every tensor of the loaded head");
  head.dispose();
});

test("a similarity head round-trips too, with its target weights", async () => {
  const head = await trainSimilarityHead(train.m, train.labels, { epochs: 1, pairs: { count: 60 }, architecture: { hidden: [16, 8, 4] } });
  const dir = path.join(ownDir("sim"), "sim");
  await saveHead(head, dir);
  const loaded = await loadSimilarityHead(dir, { features: train.m.fingerprint });
  assert.deepEqual(loaded.target, head.target);
  assert.deepEqual(loaded.architecture, head.architecture);
  const pairs = [{ i: 0, j: 5 }, { i: 3, j: 9 }];
  assert.deepEqual(Array.from(predictPairs(loaded, train.m, pairs)), Array.from(predictPairs(head, train.m, pairs)));
  await assert.rejects(loadTripletHead(dir), /holds a similarity head, not a triplet head/);
  loaded.dispose();
  head.dispose();
});

test("loading for features of another pipeline is refused, naming what differs", async () => {
  const dir = await savedTripletHead();
  await assert.rejects(loadHead(dir, { features: other.m }), (e: unknown) => code("E_FINGERPRINT_MISMATCH")(e) && /backbone: "synthetic:clusters" vs "synthetic:other"/.test((e as Error).message) && /head\.json/.test((e as Error).message));
  const head = await loadTripletHead(dir);
  assert.throws(() => embed(head, other.m), code("E_FINGERPRINT_MISMATCH"));
  head.dispose();
});

test("missing, truncated, modified or foreign files are reported with the file and a fix", async () => {
  const src = await savedTripletHead();
  const own = ownDir("damaged");
  const copy = (name: string) => {
    const d = path.join(own, name);
    fs.cpSync(src, d, { recursive: true });
    return d;
  };
  await assert.rejects(loadHead(path.join(own, "nowhere")), (e: unknown) => code("E_MODEL_FILE")(e) && /head\.json is missing/.test((e as Error).message));

  const truncated = copy("truncated");
  const w = path.join(truncated, "weights.bin");
  fs.truncateSync(w, fs.statSync(w).size - 8);
  await assert.rejects(loadHead(truncated), (e: unknown) => code("E_MODEL_FILE")(e) && /declares/.test((e as Error).message) && (e as { file?: string }).file === w);

  const modified = copy("modified");
  const bytes = fs.readFileSync(path.join(modified, "weights.bin"));
  bytes[100] ^= 0xff;
  fs.writeFileSync(path.join(modified, "weights.bin"), bytes);
  await assert.rejects(loadHead(modified), code("E_INDEX_CORRUPT"));

  const noWeights = copy("no-weights");
  fs.rmSync(path.join(noWeights, "weights.bin"));
  await assert.rejects(loadHead(noWeights), (e: unknown) => code("E_MODEL_FILE")(e) && /weight file named in model\.json is missing/.test((e as Error).message));

  const badJson = copy("bad-json");
  fs.writeFileSync(path.join(badJson, "head.json"), "{\"format\":");
  await assert.rejects(loadHead(badJson), /head\.json is not valid JSON/);

  const foreign = copy("foreign");
  fs.writeFileSync(path.join(foreign, "head.json"), JSON.stringify({ format: "something-else" }));
  await assert.rejects(loadHead(foreign), /is not a saved learned head/);
});

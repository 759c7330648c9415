/**
 * `cbir export` from a folder index and from a Lance table built from the same files with the same
 * synthetic extractor (test/lance.fixtures.ts): both give the same .npy and ids, read back with readNpy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { buildOrUpdateIndex } from "../lib/store/index-store";
import { updateLanceIndex } from "../lib/store/lance-update";
import { readNpy } from "../lib/store/npy";
import { assertOneErrorLine, DIM, fakeExtractor, fp, makeFolder, scanItems, tmpdir, vectorOf } from "./lance.fixtures";
import { stepsFitter } from "../lib/pipeline/pipeline";

const CLI = path.join(__dirname, "..", "bin", "cbir.cjs");
const N = 9;

function cbir(args: string[]) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AWS_|GOOGLE_|AZURE_|CBIR_LANCE_)/.test(k)));
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...clean, CBIR_OFFLINE: "1" }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function readExport(file: string): { shape: number[]; data: Float32Array; ids: string[] } {
  const { shape, data } = readNpy(fs.readFileSync(file), file);
  const ids = fs.readFileSync(file.replace(/\.npy$/, ".ids.txt"), "utf8").split("\n");
  assert.equal(ids.pop(), "", "the ids file ends with a newline");
  return { shape, data, ids };
}

function assertClose(a: Float32Array, b: Float32Array, what: string) {
  assert.equal(a.length, b.length, what);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst < 1e-6, `${what}: largest difference ${worst}`);
}

async function twoStores(): Promise<{ root: string; folderIndex: string; lance: string }> {
  const root = makeFolder(N);
  // scan order reversed: the folder index keeps it, the export puts rows in id order as the Lance table does
  const items = scanItems(root).reverse();
  const folderIndex = path.join(tmpdir(), "idx");
  await buildOrUpdateIndex(items, fakeExtractor(), { dir: folderIndex, fingerprint: fp, root, post: stepsFitter(["center", "l2"]) });
  const lance = path.join(tmpdir(), "db.lance");
  const r = await updateLanceIndex(items, fakeExtractor(), { uri: lance, fingerprint: fp, root, post: stepsFitter(["center", "l2"]) });
  r.store!.close();
  return { root, folderIndex, lance };
}

test("export: a folder index and a Lance table of the same images give the same .npy and ids", async () => {
  const { root, folderIndex, lance } = await twoStores();
  const out = tmpdir("cbir-export-");
  const ids = scanItems(root).map((i) => i.name);
  const exports: Record<string, ReturnType<typeof readExport>> = {};
  for (const [name, uri] of [["folder", folderIndex], ["lance", `lance:${lance}`], ["folder-raw", folderIndex], ["lance-raw", lance]]) {
    const file = path.join(out, `${name}.npy`);
    const r = cbir(["export", uri, file, ...(name.endsWith("raw") ? ["--raw"] : [])]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${N} x ${DIM} float32, ${name.endsWith("raw") ? "raw vectors" : "search vectors \\(after center,l2\\)"} of the ${name.startsWith("lance") ? "Lance table" : "folder index"}`));
    exports[name] = readExport(file);
    assert.deepEqual(exports[name].shape, [N, DIM], name);
    assert.deepEqual(exports[name].ids, ids, `${name}: every id, in id order`);
  }
  assertClose(exports.folder.data, exports.lance.data, "search vectors");
  assertClose(exports["folder-raw"].data, exports["lance-raw"].data, "raw vectors");
  // raw is what the extractor made; the search vectors are centred and unit length
  ids.forEach((id, i) => assert.deepEqual(Array.from(exports["lance-raw"].data.subarray(i * DIM, (i + 1) * DIM)), Array.from(vectorOf(path.join(root, id)))));
  for (let i = 0; i < N; i++) {
    const row = exports.folder.data.subarray(i * DIM, (i + 1) * DIM);
    assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5, `row ${i} is unit length`);
  }
  assert.notDeepEqual(Array.from(exports.folder.data), Array.from(exports["folder-raw"].data));
});

test("export: a missing or non-index store, or an output that is a folder or in a missing one, is refused and nothing written", async () => {
  const { folderIndex } = await twoStores();
  const out = tmpdir("cbir-export-");
  const file = path.join(out, "v.npy");
  const missing = path.join(tmpdir(), "none");
  assertOneErrorLine(cbir(["export", missing, file]), missing, /cbir index/);
  assertOneErrorLine(cbir(["export", `${missing}.lance`, file]), `${missing}.lance`, /cbir index/);
  const images = makeFolder(2);
  assertOneErrorLine(cbir(["export", images, file]), images, /cbir index/);
  assert.deepEqual(fs.readdirSync(images).sort(), ["cat_0000.jpg", "dog_0001.jpg"], "the image folder is left as it was");
  assertOneErrorLine(cbir(["export", folderIndex, out]), out, /path of a file/);
  const inMissing = path.join(out, "no", "such", "v.npy");
  assertOneErrorLine(cbir(["export", folderIndex, inMissing]), inMissing, /existing folder/);
  assert.deepEqual(fs.readdirSync(out), [], "nothing written");
  assert.ok(!fs.existsSync(`${missing}.lance`) && !fs.existsSync(missing), "no store created");
});

test("export: an image folder stands for the .cbir-index inside it", async () => {
  const root = makeFolder(3);
  await buildOrUpdateIndex(scanItems(root), fakeExtractor(), { dir: path.join(root, ".cbir-index"), fingerprint: fp, root });
  const file = path.join(tmpdir("cbir-export-"), "v.npy");
  const r = cbir(["export", root, file, "-q"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  assert.deepEqual(readExport(file).shape, [3, DIM]);
});

/**
 * Options are validated before any work: every bad numeric or enum value of every command is refused with
 * a sharp-style message and exit 2, before the folder is walked or the model loaded (the model path given
 * here does not exist, so an option checked late would surface as that model error, exit 1, instead).
 * Also: the missing-index hint names the flag that sets the index folder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cliInProcess } from "./cli.fixtures";
import { resolveConfig } from "../lib/config";
import { indexFolder, queryIndex } from "../lib/pipeline/folder-index";
import { SAMPLE_DIR } from "./fixtures/bad-images";

const NO_MODEL = path.join(os.tmpdir(), "cbir-no-such-model", "model.json");

const cli = cliInProcess;

const BAD_PIPELINE: [string, string][] = [
  ["--hist-weight", "Infinity"],
  ["--hist-weight", "-Infinity"],
  ["--hist-weight", "NaN"],
  ["--hist-weight", "-1"],
  ["--hist-weight", ""],
  ["--hist-weight", "1e999"],
  ["--hist-weight", "0x10"],
  ["--whiten", "-1"],
  ["--whiten", "2.5"],
  ["--whiten", "1e9"],
  ["--batch-size", "-1"],
  ["--batch-size", "99999"],
  ["--batch-size", "0x10"],
  ["--pool", "avg"],
  ["--runtime", "gpu"],
];

/** The ranking options (demo, eval, query; `cbir index` has none: it ranks nothing). */
const BAD_RANKING: [string, string][] = [
  ["--k", "0"],
  ["--k", "1.5"],
  ["--k", "abc"],
  ["--k", "Infinity"],
  ["--k", "1e20"],
  ["--k", " "],
  ["--qe", "-1"],
  ["--qe", "x"],
  ["--metric", "manhattan"],
];

/** The ranking encoding and its refine step (eval and demo; index and query have their own). */
const BAD_SEARCH_VECTORS: [string, string][] = [
  ["--vectors", "f8"],
  ["--vectors", "I8"],
  ["--vectors", ""],
  ["--refine", "0"],
  ["--refine", "-2"],
  ["--refine", "1.5"],
  ["--refine", "x"],
  ["--refine", "1e9"],
];

const COMMANDS: Record<string, { args: string[]; extra: [string, string][] }> = {
  demo: { args: ["demo", SAMPLE_DIR], extra: [...BAD_RANKING, ...BAD_SEARCH_VECTORS] },
  index: { args: ["index", SAMPLE_DIR], extra: [["--commit-every", "0"], ["--commit-every", "x"], ["--commit-every", "-5"]] },
  eval: { args: ["eval", SAMPLE_DIR], extra: [["--at", "0"], ["--at", "1,,2"], ["--at", "x"], ["--at", "1.5"], ...BAD_RANKING, ...BAD_SEARCH_VECTORS] },
  query: { args: ["query", SAMPLE_DIR, path.join(SAMPLE_DIR, "bird1.png")], extra: [...BAD_RANKING, ["--layout", "mosaic"]] },
};

for (const [name, { args, extra }] of Object.entries(COMMANDS)) {
  test(`cbir ${name}: every bad option value is exit 2 before any work`, { skip: !fs.existsSync(SAMPLE_DIR) && "data/sample is absent" }, async () => {
    for (const [flag, value] of [...BAD_PIPELINE, ...extra]) {
      // query: data/sample has no index, so an option checked late would give "holds no index" instead
      const r = await cli([...args, "--model", NO_MODEL, `${flag}=${value}`]);
      const what = `${name} ${flag} ${JSON.stringify(value)}`;
      assert.equal(r.code, 2, `${what}: ${r.err}`);
      assert.match(r.err, /Expected |error: option|argument .* is invalid|Allowed choices/, what);
      assert.doesNotMatch(r.err, /does not exist|holds no index|backbone|internal error/, `${what} was checked too late: ${r.err}`);
      assert.equal(r.out, "", `${what}: nothing ran`);
      assert.equal(r.err.split("\n").filter((l) => l.startsWith("error:")).length, 1, `${what}: one error line: ${r.err}`);
    }
  });
}

test("cbir index refuses the options of the commands that rank or draw, which it would ignore", async () => {
  for (const flag of ["-k=5", "--k=5", "--metric=cosine", "--qe=3", "--out=/tmp/x"]) {
    const r = await cli(["index", SAMPLE_DIR, "--model", NO_MODEL, flag]);
    assert.equal(r.code, 2, `index ${flag}: ${r.err}`);
    assert.match(r.err, /unknown option/, `index ${flag}`);
    assert.equal(r.out, "", `index ${flag}: nothing ran`);
  }
});

test("the library refuses the same values at its entry", async () => {
  for (const bad of [{ histogramWeight: Infinity }, { histogramWeight: NaN }, { k: 1e20 }, { whiten: 1e9 }, { batchSize: 1e6 }, { outDir: "" }, { center: "no" as never }, { vectors: "f8" as never }, { refine: 0 }, { refine: 2.5 }])
    assert.throws(() => resolveConfig(bad), { code: "E_BAD_OPTION" }, JSON.stringify(bad));
  // indexFolder checks its config before it walks the folder: a missing folder would be E_NO_FOLDER
  await assert.rejects(indexFolder(path.join(os.tmpdir(), "cbir-no-such-folder"), { histogramWeight: Infinity }), { code: "E_BAD_OPTION" });
});

test("the missing-index hint names the flag that sets the index folder", async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-no-index-"));
  try {
    await assert.rejects(queryIndex(empty, ["x.png"]), (e: Error) => /--index/.test(e.message) && !/--out/.test(e.message));
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

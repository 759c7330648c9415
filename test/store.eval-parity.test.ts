/**
 * `cbir eval --index <uri>` scores the stored vectors exactly as `cbir eval` scores freshly extracted ones:
 * the bundled sample through the default model, evaluated fresh, from a folder index, and from a local Lance
 * table, prints the same settings and the same P@k / mAP line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";

const ROOT = path.join(__dirname, "..");
const CLI = path.join(ROOT, "bin", "cbir.cjs");
const SAMPLE = path.join(ROOT, "data", "sample");

function cbir(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args, "--quiet"], { encoding: "utf8", env: { ...process.env, CBIR_OFFLINE: "1" }, timeout: 300_000 });
  assert.equal(r.status, 0, `cbir ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stdout;
}

/** The settings line without the index-only words, and the overall P@k / mAP line. */
function scores(stdout: string): { settings: string; overall: string } {
  const lines = stdout.split("\n");
  const settings = lines.find((l) => l.startsWith("settings: "));
  const overall = lines.find((l) => /^P@1 /.test(l));
  assert.ok(settings && overall, stdout);
  return { settings: settings.replace(/\bgem2\b/, "gem"), overall };
}

test("cbir eval gives the same P@k and mAP fresh, from a folder index and from a Lance table", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-parity-"));
  const folderIndex = path.join(dir, "index");
  const lance = `lance:${path.join(dir, "sample.lance")}`;
  const fresh = scores(cbir(["eval", SAMPLE, "--at", "1,3,5"]));
  cbir(["index", SAMPLE, "--index", folderIndex]);
  cbir(["index", SAMPLE, "--index", lance]);
  const fromFolder = scores(cbir(["eval", SAMPLE, "--index", folderIndex, "--at", "1,3,5"]));
  const fromLance = scores(cbir(["eval", SAMPLE, "--index", lance, "--at", "1,3,5"]));
  assert.match(fresh.overall, /P@1 [01]\.\d{3} +P@3 [01]\.\d{3} +P@5 [01]\.\d{3} +mAP [01]\.\d{3}/);
  assert.equal(fromFolder.overall, fresh.overall);
  assert.equal(fromLance.overall, fresh.overall);
  assert.equal(fromFolder.settings, fresh.settings);
  assert.equal(fromLance.settings, fresh.settings);
  assert.doesNotMatch(fromLance.settings, /undefined/);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatLayerTable } from "../lib/cli/layers";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

test("formatLayerTable aligns columns, marks the default cut, prints open sizes as ?", () => {
  const text = formatLayerTable(
    [
      { name: "input_1", type: "InputLayer", outputShape: [-1, -1, 3], params: 0 },
      { name: "block4_pool", type: "MaxPooling2D", outputShape: [14, 14, 512], params: 0 },
      { name: "fc1", type: "Dense", outputShape: [4096], params: 102764544 },
    ],
    "block4_pool",
  );
  const lines = text.split("\n");
  assert.equal(lines.length, 5);
  assert.match(lines[0], /^layer\s+type\s+output\s+params\s+values$/);
  assert.match(lines[2], /^input_1\s+InputLayer\s+\?x\?x3\s+0\s+\?$/);
  assert.match(lines[3], /^block4_pool \*\s+MaxPooling2D\s+14x14x512\s+0\s+100,352$/);
  assert.match(lines[4], /102,764,544\s+4,096$/);
});

test("`cbir layers` prints the table of a model and fails cleanly on unknown names", () => {
  const cli = path.resolve(__dirname, "../bin/cbir.cjs");
  const ok = spawnSync(process.execPath, [cli, "layers", "keras/mobilenet_v2"], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /default cut out_relu/);
  assert.match(ok.stdout, /out_relu \*\s+ReLU\s+7x7x1280/);
  assert.match(ok.stdout, /block_16_project\s+Conv2D\s+7x7x320\s+307,200/);
  assert.equal(ok.stderr, "");
  const bad = spawnSync(process.execPath, [cli, "layers", "keras/mobilenet_v3"], { encoding: "utf8" });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error: unknown model 'keras\/mobilenet_v3'. Closest names: keras\/mobilenet_v2/);
});

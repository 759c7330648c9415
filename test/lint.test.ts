/** Source rules that no compiler enforces but the notebooks' kernel (tslab) needs. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { tslabImportProblems } from "../scripts/check-tslab-imports";

test("lib/ imports resolve under tslab: no folder imports, no file named like a package it imports", () => {
  assert.deepEqual(tslabImportProblems(path.resolve(__dirname, "../lib")), []);
});

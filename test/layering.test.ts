/**
 * The layering rules of .dependency-cruiser.cjs hold for lib/, bench/, scripts/ and test/: no cycles, no
 * stage importing a higher one, lib/ never importing lib/cli/, bench/, scripts/ or test/. A second test runs
 * the same rules on a small tree that breaks each of them, so a rule that stopped matching would be noticed.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const CRUISER = path.join(ROOT, "node_modules", "dependency-cruiser", "bin", "dependency-cruise.mjs");
const RULES = path.join(ROOT, ".dependency-cruiser.cjs");

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
  cycle?: { name: string }[];
}

function cruise(cwd: string, targets: string[]): Violation[] {
  const run = spawnSync(process.execPath, [CRUISER, "--config", RULES, "--output-type", "json", ...targets], { cwd, encoding: "utf8", maxBuffer: 256 << 20 });
  assert.ok(run.stdout, `dependency-cruiser printed nothing (exit ${run.status}): ${run.stderr}`);
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

function describe(v: Violation): string {
  const cycle = v.cycle?.length ? ` (cycle: ${[v.from, ...v.cycle.map((c) => c.name)].join(" -> ")})` : "";
  return `${v.rule.name}: ${v.from} -> ${v.to}${cycle}`;
}

test("lib/, bench/, scripts/ and test/ keep the layering rules", () => {
  const violations = cruise(ROOT, ["lib", "bench", "scripts", "test"]);
  assert.deepEqual(violations.map(describe), [], "see the stages in .dependency-cruiser.cjs");
});

test("each layering rule reports a tree that breaks it, by the rule's name", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-layering-"));
  try {
    const files: Record<string, string> = {
      "tsconfig.json": JSON.stringify({ compilerOptions: { module: "commonjs", moduleResolution: "node" } }),
      "lib/types.ts": "export type Id = string;\n",
      // rank importing store: a lower stage reaching up
      "lib/rank/engine.ts": 'import { save } from "../store/save";\nexport const rank = () => save();\n',
      "lib/store/save.ts": "export const save = () => 1;\n",
      // lib importing the CLI
      "lib/plot/figure.ts": 'import { run } from "../cli/main";\nexport const draw = () => run();\n',
      "lib/cli/main.ts": "export const run = () => 2;\n",
      // lib importing a tool
      "lib/reduce/steps.ts": 'import { peer } from "../../bench/peer";\nexport const fit = () => peer();\n',
      "bench/peer.ts": "export const peer = () => 3;\n",
      // a cycle through type-only imports
      "lib/backbone/a.ts": 'import type { B } from "./b";\nexport type A = { b?: B };\n',
      "lib/backbone/b.ts": 'import type { A } from "./a";\nexport type B = { a?: A };\n',
      // a folder no stage lists
      "lib/misc/thing.ts": 'import type { Id } from "../types";\nexport const id: Id = "x";\n',
    };
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    const found = cruise(dir, ["lib", "bench"]).map(describe);
    for (const expected of [
      "stage-order:rank: lib/rank/engine.ts -> lib/store/save.ts",
      "lib-never-imports-cli: lib/plot/figure.ts -> lib/cli/main.ts",
      "lib-never-imports-tools: lib/reduce/steps.ts -> bench/peer.ts",
      "unlisted-lib-file: lib/misc/thing.ts -> lib/types.ts",
    ])
      assert.ok(found.includes(expected), `expected "${expected}" among:\n${found.join("\n")}`);
    assert.ok(found.some((f) => f.startsWith("no-cycles: lib/backbone/")), `expected a no-cycles violation among:\n${found.join("\n")}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Every notebook in notebooks/ is committed without outputs (they are produced by running it; see the
 * README), stays under 2 MB, and executes headless through Jupyter with the tslab kernel. A failing cell
 * fails the test, naming the notebook and printing the cell.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { findJupyterPython, listNotebooks, PROJECT_ROOT, registerKernel } from "../scripts/jupyter";

const notebooks = listNotebooks();
const python = findJupyterPython();
const skipRun = process.env.CBIR_SKIP_NOTEBOOKS
  ? "CBIR_SKIP_NOTEBOOKS is set"
  : !python
    ? "Jupyter not installed (sudo apt-get install jupyter-notebook python3-nbclient python3-nbconvert, or scripts/install.sh)"
    : false;

test("there are notebooks, each importing lib/ through the notebooks/lib link", () => {
  assert.ok(notebooks.length >= 1, "no notebook in notebooks/");
  const link = path.join(PROJECT_ROOT, "notebooks", "lib");
  assert.ok(fs.lstatSync(link).isSymbolicLink(), "notebooks/lib must be a symbolic link to ../lib");
  assert.equal(fs.readlinkSync(link), "../lib");
});

for (const nb of notebooks) {
  const name = path.basename(nb);
  test(`${name} is committed clean: no outputs, no execution counts, under 2 MB`, () => {
    assert.ok(fs.statSync(nb).size < 2 * 1024 * 1024, `${name} is over 2 MB`);
    const json = JSON.parse(fs.readFileSync(nb, "utf8"));
    assert.equal(json.metadata?.kernelspec?.name, "tslab", `${name} must use the tslab kernel`);
    for (const [i, cell] of json.cells.entries()) {
      if (cell.cell_type !== "code") continue;
      assert.deepEqual(cell.outputs, [], `${name} cell ${i} has outputs: clear them before committing (Cell > All Output > Clear)`);
      assert.equal(cell.execution_count, null, `${name} cell ${i} has an execution count`);
      const src = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
      assert.ok(!/from\s+["']\.\.\/lib/.test(src), `${name} cell ${i} imports ../lib: import ./lib (the committed link) instead`);
    }
  });

  test(`${name} executes headless with the tslab kernel`, { skip: skipRun, timeout: 15 * 60 * 1000 }, () => {
    const env = registerKernel();
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cbir-nb-")), name);
    const r = spawnSync(python!, [path.join(PROJECT_ROOT, "scripts", "run-notebook.py"), nb, out, "900"], { env, encoding: "utf8", cwd: path.dirname(nb) });
    if (r.status !== 0) process.stderr.write(`\n${name} failed:\n${r.stderr}\n`);
    assert.equal(r.status, 0, `${name} failed to execute:\n${r.stderr.slice(-4000)}`);
    const executed = JSON.parse(fs.readFileSync(out, "utf8"));
    const errors = executed.cells.flatMap((c: { outputs?: { output_type: string }[] }) => (c.outputs ?? []).filter((o) => o.output_type === "error"));
    assert.equal(errors.length, 0, `${name} has error outputs`);
  });
}

/**
 * The tslab kernel registered inside the project (git-ignored `.jupyter/`), so nothing is installed in
 * the user's home and the kernel always runs this checkout's node_modules/tslab. Shared by
 * `npm run notebook` and the notebook test.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";

export const PROJECT_ROOT = path.resolve(__dirname, "..");
export const NOTEBOOK_DIR = path.join(PROJECT_ROOT, "notebooks");

/** Debian's python3 has Jupyter; a python3 earlier on PATH (pyenv) usually has not. */
export function findJupyterPython(): string | undefined {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(py, ["-c", "import nbclient, nbformat, notebook"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** Writes .jupyter/kernels/tslab/kernel.json and returns the environment that makes Jupyter see it. */
export function registerKernel(): NodeJS.ProcessEnv {
  const dir = path.join(PROJECT_ROOT, ".jupyter", "kernels", "tslab");
  fs.mkdirSync(dir, { recursive: true });
  const spec = {
    argv: [process.execPath, path.join(PROJECT_ROOT, "node_modules", "tslab", "bin", "tslab"), "kernel", "--config-path", "{connection_file}"],
    display_name: "TypeScript (tslab, cbir)",
    language: "typescript",
  };
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(spec, null, 2));
  const jupyterPath = [path.join(PROJECT_ROOT, ".jupyter"), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter);
  return { ...process.env, JUPYTER_PATH: jupyterPath };
}

export function listNotebooks(): string[] {
  return fs
    .readdirSync(NOTEBOOK_DIR)
    .filter((f) => f.endsWith(".ipynb"))
    .sort()
    .map((f) => path.join(NOTEBOOK_DIR, f));
}

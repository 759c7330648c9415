/**
 * `npm run notebook`: the classic Jupyter Notebook on localhost only (with its token), the tslab kernel
 * registered inside the project, opened on notebooks/.
 */
import { spawn } from "node:child_process";
import { NOTEBOOK_DIR, findJupyterPython, registerKernel } from "./jupyter";

const python = findJupyterPython();
if (!python) {
  process.stderr.write("error: Jupyter Notebook not found. Fix: sudo apt-get install jupyter-notebook python3-nbclient python3-nbconvert (or run scripts/install.sh).\n");
  process.exit(1);
}
const env = registerKernel();
const args = ["-m", "notebook", "--ip=127.0.0.1", "--no-browser", `--notebook-dir=${NOTEBOOK_DIR}`, ...process.argv.slice(2)];
if (process.getuid?.() === 0) args.push("--allow-root");
const child = spawn(python, args, { env, stdio: "inherit" });
child.on("exit", (code) => process.exit(code ?? 1));

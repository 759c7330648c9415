/** Peers run in the same bench: Debian's Python packages, called as child processes. Never runtime deps. */
import { spawnSync } from "node:child_process";

export const PEER_PYTHON = "/usr/bin/python3";

/** True when `import <module>` works in Debian's python3. */
export function peerAvailable(module: string): boolean {
  return spawnSync(PEER_PYTHON, ["-c", `import ${module}`], { stdio: "ignore" }).status === 0;
}

/** Runs a Python snippet that prints one JSON object on its last line of stdout. */
export function runPeer(code: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Record<string, unknown> {
  const r = spawnSync(PEER_PYTHON, ["-c", code, ...args], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`peer failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const last = r.stdout.trim().split("\n").pop() ?? "{}";
  return JSON.parse(last);
}

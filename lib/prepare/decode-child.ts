/**
 * The decode child process, for the one format whose cost no header tells: SVG. librsvg needs about
 * 2.6 KB per element and time quadratic in the length of a text run (a 100,000-character <text> took
 * 332 s here, a 9 MB one exhausted 24 GB), and a native call cannot be stopped from JavaScript. So SVGs
 * are rendered in a child process that runs the same sharp plan (runSharpPlan's own source), one at a
 * time; a watchdog kills it when it passes the time budget or grows past the memory budget, the file is
 * skipped with that reason, and the next SVG starts a fresh child. The child is started on the first SVG
 * and never keeps the parent alive.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { CbirError } from "../errors";
import type { DecodeLimits } from "./budget";
import { DECODE_LIMIT_FLAGS } from "./budget";
import { runSharpPlan, describeSharpError, type RawPixels, type SharpPlan } from "./sharp-plan";

/** How often the watchdog reads the child's resident memory. */
const WATCH_MS = 25;

interface Reply {
  id: number;
  data?: Uint8Array;
  width?: number;
  height?: number;
  error?: string;
}

function childScript(): string {
  return `"use strict";
var __name = function (f) { return f; }; // esbuild (tsx) may wrap nested functions in __name()
const sharp = require(${JSON.stringify(require.resolve("sharp"))});
sharp.cache(false);
const runSharpPlan = ${runSharpPlan.toString()};
process.on("disconnect", () => process.exit(0));
process.on("message", (m) => {
  if (m.ping) return process.send({ id: m.id });
  runSharpPlan(sharp, Buffer.from(m.input.buffer, m.input.byteOffset, m.input.byteLength), m.plan).then(
    (r) => process.send({ id: m.id, data: r.data, width: r.width, height: r.height }),
    (e) => process.send({ id: m.id, error: String((e && e.message) || e) }),
  );
});
`;
}

function residentBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

class DecodeChild {
  private child: ChildProcess | undefined;
  private baseline = 0;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  /** Children started so far (a test reads it to see that a killed child is replaced). */
  started = 0;

  /** Runs one plan in the child, after the ones already queued. */
  run(file: string, input: Buffer, plan: SharpPlan, limits: DecodeLimits): Promise<RawPixels> {
    const job = this.queue.then(() => this.runNow(file, input, plan, limits));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private async start(): Promise<ChildProcess> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null && this.child.connected) return this.child;
    const child = spawn(process.execPath, ["-e", childScript()], { stdio: ["ignore", "ignore", "ignore", "ipc"], serialization: "advanced" }); // libvips's warnings are not ours to print
    this.started++;
    this.child = child;
    await this.request(child, { ping: true }, 60_000, 0); // sharp loaded: the memory it now holds is the baseline
    this.baseline = residentBytes(child.pid ?? -1) ?? 0;
    return child;
  }

  private async runNow(file: string, input: Buffer, plan: SharpPlan, limits: DecodeLimits): Promise<RawPixels> {
    const child = await this.start();
    let reply: Reply;
    try {
      reply = await this.request(child, { input, plan }, limits.timeoutSeconds * 1000, limits.maxMemoryBytes);
    } catch (e) {
      const reason = (e as Error).message;
      if (reason === "timeout")
        throw budgetError(file, `rendering took longer than ${limits.timeoutSeconds} s`, "timeoutSeconds");
      if (reason === "memory")
        throw budgetError(file, `rendering needed more than ${Math.round(limits.maxMemoryBytes / 1048576)} MB`, "maxMemoryBytes");
      throw new CbirError("E_BAD_IMAGE", `${file}: the decoding process ended (${reason}).`, { file, fix: "remove or replace the file; it is skipped meanwhile." });
    }
    if (reply.error !== undefined)
      throw new CbirError("E_BAD_IMAGE", `${file}: ${describeSharpError(new Error(reply.error))}.`, { file, fix: "remove or replace the file; it is skipped meanwhile." });
    const data = reply.data!;
    return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), width: reply.width!, height: reply.height! };
  }

  /** One message and its reply; the child is killed (and forgotten) on a timeout or when it grows too much. */
  private request(child: ChildProcess, message: object, timeoutMs: number, maxGrowth: number): Promise<Reply> {
    const id = this.nextId++;
    child.ref();
    (child.channel as { ref?: () => void } | undefined)?.ref?.();
    return new Promise<Reply>((resolve, reject) => {
      const finish = (err: Error | null, reply?: Reply) => {
        clearTimeout(timer);
        clearInterval(watch);
        child.off("message", onMessage);
        child.off("exit", onExit);
        child.unref();
        (child.channel as { unref?: () => void } | undefined)?.unref?.();
        if (err) {
          if (this.child === child) this.child = undefined;
          child.kill("SIGKILL");
          reject(err);
        } else resolve(reply!);
      };
      const onMessage = (m: Reply) => {
        if (m && m.id === id) finish(null, m);
      };
      const onExit = (code: number | null, signal: string | null) => finish(new Error(signal ? `signal ${signal}` : `exit code ${code}`));
      const timer = setTimeout(() => finish(new Error("timeout")), timeoutMs);
      const watch = setInterval(() => {
        if (maxGrowth <= 0) return;
        const rss = residentBytes(child.pid ?? -1);
        if (rss !== undefined && rss - this.baseline > maxGrowth) finish(new Error("memory"));
      }, WATCH_MS);
      child.on("message", onMessage);
      child.on("exit", onExit);
      child.send({ id, ...message });
    });
  }
}

function budgetError(file: string, reason: string, limit: keyof DecodeLimits): CbirError {
  return new CbirError("E_BAD_IMAGE", `${file}: ${reason}.`, { file, fix: `raise the limit with ${DECODE_LIMIT_FLAGS[limit]} if this image is wanted.` });
}

const shared = new DecodeChild();

export function decodeInChild(file: string, input: Buffer, plan: SharpPlan, limits: DecodeLimits): Promise<RawPixels> {
  return shared.run(file, input, plan, limits);
}

/** Children started in this process (for tests). */
export function decodeChildrenStarted(): number {
  return shared.started;
}

/**
 * Exposure: no part of the toolkit opens a network port or connects anywhere. The real CLI runs under a
 * preload script (`node --require`) that records every listen, server, UDP socket, outgoing connection
 * and fetch, and lists the process's IP sockets (from /proc) when it exits. And `npm run notebook`
 * serves Jupyter on 127.0.0.1 only, with its token left on.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { PROJECT_ROOT, SAMPLE_DIR, cbirSync, copySample, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-exposure-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
const haveSample = fs.existsSync(SAMPLE_DIR);
const guard = path.join(work, "net-guard.cjs");

/** Written as plain CommonJS so it loads before tsx and everything else. */
const GUARD_SOURCE = `"use strict";
const fs = require("fs");
const calls = [];
const describe = (args) => args.filter((a) => typeof a !== "function").map((a) => { try { return JSON.stringify(a); } catch { return String(a); } }).join(", ");
function wrap(obj, name, label) {
  const orig = obj[name];
  if (typeof orig !== "function") return;
  obj[name] = function (...args) {
    calls.push(label + "(" + describe(args) + ")");
    return orig.apply(this, args);
  };
}
const net = require("net"), http = require("http"), https = require("https"), http2 = require("http2"), dgram = require("dgram"), tls = require("tls");
wrap(net.Server.prototype, "listen", "net.Server.listen");
wrap(net, "createServer", "net.createServer");
wrap(http, "createServer", "http.createServer");
wrap(https, "createServer", "https.createServer");
wrap(http2, "createServer", "http2.createServer");
wrap(http2, "createSecureServer", "http2.createSecureServer");
wrap(dgram, "createSocket", "dgram.createSocket");
wrap(net.Socket.prototype, "connect", "net.Socket.connect");
wrap(tls, "connect", "tls.connect");
wrap(http, "request", "http.request");
wrap(https, "request", "https.request");
if (typeof globalThis.fetch === "function") wrap(globalThis, "fetch", "fetch");
/** Inodes of the IP sockets in this network namespace, to tell them from pipes and unix sockets. */
function ipInodes() {
  const out = new Set();
  for (const t of ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"]) {
    let text = "";
    try { text = fs.readFileSync("/proc/self/net/" + t, "utf8"); } catch { continue; }
    for (const line of text.split("\\n").slice(1)) { const f = line.trim().split(/\\s+/); if (f[9]) out.add(f[9]); }
  }
  return out;
}
process.on("exit", (code) => {
  const inodes = ipInodes();
  const sockets = [];
  let fds = [];
  try { fds = fs.readdirSync("/proc/self/fd"); } catch {}
  for (const fd of fds) {
    let link = "";
    try { link = fs.readlinkSync("/proc/self/fd/" + fd); } catch { continue; }
    const m = /^socket:\\[(\\d+)\\]$/.exec(link);
    if (m && inodes.has(m[1])) sockets.push(fd + " -> " + link);
  }
  fs.writeFileSync(process.env.CBIR_NET_GUARD_OUT, JSON.stringify({ loaded: true, code, calls, sockets, procNet: fs.existsSync("/proc/self/net/tcp") }));
});
`;

interface GuardRecord {
  loaded: boolean;
  code: number;
  calls: string[];
  sockets: string[];
  procNet: boolean;
}

let model = "";
let db = "";
before(() => {
  fs.writeFileSync(guard, GUARD_SOURCE);
  if (!haveSample) return;
  model = writeTinyModel(path.join(work, "model"));
  db = path.join(work, "db");
  copySample(SAMPLE_DIR, db, ["bird1.png", "bird2.png", "bird3.png", "fruit1.png", "fruit2.png", "fruit3.png"]);
});

function guarded(name: string, args: string[]): GuardRecord {
  const out = path.join(work, `${name}.guard.json`);
  const r = cbirSync(args, { preload: [guard], env: { CBIR_NET_GUARD_OUT: out } });
  assert.equal(r.code, 0, `${name}: ${r.err}`);
  assert.ok(fs.existsSync(out), `${name}: the guard ran and reported`);
  return JSON.parse(fs.readFileSync(out, "utf8")) as GuardRecord;
}

test("the guard sees a listening server and its socket (so a silent result means something)", () => {
  const out = path.join(work, "self-check.guard.json");
  const script = path.join(work, "listen.cjs");
  fs.writeFileSync(script, `require("http").createServer().listen(0, "127.0.0.1", () => process.exit(0));\n`);
  const r = spawnSync(process.execPath, ["--require", guard, script], { env: { ...process.env, CBIR_NET_GUARD_OUT: out }, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const rec = JSON.parse(fs.readFileSync(out, "utf8")) as GuardRecord;
  assert.ok(rec.calls.some((c) => c.startsWith("http.createServer")), JSON.stringify(rec.calls));
  assert.ok(rec.calls.some((c) => c.startsWith("net.Server.listen")), JSON.stringify(rec.calls));
  if (rec.procNet) assert.equal(rec.sockets.length, 1, `the open listening socket is seen at exit: ${rec.sockets}`);
});

test("cbir demo, index and query open no port and make no connection", { skip: haveSample ? false : "data/sample missing" }, () => {
  const idx = path.join(work, "idx");
  const runs: [string, string[]][] = [
    ["demo", ["demo", db, "--model", model, "--layer", "c2", "-q", "--out", path.join(work, "out")]], // with the t-SNE map
    ["index", ["index", db, "--index", idx, "--model", model, "--layer", "c2", "-q"]],
    ["query", ["query", idx, path.join(SAMPLE_DIR, "bird5.png"), "-q", "--out", path.join(work, "out-q")]],
  ];
  for (const [name, args] of runs) {
    const rec = guarded(name, args);
    // tsx (which runs the TypeScript sources) connects to its parent's local IPC pipe when there is one;
    // that is a unix-domain socket in a private folder, not a network port
    const tsxIpc = /^net\.Socket\.connect\(\[\{"path":"[^"]*\/tsx-\d+\/\d+\.pipe"\}/;
    assert.deepEqual(rec.calls.filter((c) => !tsxIpc.test(c)), [], `${name}: network calls`);
    assert.deepEqual(rec.sockets, [], `${name}: IP sockets open at exit`);
  }
  assert.ok(fs.existsSync(path.join(work, "out", "tsne.png")), "the demo ran in full");
  assert.ok(fs.existsSync(path.join(work, "out-q", "queries", "bird5_rec.png")), "the query ran in full");
});

test("npm run notebook: Jupyter on 127.0.0.1 only, token not disabled", () => {
  const source = fs.readFileSync(path.join(PROJECT_ROOT, "scripts", "notebook.ts"), "utf8");
  const argsLine = source.split("\n").find((l) => /^const args = \[/.test(l));
  assert.ok(argsLine, "scripts/notebook.ts builds its Jupyter arguments in `const args = [...]`");
  assert.ok(argsLine.includes('"--ip=127.0.0.1"'), argsLine);
  // nothing in the launch scripts widens the address or turns authentication off
  for (const file of ["notebook.ts", "jupyter.ts"]) {
    const text = fs.readFileSync(path.join(PROJECT_ROOT, "scripts", file), "utf8");
    assert.doesNotMatch(text, /--ip=(?!127\.0\.0\.1)|0\.0\.0\.0|\.token\s*=|\.password\s*=|disable_check_xsrf|allow_origin|--no-token/i, file);
  }
});

/**
 * One TensorFlow.js instance for the whole toolkit, on the WebAssembly backend (SIMD; Node has no
 * wasm threads), set up once. The .wasm files are read from node_modules: nothing is downloaded.
 * When `@tensorflow/tfjs-node` happens to be installed and loads, it is used instead (much faster); it is
 * never required. `CBIR_TFJS_BACKEND=cpu|wasm|tensorflow` forces a backend (cpu is pure JS and slow).
 */
import * as path from "node:path";
import * as tfjs from "@tensorflow/tfjs";
import { CbirError } from "../errors";

export type Tf = typeof tfjs;

export const TFJS_BACKENDS = ["wasm", "tensorflow", "cpu"] as const;
export type TfjsBackendName = (typeof TFJS_BACKENDS)[number];

let ready: Promise<Tf> | undefined;

/** The tfjs module; its backend is ready when the promise resolves. Safe to call many times. */
export function getTf(): Promise<Tf> {
  if (!ready) {
    ready = setUp().catch((e) => {
      ready = undefined; // let a later call retry
      throw e;
    });
  }
  return ready;
}

/** The tfjs module without waiting for the backend (for types and graph building only). */
export function tfModule(): Tf {
  return tfjs;
}

async function setUp(): Promise<Tf> {
  // PROD silences tfjs's console notices ("install the node backend", kernel warnings): lib never prints.
  tfjs.env().set("PROD", true);
  const forced = process.env.CBIR_TFJS_BACKEND as TfjsBackendName | undefined;
  if (forced && !(TFJS_BACKENDS as readonly string[]).includes(forced)) {
    throw new CbirError("E_BAD_OPTION", `Expected one of ${TFJS_BACKENDS.join(", ")} for CBIR_TFJS_BACKEND but received ${JSON.stringify(forced)}.`);
  }
  if ((!forced || forced === "tensorflow") && tryNodeBackend()) {
    if (await tfjs.setBackend("tensorflow").catch(() => false)) return tfjs;
  }
  if (!forced || forced === "wasm") {
    const wasm = require("@tensorflow/tfjs-backend-wasm") as typeof import("@tensorflow/tfjs-backend-wasm");
    const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
    wasm.setWasmPaths(dir + path.sep);
    const before = processListeners();
    const ok = await tfjs.setBackend("wasm").catch(() => false);
    if (ok) await tfjs.ready();
    removeListenersAddedSince(before);
    if (ok) return tfjs;
    if (forced) throw new CbirError("E_BAD_OPTION", "the tfjs wasm backend could not start.", { fix: "reinstall @tensorflow/tfjs-backend-wasm, or set CBIR_TFJS_BACKEND=cpu." });
  }
  await tfjs.setBackend("cpu");
  await tfjs.ready();
  return tfjs;
}

const EVENTS = ["uncaughtException", "unhandledRejection"] as const;

type AnyListener = (...args: unknown[]) => void;

function listenersOf(ev: (typeof EVENTS)[number]): AnyListener[] {
  return (ev === "uncaughtException" ? process.listeners("uncaughtException") : process.listeners("unhandledRejection")) as AnyListener[];
}

function processListeners(): Map<string, AnyListener[]> {
  return new Map(EVENTS.map((ev) => [ev, listenersOf(ev)]));
}

/**
 * The Emscripten runtime of the wasm backend installs process handlers that rethrow every uncaught error
 * from inside its minified source, so Node prints 40 KB of it before the real message. Node's own
 * behaviour is the same without them, so they are removed.
 */
function removeListenersAddedSince(before: Map<string, AnyListener[]>): void {
  for (const ev of EVENTS) {
    const old = before.get(ev) ?? [];
    for (const l of listenersOf(ev)) if (!old.includes(l)) process.removeListener(ev, l);
  }
}

/** Loads tfjs-node when it is installed; it registers the "tensorflow" backend on the shared engine. */
function tryNodeBackend(): boolean {
  try {
    const name = "@tensorflow/tfjs-node"; // a variable, so bundlers and tsc do not look for it
    require(name);
    return tfjs.findBackendFactory("tensorflow") != null;
  } catch {
    return false;
  }
}

/** Name of the active backend ("wasm", "tensorflow" or "cpu"), after getTf() resolved. */
export function tfBackendName(): string {
  return tfjs.getBackend();
}

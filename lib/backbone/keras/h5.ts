/**
 * Reading Keras HDF5 weight files with h5wasm (ESM-only, so reached through a real dynamic import that
 * CommonJS compilation, including tslab's, leaves alone).
 *
 * Keras's layout (`save_weights`, and `model_weights/` inside a full `model.save`): the root attribute
 * `layer_names` lists every layer in order; each layer is a group whose attribute `weight_names` lists its
 * weights in order (e.g. `block1_conv1/kernel:0`), each stored as a dataset at `<layer>/<weight name>`.
 */
import * as fs from "node:fs";
import { CbirError } from "../../errors";

export interface H5Weight {
  /** Name as stored, e.g. "block1_conv1/kernel:0". */
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface H5WeightFile {
  file: string;
  /** Every layer in file order, with its weights (empty for layers without weights). */
  layers: { name: string; weights: H5Weight[] }[];
  /** `model_config` JSON of a full-model save, when present. */
  modelConfig?: Record<string, unknown>;
  attrs: Record<string, string>;
}

/** The part of h5wasm's API used here (its own types are ESM-only, so they are not imported). */
export interface H5Attribute {
  readonly value: unknown;
}
export interface H5Dataset {
  readonly shape: number[] | null;
  readonly value: unknown;
}
export interface H5Group {
  readonly attrs: Record<string, H5Attribute>;
  keys(): string[];
  get(name: string): H5Group | H5Dataset | null;
  create_group(name: string): H5Group;
  create_attribute(name: string, data: unknown, shape?: number[] | null, dtype?: string | null): void;
  create_dataset(args: { name: string; data: unknown; shape?: number[] | null; dtype?: string | null }): H5Dataset;
}
export interface H5File extends H5Group {
  close(): unknown;
}
export interface H5Module {
  ready: Promise<unknown>;
  File: new (filename: string, mode?: "r" | "a" | "w" | "w-" | "x" | "Sr") => H5File;
  Dataset: abstract new (...args: never[]) => H5Dataset;
  Group: abstract new (...args: never[]) => H5Group;
}

const dynamicImport = new Function("s", "return import(s)") as (s: string) => Promise<unknown>;
let h5: Promise<H5Module> | undefined;

/**
 * HDF5 prints its error stack to stderr (fd 2, written with fs.writeSync by the Emscripten runtime, or
 * through the `console.error` it bound when created). lib/ never prints: during our own synchronous calls
 * both are caught and the lines kept, to explain the error we throw instead.
 */
const realFs = require("node:fs") as typeof import("node:fs"); // the module object itself, which h5wasm uses too
let collecting: string[] | undefined;
function quietly<T>(fn: () => T): { value?: T; error?: unknown; diagnostics: string[] } {
  const lines: string[] = [];
  const writeSync = realFs.writeSync;
  collecting = lines;
  realFs.writeSync = function (this: unknown, fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]): number {
    if (fd !== 2) return (writeSync as (...a: unknown[]) => number).call(this, fd, data, ...rest);
    if (typeof data === "string") {
      lines.push(data);
      return Buffer.byteLength(data);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const offset = typeof rest[0] === "number" ? rest[0] : 0;
    const length = typeof rest[1] === "number" ? rest[1] : bytes.length - offset;
    lines.push(Buffer.from(bytes.subarray(offset, offset + length)).toString("utf8"));
    return length;
  } as typeof realFs.writeSync;
  try {
    return { value: fn(), diagnostics: lines };
  } catch (error) {
    return { error, diagnostics: lines };
  } finally {
    realFs.writeSync = writeSync;
    collecting = undefined;
  }
}

/** h5wasm's Node build, loaded once. */
export async function loadH5wasm(): Promise<H5Module> {
  if (!h5) {
    h5 = (async () => {
      const original = console.error;
      console.error = (...args: unknown[]) => (collecting ? void collecting.push(`${args.map(String).join(" ")}\n`) : original(...args));
      let mod: { default?: H5Module } & H5Module;
      try {
        mod = (await dynamicImport("h5wasm/node")) as { default?: H5Module } & H5Module;
      } finally {
        console.error = original;
      }
      const lib = mod.default ?? mod;
      await lib.ready;
      return lib;
    })().catch((e) => {
      h5 = undefined;
      throw new CbirError("E_WEIGHTS_MISMATCH", `cannot load h5wasm to read .h5 files (${(e as Error).message}).`, { fix: "run `npm install h5wasm@0.10.3`." });
    });
  }
  return h5;
}

function strings(v: unknown): string[] {
  if (v == null) return [];
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.map(String);
  if (ArrayBuffer.isView(v)) return []; // an empty attribute comes back as an empty numeric array
  return [];
}

function badFile(file: string, why: string): CbirError {
  return new CbirError("E_MODEL_FILE", `cannot read the Keras weight file (${why}).`, {
    file,
    fix: "download the file again, or give a .h5 written by Keras (model.save_weights or model.save), e.g. from ~/.keras/models.",
  });
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** HDF5's superblock signature sits at 0, 512, 1024, 2048... (after an optional user block). */
function looksLikeHdf5(file: string): boolean {
  // non-blocking, checked on the descriptor: a FIFO would block the open and the read forever
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw badFile(file, "not a regular file (a pipe, socket, device or folder), not read");
    const size = st.size;
    const buf = Buffer.alloc(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      fs.readSync(fd, buf, 0, 8, at);
      if (buf.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads every weight of a Keras .h5 file into memory, as float32. */
export async function readKerasH5(file: string): Promise<H5WeightFile> {
  if (!fs.existsSync(file)) throw new CbirError("E_MODEL_FILE", "weight file does not exist.", { file, fix: "give the path of a Keras .h5 file." });
  if (!looksLikeHdf5(file)) throw badFile(file, "no HDF5 signature: not an HDF5 file, or truncated");
  const lib = await loadH5wasm();
  const r = quietly(() => readOpen(lib, file));
  if (r.error !== undefined) {
    if (r.error instanceof CbirError) throw r.error;
    // HDF5's innermost frame says what is wrong ("truncated file: eof = ...", "file signature not found")
    const firstStack = r.diagnostics.join("").split("HDF5-DIAG").filter((x) => x.trim())[0] ?? "";
    const frames = firstStack.split("\n").filter((l) => /^\s*#\d+:.*\(\): /.test(l));
    const inner = frames.length ? frames[frames.length - 1].replace(/^.*?\(\): /, "").trim() : "";
    const why = inner || String((r.error as Error)?.message ?? r.error);
    throw badFile(file, `HDF5 read failed: ${why}`);
  }
  return r.value!;
}

function readOpen(lib: H5Module, file: string): H5WeightFile {
  const f = new lib.File(file, "r");
  try {
    const attrs: Record<string, string> = {};
    for (const k of Object.keys(f.attrs)) {
      const v = f.attrs[k]?.value;
      if (typeof v === "string") attrs[k] = v;
    }
    let modelConfig: Record<string, unknown> | undefined;
    if (attrs.model_config) {
      try {
        modelConfig = JSON.parse(attrs.model_config);
      } catch {
        modelConfig = undefined;
      }
    }
    const root = f.keys().includes("model_weights") ? (f.get("model_weights") as H5Group) : f;
    const names = strings(root.attrs["layer_names"]?.value);
    if (!names.length) throw badFile(file, "no layer_names attribute");
    const layers = names.map((name) => {
      const g = root.get(name) as H5Group | null;
      if (!g) throw badFile(file, `layer '${name}' listed in layer_names has no group`);
      const weightNames = strings(g.attrs["weight_names"]?.value);
      const weights = weightNames.map((wn) => {
        const ds = g.get(wn) as H5Dataset | null;
        if (!ds || !(ds instanceof lib.Dataset)) throw badFile(file, `weight '${name}/${wn}' is missing`);
        const v = ds.value;
        const shape = ds.shape;
        const count = (shape ?? []).reduce((a, b) => a * b, 1);
        if (!shape || v == null || (v as ArrayLike<number>).length !== count) throw badFile(file, `weight '${name}/${wn}' cannot be read (truncated file?)`);
        const data = v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
        return { name: wn, shape, data };
      });
      return { name, weights };
    });
    return { file, layers, modelConfig, attrs };
  } finally {
    f.close();
  }
}

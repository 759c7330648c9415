/**
 * NumPy .npy export (format version 1.0), so Python users can `np.load` the vectors:
 * magic "\x93NUMPY", version 1.0, a little-endian uint16 header length, then a Python dict literal
 * padded with spaces and a newline so the data starts at a multiple of 64 bytes.
 */
import { writeFileAtomicSync } from "../fsutil";
import { CbirError } from "../errors";
import type { FeatureMatrix } from "../types";

export function npyBytes(data: Float32Array, shape: number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const unpadded = 10 + dict.length + 1;
  const headerLen = dict.length + 1 + ((64 - (unpadded % 64)) % 64);
  const header = dict.padEnd(headerLen - 1, " ") + "\n";
  const out = new Uint8Array(10 + headerLen + data.byteLength);
  out.set([0x93, ...Buffer.from("NUMPY"), 1, 0], 0);
  out[8] = headerLen & 0xff;
  out[9] = headerLen >> 8;
  out.set(Buffer.from(header, "latin1"), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + headerLen);
  return out;
}

/** The ids file exportNpy writes beside `file`: `vectors.npy` -> `vectors.ids.txt`. */
export function idsFileOf(file: string): string {
  return `${file.replace(/\.npy$/i, "")}.ids.txt`;
}

/** Writes `m` as an (n, dim) float32 .npy file, and its ids one per line beside it (idsFileOf) unless `ids: false`. */
export function exportNpy(m: FeatureMatrix, file: string, opts: { ids?: boolean } = {}): void {
  writeFileAtomicSync(file, npyBytes(m.data, [m.ids.length, m.dim]));
  if (opts.ids ?? true) writeFileAtomicSync(idsFileOf(file), m.ids.map((id) => `${id}\n`).join(""));
}

/** Reads a little-endian float32 C-order .npy file (what exportNpy writes). */
export function readNpy(bytes: Uint8Array, file = "array.npy"): { shape: number[]; data: Float32Array } {
  const magic = Buffer.from(bytes.subarray(0, 6)).toString("latin1");
  if (magic !== "\x93NUMPY") throw new CbirError("E_INDEX_CORRUPT", "not a .npy file (bad magic).", { file });
  const major = bytes[6];
  const headerLen = major === 1 ? bytes[8] | (bytes[9] << 8) : new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
  const start = major === 1 ? 10 : 12;
  const header = Buffer.from(bytes.subarray(start, start + headerLen)).toString("latin1");
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new CbirError("E_INDEX_CORRUPT", `unsupported .npy layout (${header.trim()}).`, { file, fix: "save it as float32, C order." });
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? "").split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const offset = start + headerLen;
  // copy: a Node Buffer's slice() is a view into a shared pool, not an aligned buffer of its own
  const data = new Float32Array((bytes.byteLength - offset) >> 2);
  new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + data.byteLength));
  return { shape, data };
}

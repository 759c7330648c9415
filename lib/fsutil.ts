/**
 * Checked, atomic writes: data goes to a temporary file in the same folder, every byte is written (short
 * writes are continued), flushed, then renamed over the target, so a killed run or a full disk leaves either
 * the old file or the new one, never half of one, and no temporary file. A refused write becomes one
 * CbirError naming the file and the fix (E_DISK_FULL, E_NOT_WRITABLE); the target is then untouched.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "./errors";

/** The operations the writers below make, in the order one atomic write makes them. */
export type FsOp = "mkdir" | "open" | "write" | "fsync" | "close" | "rename";

export interface FsOpEvent {
  op: FsOp;
  /** The file operated on (for rename: the temporary file; `to` is the target). */
  file: string;
  to?: string;
  /** For write: the bytes about to be written. */
  length?: number;
}

/**
 * Test-only fault-injection seam (SQLite-style crash testing): when `hook` is set, every operation of the
 * writers calls it first. Throwing fails that operation as if the system call had; for a write, returning a
 * smaller number makes it a short write of that many bytes. Unset (the default), it costs one property read.
 */
export const fsFaults: { hook?: (ev: FsOpEvent) => number | void } = {};

/** Error codes meaning the disk refused the write for lack of space or a device fault. */
const DISK_CODES: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "file too large for the file system",
  EIO: "the device reported an input/output error",
};
/** Error codes meaning the path cannot be written at all. */
const PATH_CODES: Record<string, string> = {
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "it is a folder, not a file",
  EEXIST: "a file is in the way where a folder is needed",
};

/**
 * The CbirError for a failed write of `file` (E_DISK_FULL or E_NOT_WRITABLE), or `e` itself when it is
 * not one of those system errors (then it is a bug, and keeps its stack).
 */
export function writeError(e: unknown, file: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code !== "string" || (e as Error).name === "CbirError") return e;
  const dir = path.dirname(file);
  if (code in DISK_CODES)
    return new CbirError("E_DISK_FULL", `cannot write ${file}: ${DISK_CODES[code]} (${code}).`, {
      file,
      fix: `free space on the disk holding ${dir} (or write to another disk) and run again; what was stored there before is unchanged.`,
      cause: e,
    });
  if (code in PATH_CODES)
    return new CbirError("E_NOT_WRITABLE", `cannot write ${file}: ${PATH_CODES[code]} (${code}).`, { file, fix: `choose a folder you can write to instead of ${dir}.`, cause: e });
  return e;
}

/** Writes all of `bytes` to `fd`, continuing after short writes (a disk filling up returns fewer bytes first). */
export function writeAllSync(fd: number, bytes: Uint8Array, file: string): void {
  for (let off = 0; off < bytes.byteLength; ) {
    const limit = fsFaults.hook?.({ op: "write", file, length: bytes.byteLength - off });
    const n = fs.writeSync(fd, bytes, off, typeof limit === "number" ? limit : bytes.byteLength - off);
    if (!(n > 0)) throw Object.assign(new Error(`ENOSPC: no byte written, write '${file}'`), { code: "ENOSPC" });
    off += n;
  }
}

/** Closes `fd` (always), then reports an error of the close itself: on some file systems a failed write shows only there. */
function closeSync(fd: number, file: string): void {
  try {
    fsFaults.hook?.({ op: "close", file });
  } finally {
    fs.closeSync(fd);
  }
}

function mkdirSync(dir: string): void {
  fsFaults.hook?.({ op: "mkdir", file: dir });
  fs.mkdirSync(dir, { recursive: true });
}

function openSync(file: string, flag: "w" | "wx"): number {
  fsFaults.hook?.({ op: "open", file });
  return fs.openSync(file, flag);
}

/** Writes every byte of `bytes` to the new file `fd`, flushes and closes it; raw system errors. */
function fillSync(fd: number, bytes: Uint8Array, file: string): void {
  try {
    writeAllSync(fd, bytes, file);
    fsFaults.hook?.({ op: "fsync", file });
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  closeSync(fd, file);
}

/**
 * Creates `file` holding `data`, every byte checked, and flushed; `exclusive` refuses an existing file
 * (a plain EEXIST error, that file left as it is). On failure a partly written file is removed and the
 * error is a CbirError. Not atomic: for private files no reader opens before this returns (the index lock's).
 */
export function writeFileCheckedSync(file: string, data: string | Uint8Array, opts: { exclusive?: boolean } = {}): void {
  let fd: number;
  try {
    fd = openSync(file, opts.exclusive ? "wx" : "w");
  } catch (e) {
    throw opts.exclusive && (e as NodeJS.ErrnoException).code === "EEXIST" ? e : writeError(e, file);
  }
  try {
    fillSync(fd, toBytes(data), file);
  } catch (e) {
    removeQuietly(file);
    throw writeError(e, file);
  }
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const tmp = tmpName(file);
  try {
    mkdirSync(path.dirname(file));
    fillSync(openSync(tmp, "wx"), toBytes(data), tmp);
    fsFaults.hook?.({ op: "rename", file: tmp, to: file });
    fs.renameSync(tmp, file);
  } catch (e) {
    removeQuietly(tmp);
    throw writeError(e, file);
  }
}

/**
 * Replaces `file` atomically with what `writeTmp` writes to the path it is given (for writers that only
 * take a path, such as usearch's save): the temporary file is flushed, then renamed over `file`.
 */
export function replaceFileAtomicSync(file: string, writeTmp: (tmp: string) => void): void {
  const tmp = tmpName(file);
  try {
    mkdirSync(path.dirname(file));
    writeTmp(tmp);
    const fd = fs.openSync(tmp, "r+");
    try {
      fsFaults.hook?.({ op: "fsync", file: tmp });
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fsFaults.hook?.({ op: "rename", file: tmp, to: file });
    fs.renameSync(tmp, file);
  } catch (e) {
    removeQuietly(tmp);
    throw writeError(e, file);
  }
}

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tmpName(file);
  const bytes = toBytes(data);
  try {
    fsFaults.hook?.({ op: "mkdir", file: path.dirname(file) });
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    fsFaults.hook?.({ op: "open", file: tmp });
    const handle = await fs.promises.open(tmp, "wx");
    try {
      for (let off = 0; off < bytes.byteLength; ) {
        const limit = fsFaults.hook?.({ op: "write", file: tmp, length: bytes.byteLength - off });
        const { bytesWritten } = await handle.write(bytes, off, typeof limit === "number" ? limit : bytes.byteLength - off);
        if (!(bytesWritten > 0)) throw Object.assign(new Error(`ENOSPC: no byte written, write '${tmp}'`), { code: "ENOSPC" });
        off += bytesWritten;
      }
      fsFaults.hook?.({ op: "fsync", file: tmp });
      await handle.sync();
    } catch (e) {
      await handle.close();
      throw e;
    }
    try {
      fsFaults.hook?.({ op: "close", file: tmp });
    } finally {
      await handle.close();
    }
    fsFaults.hook?.({ op: "rename", file: tmp, to: file });
    await fs.promises.rename(tmp, file);
  } catch (e) {
    removeQuietly(tmp);
    throw writeError(e, file);
  }
}

/**
 * Refuses, before any work, an output folder that cannot be written (E_NOT_WRITABLE): a file, a path
 * under a file, a read-only or forbidden folder, or the root of the file system. A missing folder is fine
 * when its nearest existing parent can be written (it is created when the first file is written).
 */
export function checkOutputDir(dir: string, what = "output folder"): void {
  const abs = path.resolve(dir);
  if (path.parse(abs).root === abs)
    throw new CbirError("E_NOT_WRITABLE", `the ${what} '${abs}' is the root of the file system; files are not written there.`, { file: abs, fix: "give a folder of its own." });
  let existing = abs;
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  const st = fs.statSync(existing);
  if (!st.isDirectory())
    throw new CbirError("E_NOT_WRITABLE", `the ${what} '${abs}' cannot be created: ${existing} is a file, not a folder.`, { file: abs, fix: "give the path of a folder." });
  try {
    fs.accessSync(existing, fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "EACCES";
    throw new CbirError("E_NOT_WRITABLE", `the ${what} '${abs}' cannot be written: ${PATH_CODES[code] ?? (e as Error).message} (${code}).`, { file: abs, fix: "choose a folder you can write to." });
  }
}

/** Refuses, before any work, an output file that cannot be written: a folder, or a file in a folder checkOutputDir refuses. */
export function checkOutputFile(file: string, what = "output file"): void {
  const abs = path.resolve(file);
  let isDir = false;
  try {
    isDir = fs.statSync(abs).isDirectory();
  } catch {
    // missing, or under a file: checkOutputDir below says which
  }
  if (isDir)
    throw new CbirError("E_NOT_WRITABLE", `the ${what} '${abs}' is a folder, not a file.`, { file: abs, fix: "give the path of a file." });
  checkOutputDir(path.dirname(abs), `folder of the ${what}`);
}

/** Removes a file this module created, if it exists; the error being reported matters more than a failed clean-up. */
function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // e.g. ENOTDIR: the file could never have been created
  }
}

function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? Buffer.from(data) : data;
}

/** A temporary name beside `file`, unique across processes and across concurrent writes in one process. */
function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
}

/** True when `name` is a temporary file of the writers above for a target whose base name matches `target`. */
export function isTmpFileOf(name: string, target: RegExp): boolean {
  const m = /^\.(.+)\.\d+\.[0-9a-z]+\.tmp$/.exec(name);
  return m !== null && target.test(m[1]);
}

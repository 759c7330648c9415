/**
 * One writer per index: a lock file holding the writer's pid, host and start time, created only if absent
 * (a fully written private file hard-linked into place).
 * A lock whose process is gone (killed run, crash) is stale and taken over with a notice; a live one is
 * E_LOCKED, naming the process so the user can wait for it or stop it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CbirError } from "../errors";
import { writeError, writeFileCheckedSync } from "../fsutil";
import { reporterOf, type Reporter } from "../report";

export const LOCK_FILE = "index.lock";

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
}

export interface IndexLock {
  readonly file: string;
  release(): void;
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(file, "utf8")) as LockInfo;
    return typeof info.pid === "number" ? info : undefined;
  } catch {
    return undefined; // unreadable or half-written: treated as stale
  }
}

function sameLock(a: LockInfo | undefined, b: LockInfo | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.pid === b.pid && a.host === b.host && a.startedAt === b.startedAt;
}

/**
 * Creates `file` holding `text` only if it does not exist. The text is written to a private file first and
 * hard-linked into place, so no other process ever reads a half-written (and so "unreadable", stale-looking)
 * lock; where hard links are not supported, falls back to an exclusive create.
 */
function createExclusive(file: string, text: string): boolean {
  const own = `${file}.${process.pid}.new`;
  try {
    writeFileCheckedSync(own, text);
    fs.linkSync(own, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV") throw writeError(e, file);
  } finally {
    fs.rmSync(own, { force: true });
  }
  try {
    writeFileCheckedSync(file, text, { exclusive: true });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw writeError(e, file);
  }
}

export function acquireLock(dir: string, reporter?: Reporter): IndexLock {
  const rep = reporterOf(reporter);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw writeError(e, path.join(dir, LOCK_FILE));
  }
  const file = path.join(dir, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(file, JSON.stringify(mine))) {
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          const now = readLock(file);
          if (now && now.pid === mine.pid && now.startedAt === mine.startedAt) fs.rmSync(file, { force: true });
        },
      };
    }
    const held = readLock(file);
    // another host's pid cannot be checked from here: trust its lock
    const alive = held !== undefined && (held.host !== mine.host || processAlive(held.pid));
    if (alive)
      throw new CbirError("E_LOCKED", `index '${dir}' is being written by process ${held!.pid} on ${held!.host} (started ${held!.startedAt}).`, {
        file,
        fix: `wait for that run to finish, or stop it; if no such process exists, delete ${file}.`,
      });
    // Move the stale lock aside rather than delete it: if another process took it over in the meantime,
    // what was moved is that process's fresh lock, which is put back (a delete would have stolen it).
    const aside = `${file}.${process.pid}.stale`;
    try {
      fs.renameSync(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // someone else removed it first
      throw e;
    }
    const moved = readLock(aside);
    if (!sameLock(moved, held)) {
      try {
        fs.linkSync(aside, file);
      } catch {
        // a third process created a lock in this instant: leave it; the attempt below reports it
      }
      fs.rmSync(aside, { force: true });
      continue;
    }
    rep.warn(held ? `removing the stale lock of process ${held.pid} (started ${held.startedAt}, no longer running).` : "removing an unreadable lock file.", file);
    fs.rmSync(aside, { force: true });
  }
  throw new CbirError("E_LOCKED", `could not take the lock of index '${dir}'.`, { file, fix: `delete ${file} if no other run is writing the index.` });
}

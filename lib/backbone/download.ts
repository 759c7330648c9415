/**
 * Downloading published model files on first use (zoo shards, Keras .h5 weights), as Keras' `get_file`
 * does: the file is streamed into a temporary file beside its destination, checked against what its
 * publisher declares (MD5 or size), flushed to disk and only then renamed into place, so a connection cut
 * halfway or a wrong file never leaves anything under the final name. A file that fails its check is
 * deleted and the error says which URL gave what.
 *
 * Environment, read at each call (not at load), so tests and users can set it at any time:
 * - `CBIR_MODEL_BASE_URL`: serve the published files from elsewhere (a mirror, or a test server on
 *   127.0.0.1); a published `https://storage.googleapis.com/<path>` is fetched from `<base>/<path>`;
 * - `CBIR_OFFLINE=1` (like `--offline`): never download; a missing file is E_NETWORK naming where to put it.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";
import { writeAllSync, writeError } from "../fsutil";
import { reporterOf, type Reporter } from "../report";

export const BASE_URL_ENV = "CBIR_MODEL_BASE_URL";
export const OFFLINE_ENV = "CBIR_OFFLINE";
const PUBLISHED_HOST = "https://storage.googleapis.com/";

/** Where to fetch a published URL from: under `$CBIR_MODEL_BASE_URL` when it is set. */
export function modelUrl(published: string): string {
  const base = process.env[BASE_URL_ENV];
  if (!base || !published.startsWith(PUBLISHED_HOST)) return published;
  return base.replace(/\/*$/, "/") + published.slice(PUBLISHED_HOST.length);
}

/** True when downloads are off: the option (`--offline`), or `CBIR_OFFLINE` set to 1/true/yes. */
export function downloadsDisabled(offline?: boolean): boolean {
  return Boolean(offline) || /^(1|true|yes)$/i.test(process.env[OFFLINE_ENV] ?? "");
}

/** E_NETWORK for a file that is needed while downloads are off. */
export function offlineError(what: string, url: string, dest: string): CbirError {
  return new CbirError("E_NETWORK", `${what} is not at ${dest} and downloads are disabled (--offline or ${OFFLINE_ENV}).`, {
    file: dest,
    fix: `download ${url} by hand and put it at ${dest}, or allow downloads.`,
  });
}

/** What the publisher declares about a file. */
export interface ExpectedFile {
  /** Exact length in bytes. */
  size?: number;
  /** MD5 hex digest (Keras's `file_hash`). */
  md5?: string;
  /** Says where the expectation comes from, for messages ("Keras's file_hash", "the manifest"). */
  source?: string;
}

/** Byte progress over several files: `done` grows as they arrive, out of `total` (0 = unknown). */
export interface DownloadProgress {
  done: number;
  total: number;
}

export interface DownloadOptions {
  expect?: ExpectedFile;
  reporter?: Reporter;
  /** Shared counter when this file is one of several (default: this file alone). */
  progress?: DownloadProgress;
  /** Bytes after which a download with no declared size is stopped (default DEFAULT_MAX_DOWNLOAD_BYTES). */
  maxBytes?: number;
}

/** Larger than any published weight file this toolkit fetches (VGG19's .h5 is 575 MB). */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024 ** 3;

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** A write into the temporary file failed (full disk): reported as such, not as a cut download. */
class WriteFailure {
  constructor(readonly cause: unknown) {}
}

/** The body passed the size it should have. */
class TooLong {}

/**
 * fetch, tried a second time when the connection breaks before any response: a kept-alive connection the
 * server has just closed fails that way, and a GET is safe to repeat.
 */
async function fetchOnce(url: string): Promise<Response> {
  try {
    return await fetch(url);
  } catch (e) {
    const code = (e as { cause?: { code?: string } }).cause?.code;
    if (code !== "ECONNRESET" && code !== "UND_ERR_SOCKET" && code !== "EPIPE") throw e;
    return await fetch(url);
  }
}

/** GETs `url` into `dest` (temporary file, check, fsync, rename); returns the number of bytes. */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<number> {
  const rep = reporterOf(opts.reporter);
  const byHand = `download ${url} by hand and put it at ${dest}`;
  let res: Response;
  try {
    res = await fetchOnce(url);
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new CbirError("E_NETWORK", `cannot download ${url} (${cause}).`, { file: dest, fix: `check the network connection, or ${byHand}.`, cause: e });
  }
  if (!res.ok || !res.body)
    throw new CbirError("E_NETWORK", `downloading ${url} failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}.`, {
      file: dest,
      fix: `check the URL (and ${BASE_URL_ENV} if set), or ${byHand}.`,
    });
  const declared = Number(res.headers.get("content-length") ?? NaN);
  const progress = opts.progress ?? { done: 0, total: Number.isFinite(declared) ? declared : opts.expect?.size ?? 0 };
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.part-${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
  const md5 = crypto.createHash("md5");
  // stop as soon as the body passes what it should be: a wrong or hostile server cannot fill the disk
  const ex = opts.expect ?? {};
  const limits: [number, string][] = [
    [declared, `the server declared ${declared} bytes`],
    [ex.size ?? NaN, `${ex.source ?? "its publisher"} declares ${ex.size} bytes`],
    [opts.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES, `downloads are limited to ${mb(opts.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES)}`],
  ];
  const [ceiling, ceilingWhy] = limits.filter(([n]) => Number.isFinite(n)).sort((a, b) => a[0] - b[0])[0];
  let received = 0;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "w");
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        try {
          writeAllSync(fd, chunk, tmp); // every byte, or an error
        } catch (e) {
          throw new WriteFailure(e);
        }
        md5.update(chunk);
        received += chunk.byteLength;
        if (received > ceiling) throw new TooLong();
        progress.done += chunk.byteLength;
        rep.progress("download", progress.done, Math.max(progress.total, progress.done), path.basename(dest));
      }
    } catch (e) {
      if (e instanceof WriteFailure) throw writeError(e.cause, dest); // the disk, not the network
      if (e instanceof TooLong)
        throw new CbirError("E_DOWNLOAD_CHECK", `${url} sent more than ${ceiling} bytes, but ${ceilingWhy}; the download was stopped and nothing was kept.`, {
          file: dest,
          fix: `run the command again; if it persists, ${byHand} after checking it.`,
        });
      throw new CbirError("E_NETWORK", `the download of ${url} was cut after ${received} bytes${Number.isFinite(declared) ? ` of ${declared}` : ""} (${(e as Error).message}); nothing was kept.`, {
        file: dest,
        fix: `run the command again to restart the download, or ${byHand}.`,
        cause: e,
      });
    }
    const digest = md5.digest("hex");
    const got = `${url} gave ${received} bytes (MD5 ${digest})`;
    const refuse = (what: string) =>
      new CbirError("E_DOWNLOAD_CHECK", `${got}, but ${what}; the file was deleted.`, { file: dest, fix: `run the command again; if it persists, ${byHand} after checking it.` });
    if (Number.isFinite(declared) && received !== declared) throw refuse(`the server declared ${declared} bytes`);
    if (ex.size !== undefined && received !== ex.size) throw refuse(`${ex.source ?? "its publisher"} declares ${ex.size} bytes`);
    if (ex.md5 !== undefined && digest !== ex.md5.toLowerCase()) throw refuse(`${ex.source ?? "its publisher"} publishes MD5 ${ex.md5}`);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, dest);
    rep.log(`downloaded ${url} (${mb(received)}) into ${dest}`);
    return received;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}

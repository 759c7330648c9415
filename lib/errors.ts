/**
 * One error class for every expected failure: a code, the file concerned and the fix.
 * The CLI prints `message` on one line with no stack trace; anything that is not a CbirError is a bug.
 */
export const ERROR_CODES = [
  "E_NO_FOLDER", // database folder missing
  "E_EMPTY_FOLDER", // folder exists but holds no file at all
  "E_NO_IMAGES", // folder holds files but none usable as an image
  "E_BAD_IMAGE", // one image unreadable or corrupt (normally skipped, not thrown)
  "E_BAD_OPTION", // invalid option value
  "E_USAGE", // command-line usage error
  "E_MODEL_FILE", // model.json / weight file missing, truncated or malformed
  "E_UNKNOWN_MODEL", // backbone name not known
  "E_UNKNOWN_LAYER", // cut layer not in the model
  "E_UNSUPPORTED_LAYER", // layer type the loader or exporter cannot handle
  "E_NO_RUNTIME", // the native runtime asked for (onnxruntime-node) cannot be loaded
  "E_WEIGHTS_MISMATCH", // .h5 weights do not fit the architecture
  "E_FINGERPRINT_MISMATCH", // vectors from different pipelines would be mixed
  "E_INDEX_CORRUPT", // index or cache file fails its checksum
  "E_LOCKED", // another live process holds the index lock
  "E_DISK_FULL", // a write was refused by the disk: full or over quota (ENOSPC, EDQUOT, EFBIG) or failing (EIO); nothing stored was changed
  "E_NOT_WRITABLE", // an output path cannot be written: a file where a folder is needed, read-only, no permission, or `/`
  "E_NOT_AN_INDEX", // a non-empty folder given as an index holds no index marker: refused so user files are never touched
  "E_NETWORK", // download needed but not possible, or a store URI that cannot be reached
  "E_BAD_URI", // a store URI that cannot be parsed (unknown scheme, no bucket, nothing after lance:)
  "E_NO_CREDENTIALS", // an object-store URI (s3://, gs://, az://) with no credentials in the environment
  "E_DOWNLOAD_CHECK", // a downloaded file fails its published size or hash (and was deleted)
  "E_STRICT", // --strict and some files were skipped
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface CbirErrorOptions {
  /** The file or folder the error is about. */
  file?: string;
  /** What the user should do about it. */
  fix?: string;
  cause?: unknown;
}

export class CbirError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  readonly fix?: string;

  constructor(code: ErrorCode, message: string, options: CbirErrorOptions = {}) {
    super(CbirError.compose(message, options));
    this.name = "CbirError";
    this.code = code;
    this.file = options.file;
    this.fix = options.fix;
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }

  private static compose(message: string, { file, fix }: CbirErrorOptions): string {
    let text = file && !message.includes(file) ? `${file}: ${message}` : message;
    if (fix) text += ` Fix: ${fix}`;
    return text;
  }
}

export function isCbirError(e: unknown): e is CbirError {
  return e instanceof CbirError || (typeof e === "object" && e !== null && (e as { name?: string }).name === "CbirError");
}

/** sharp-style message for a bad option: `Expected <what> for <name> but received <value> of type <type>`. */
export function invalidOption(name: string, expected: string, value: unknown): CbirError {
  const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
  return new CbirError("E_BAD_OPTION", `Expected ${expected} for ${name} but received ${shown} of type ${typeof value}`);
}

/** Rejects a name outside a registry, listing the valid names (closest first). */
export function expectOneOf<T extends string>(name: string, value: unknown, valid: readonly T[]): T {
  if (typeof value === "string" && (valid as readonly string[]).includes(value)) return value as T;
  const err = invalidOption(name, `one of ${valid.join(", ")}`, value);
  throw err;
}

/** The `n` names closest to `wanted` by edit distance, for "did you mean" messages. */
export function closestNames(wanted: string, names: readonly string[], n = 5): string[] {
  const w = wanted.toLowerCase();
  return [...names]
    .map((name) => ({ name, d: editDistance(w, name.toLowerCase()) - (name.toLowerCase().includes(w) ? w.length : 0) }))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, n)
    .map((x) => x.name);
}

function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

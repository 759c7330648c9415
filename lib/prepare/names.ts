/**
 * File names with any bytes the filesystem allows. Linux names are bytes, not text: a name that is not
 * valid UTF-8 would be mangled by Node's string paths (its bytes replaced by U+FFFD, so the file cannot be
 * opened again). Names are read as bytes and kept as strings in which each byte that is not part of valid
 * UTF-8 is the lone surrogate U+DC80..U+DCFF (Python's "surrogateescape"): unambiguous (valid UTF-8 never
 * decodes to a lone surrogate), lossless through JSON (`"\udcff"`), and turned back into the same bytes by
 * `fsPath` for every call that opens or stats the file.
 * What people read (captions, terminal lines) goes through `readableName`: control characters, escaped
 * bytes and other characters XML or a terminal cannot take safely are shown as `\x1b`, `\xff`, `\u{202e}`.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";

/** The name bytes as a string, each invalid UTF-8 byte kept as U+DC00 + byte. */
export function fromFsBytes(bytes: Uint8Array): string {
  let out = "";
  let start = 0; // start of the run of valid text not yet copied
  let i = 0;
  const flush = (end: number) => {
    if (end > start) out += Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("utf8");
  };
  while (i < bytes.length) {
    const n = validSequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    flush(i);
    out += String.fromCharCode(0xdc00 + bytes[i]);
    i++;
    start = i;
  }
  flush(i);
  return out;
}

/** Length of the well-formed UTF-8 sequence at `i` (1 to 4), or 0 when the byte there starts none. */
function validSequenceLength(b: Uint8Array, i: number): number {
  const b0 = b[i];
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    // E0 needs A0..BF (no overlong forms), ED needs 80..9F (no UTF-16 surrogates)
    const ok = cont(1, b0 === 0xe0 ? 0xa0 : 0x80, b0 === 0xed ? 0x9f : 0xbf) && cont(2);
    return ok ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const ok = cont(1, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf) && cont(2) && cont(3);
    return ok ? 4 : 0;
  }
  return 0;
}

// with the `u` flag a class of surrogates matches only lone ones, never a half of a valid pair
const ESCAPED_BYTE = /[\udc80-\udcff]/u;

/** Whether a name holds bytes that are not UTF-8 (and so must be opened through `fsPath`). */
export function hasEscapedBytes(name: string): boolean {
  return ESCAPED_BYTE.test(name);
}

/** The bytes of a name kept by `fromFsBytes`. */
export function toFsBytes(name: string): Buffer {
  const parts: Buffer[] = [];
  let run = "";
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (ch.length === 1 && cp >= 0xdc80 && cp <= 0xdcff) {
      if (run) parts.push(Buffer.from(run, "utf8"));
      run = "";
      parts.push(Buffer.of(cp - 0xdc00));
    } else run += ch;
  }
  if (run) parts.push(Buffer.from(run, "utf8"));
  return Buffer.concat(parts);
}

/** What to hand to `fs` for a path: the string itself, or its original bytes when it holds escaped ones. */
export function fsPath(p: string): string | Buffer {
  return hasEscapedBytes(p) ? toFsBytes(p) : p;
}

/**
 * `text` as people can read it and any XML or terminal can take: C0 and C1 controls, DEL, bytes that are not
 * UTF-8 and lone surrogates as `\xNN`, noncharacters and direction overrides (which reorder the text around
 * them on screen) as `\u{...}`. Everything else, backslashes included, is kept; already readable text is
 * returned unchanged, so applying it twice is harmless.
 */
export function readableName(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  let out = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xdc80 && cp <= 0xdcff && ch.length === 1) out += `\\x${(cp - 0xdc00).toString(16).padStart(2, "0")}`;
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (isHidden(cp, ch)) out += `\\u{${cp.toString(16)}}`;
    else out += ch;
  }
  return out;
}

const NEEDS_ESCAPE = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff\u200e\u200f\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef\ufffe\uffff]/;

function isHidden(cp: number, ch: string): boolean {
  if (ch.length === 1 && cp >= 0xd800 && cp <= 0xdfff) return true; // a lone surrogate
  if (cp === 0x200e || cp === 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return true;
  return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe; // noncharacters, XML-invalid
}

/**
 * A path as a user typed it, found on disk. Node decodes the command line as UTF-8, so a name that is not
 * valid UTF-8 arrives with U+FFFD where its bytes were, and cannot be opened as typed; a user who copied a
 * name from our warnings typed its readable form (`\xff`). Each component that does not exist is matched
 * against its folder's entries read as bytes, by either form; exactly one match is taken, several are an
 * error naming them. A path that exists, or that matches nothing, is returned unchanged (the caller's
 * own error then names what was typed).
 */
export function resolveTypedPath(typed: string): string {
  if (fs.existsSync(typed) || !/\ufffd|\\x[0-9a-f]{2}|\\u\{/i.test(typed)) return typed;
  const absolute = path.isAbsolute(typed);
  const parts = typed.split("/");
  let sofar = absolute ? "/" : "";
  for (let i = absolute ? 1 : 0; i < parts.length; i++) {
    const part = parts[i];
    const next = sofar ? path.join(sofar, part) : part;
    if (part === "" || part === "." || part === ".." || fs.existsSync(fsPath(next))) {
      sofar = next || sofar;
      continue;
    }
    let entries: Buffer[];
    try {
      entries = fs.readdirSync(fsPath(sofar || "."), { encoding: "buffer" });
    } catch {
      return typed;
    }
    const matches = entries.map((e) => fromFsBytes(e)).filter((name) => readableName(name) === part || Buffer.from(toFsBytes(name)).toString("utf8") === part);
    if (matches.length !== 1) {
      if (matches.length > 1)
        throw new CbirError("E_USAGE", `${readableName(typed)} matches ${matches.length} files once decoded: ${matches.map(readableName).join(", ")}.`, {
          file: typed,
          fix: "type the name as the warnings show it, with \\xNN for each byte that is not UTF-8.",
        });
      return typed;
    }
    sofar = sofar ? path.join(sofar, matches[0]) : matches[0];
  }
  return sofar;
}

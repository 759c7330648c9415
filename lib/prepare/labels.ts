/**
 * Class labels for evaluation, from the file-name prefix (`burger4_resized.jpeg` -> burger,
 * `CT (3).jpg` -> CT, `burger_test.jpeg` -> burger), the first sub-folder, or a `labels.csv` (`path,label`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";

export const LABEL_SOURCES = ["auto", "prefix", "folder", "csv", "none"] as const;
export type LabelSource = (typeof LABEL_SOURCES)[number];

/** Text of the base name before its first digit, ` (` or `_test`, trimmed of separators. */
export function labelFromName(name: string): string {
  const base = path.posix.basename(name.replace(/\\/g, "/")).replace(/\.[^.]+$/, "");
  const cut = base.search(/\d|\s\(|_test\b|_query\b/i);
  const head = (cut >= 0 ? base.slice(0, cut) : base).replace(/[\s_\-(.]+$/, "");
  return head || base;
}

/** First folder of a relative name, or undefined for files at the root. */
export function labelFromFolder(name: string): string | undefined {
  const i = name.indexOf("/");
  return i > 0 ? name.slice(0, i) : undefined;
}

/** Reads `path,label` rows (header optional); keys are paths relative to the CSV's folder, `/`-separated. */
export function readLabelsCsv(csvPath: string): Map<string, string> {
  let text: string;
  try {
    // a named pipe or device would block the read forever: only regular files are read
    if (!fs.statSync(csvPath).isFile()) throw new Error("not a regular file");
    text = fs.readFileSync(csvPath, "utf8");
  } catch (e) {
    throw new CbirError("E_BAD_OPTION", `cannot read labels file (${(e as Error).message}).`, {
      file: csvPath,
      fix: "give a readable CSV with the columns path,label.",
    });
  }
  const map = new Map<string, string>();
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  for (const [i, line] of lines.entries()) {
    const cells = splitCsvLine(line);
    if (i === 0 && cells[0]?.toLowerCase() === "path") continue;
    if (cells.length < 2) {
      throw new CbirError("E_BAD_OPTION", `line ${i + 1} has no label column.`, { file: csvPath, fix: "write one `path,label` pair per line." });
    }
    map.set(cells[0].replace(/\\/g, "/").replace(/^\.\//, ""), cells[1]);
  }
  return map;
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") out.push(cur.trim()), (cur = "");
    else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

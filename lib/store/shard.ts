/**
 * Sharded extraction: `--shard i/n` (1-based, like test runners' shards) takes the images whose relative
 * path hashes to shard i. The hash is the first 32 bits of the path's sha256, so every machine and every
 * run agrees on the split whatever the order or the number of files, and a file keeps its shard when
 * others are added or removed.
 */
import { createHash } from "node:crypto";
import { CbirError } from "../errors";

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/** The 0-based shard of a relative path among n. */
export function shardOf(relativePath: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new CbirError("E_BAD_OPTION", `Expected a positive integer shard count but received ${n}.`);
  return createHash("sha256").update(relativePath, "utf8").digest().readUInt32BE(0) % n;
}

/** True when the path belongs to the shard (every path does when there is no shard). */
export function inShard(relativePath: string, shard: Shard | undefined): boolean {
  return !shard || shard.count === 1 || shardOf(relativePath, shard.count) === shard.index - 1;
}

/** Parses `i/n`: integers with 1 <= i <= n. */
export function parseShard(text: unknown): Shard {
  const m = typeof text === "string" ? /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text) : null;
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index < 1 || index > count)
    throw new CbirError("E_BAD_OPTION", `Expected i/n with 1 <= i <= n for --shard but received ${JSON.stringify(text)}.`, {
      fix: "run n processes with --shard 1/n, --shard 2/n ... --shard n/n, then one `cbir index --optimize`.",
    });
  return { index, count };
}

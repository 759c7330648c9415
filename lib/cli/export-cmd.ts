/** `cbir export <index> <out.npy>`: a store's vectors as a float32 .npy file (np.load) and its ids beside it. */
import type { Command } from "commander";
import { readableName } from "../prepare/names";
import { exportStore } from "../store/export";

export function register(program: Command): void {
  program
    .command("export")
    .argument("<index>", "a folder index (or the image folder whose .cbir-index it is), or a Lance table: lance:<folder>, <folder>.lance, s3://, gs://, az://")
    .argument("<out.npy>", "the (n, dim) float32 .npy file to write; the ids go beside it in <out>.ids.txt, one per line, rows in id order")
    .description("write the stored vectors as a NumPy .npy file and their ids, from a folder index or a Lance table")
    .option("--raw", "the vectors as extracted (pooled CNN vector, plus the colour histogram when fused), before any fitted step; default: the search vectors the store ranks, after its fitted post-processing (float32, before any f16/i8 encoding)")
    .option("-q, --quiet", "print only errors")
    .action(async (index: string, out: string, opts: Record<string, unknown>) => {
      const res = await exportStore(index, out, { raw: Boolean(opts.raw) });
      if (opts.quiet) return;
      const what = res.vectors === "raw" ? "raw vectors" : `search vectors (${res.postSteps.length ? `after ${res.postSteps.join(",")}` : "no fitted step"})`;
      process.stdout.write(`wrote ${readableName(res.file)}: ${res.rows} x ${res.dim} float32, ${what} of the ${res.kind === "lance" ? "Lance table" : "folder index"}\n`);
      process.stdout.write(`wrote ${readableName(res.idsFile)}\n`);
    });
}

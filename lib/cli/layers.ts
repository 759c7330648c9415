/** `cbir layers <model>`: the layers a backbone can be cut at, as a table (name, type, output shape, params). */
import type { Command } from "commander";
import { backboneNamesHelp, listLayers, resolveModel } from "../backbone/index";
import type { LayerInfo } from "../backbone/types";

/** Fixed-width table; -1 dimensions (left open by the model) print as "?". */
export function formatLayerTable(layers: LayerInfo[], defaultLayer?: string): string {
  const rows = layers.map((l) => [
    l.name === defaultLayer ? `${l.name} *` : l.name,
    l.type,
    l.outputShape.length ? l.outputShape.map((d) => (d < 0 ? "?" : String(d))).join("x") : "-",
    l.params.toLocaleString("en-US"),
    l.outputShape.every((d) => d > 0) ? l.outputShape.reduce((a, b) => a * b, 1).toLocaleString("en-US") : "?",
  ]);
  const head = ["layer", "type", "output", "params", "values"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function register(program: Command): void {
  program
    .command("layers")
    .argument("<model>", backboneNamesHelp())
    .description("list the layers a backbone can be cut at (* marks the default cut)")
    .option("--offline", "never download: zoo models and Keras weights must already be cached")
    .option("--json", "print the list as JSON")
    .action(async (model: string, opts: { offline?: boolean; json?: boolean }) => {
      const options = { offline: Boolean(opts.offline) };
      const layers = await listLayers(model, options);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(layers, null, 1)}\n`);
        return;
      }
      const { defaults, id } = await resolveModel(model, options);
      process.stdout.write(`${id}: ${layers.length} layers; default cut ${defaults.layer}, input ${defaults.inputSize.join("x")}, preprocessing ${defaults.preprocessing}\n`);
      process.stdout.write(`${formatLayerTable(layers, defaults.layer)}\n`);
    });
}

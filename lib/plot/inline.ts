/**
 * Inline display in tslab notebooks. tslab is required lazily, only inside a kernel (which sets
 * globalThis.__tslab__), so the CLI and tests never load it (it brings its own TypeScript compiler).
 * Outside a kernel the show* functions do nothing. They return nothing, so that a `showPng(...)` ending a
 * cell does not print a value under the figure; `inlineDisplayAvailable()` tells whether they display.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { invalidOption } from "../errors";

interface TslabDisplay {
  png(bytes: Uint8Array): void;
  html(html: string): void;
}

/** tslab's display, or undefined outside a running kernel. */
function tslabDisplay(): TslabDisplay | undefined {
  if (!("__tslab__" in globalThis)) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require("tslab") as { display: TslabDisplay }).display;
  } catch {
    return undefined;
  }
}

/** True inside a running tslab kernel, where showPng and showPlotly display their figures. */
export function inlineDisplayAvailable(): boolean {
  return tslabDisplay() !== undefined;
}

/** Shows PNG bytes (from any render* function) as the cell's output; does nothing outside a kernel. */
export function showPng(buffer: Uint8Array): void {
  if (!(buffer instanceof Uint8Array)) throw invalidOption("buffer", "PNG bytes (Buffer or Uint8Array)", buffer);
  try {
    tslabDisplay()?.png(buffer);
  } catch {
    // tslab throws "Not ready" when no cell is executing: nothing to show then
  }
}

let plotlySource: string | undefined;

/** The bundled plotly.js from node_modules, so the figure works offline (no CDN). */
function readPlotly(): string {
  if (plotlySource === undefined) {
    const file = require.resolve("plotly.js-dist-min");
    plotlySource = fs.readFileSync(path.join(path.dirname(file), "plotly.min.js"), "utf8");
  }
  return plotlySource;
}

/** JSON that cannot close the surrounding <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value ?? {}).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/**
 * The self-contained HTML of an interactive plotly figure: plotly.js itself is embedded (about 4.7 MB),
 * evaluated once per page with `define`/`module` hidden so Jupyter's RequireJS does not capture it.
 */
export function plotlyHtml(data: unknown[], layout: Record<string, unknown> = {}, height = 480): string {
  const id = `cbir-plotly-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const source = readPlotly().replace(/<\/script/gi, "<\\/script");
  return (
    `<div id="${id}" style="width:100%;height:${Math.round(height)}px"></div>\n` +
    `<script type="text/javascript">\n` +
    `if (!window.Plotly) { (function () { var define, module, exports;\n${source}\n}).call(window); }\n` +
    `window.Plotly.newPlot(${JSON.stringify(id)}, ${scriptJson(data)}, ${scriptJson(layout)}, {responsive: true});\n` +
    `</script>`
  );
}

/**
 * Shows an interactive plotly figure (e.g. a t-SNE scatter with hover names) in the cell, offline.
 * Do not commit notebooks with these outputs: each one embeds plotly.js (about 4.7 MB); clear the
 * outputs first, or use `showPng` for figures that stay in the notebook.
 * Returns false outside a kernel.
 */
export function showPlotly(data: unknown[], layout: Record<string, unknown> = {}): void {
  if (!Array.isArray(data)) throw invalidOption("data", "an array of plotly traces", data);
  const display = tslabDisplay();
  if (!display) return;
  const height = typeof layout.height === "number" ? layout.height : 480;
  try {
    display.html(plotlyHtml(data, layout, height));
  } catch {
    // not inside an executing cell
  }
}

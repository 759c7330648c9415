import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { renderTsneScatter, renderTsneThumbnails, labelColours, tsneScatterPlotly, plotlyHtml } from "../lib/plot";
import { BLUE, RED, countColour, imageFolder, pngInfo } from "./plot.fixtures";

let fx: Awaited<ReturnType<typeof imageFolder>>;
before(async () => {
  fx = await imageFolder();
});
after(() => fx.cleanup());

test("thumbnails are drawn whole at their map positions, unreadable ones as grey boxes", async () => {
  const items = [fx.red, fx.blue, fx.corrupt, fx.red];
  const coords = new Float32Array([0, 0, 10, 10, -10, 5, 10, -10]);
  const png = await renderTsneThumbnails(items, coords, { size: 400, thumb: 60 });
  const { width, height, pixels } = await pngInfo(png);
  assert.ok(width > 400 && height >= 400 + 40, "map, title and legend");
  // inset by half a thumbnail: the extreme points' images are not cut (two red 60x45, one blue 30x60)
  assert.ok(countColour(pixels, RED) >= 2 * 60 * 45 * 0.95);
  assert.ok(countColour(pixels, BLUE) >= 30 * 60 * 0.95);
  assert.ok(countColour(pixels, { r: 207, g: 207, b: 207 }, 2) >= 50 * 50);
});

test("scatter has one colour per class and a legend; coordinates must match the labels", async () => {
  const labels = ["a", "b", "a", "c"];
  const coords = new Float32Array([0, 0, 1, 1, 0.1, 0, 1, 0]);
  const png = await renderTsneScatter(coords, labels, { size: 300, radius: 8 });
  const { pixels } = await pngInfo(png);
  const colours = labelColours(labels);
  assert.deepEqual([...colours.keys()], ["a", "b", "c"]);
  const hex = (h: string) => ({ r: parseInt(h.slice(1, 3), 16), g: parseInt(h.slice(3, 5), 16), b: parseInt(h.slice(5, 7), 16) });
  for (const c of colours.values()) assert.ok(countColour(pixels, hex(c), 40) > 30, `colour ${c} drawn`);
  await assert.rejects(renderTsneScatter(new Float32Array(6), labels), { code: "E_BAD_OPTION", message: /hold 6 values for 4 points/ });
  await assert.rejects(renderTsneThumbnails([fx.red], new Float32Array(2), { thumb: 2 }), { message: /between 8 and 256 for thumb/ });
});

test("label colours: numeric order and distinct colours for 20 classes", () => {
  const labels = Array.from({ length: 20 }, (_, i) => `class_${i}`);
  const colours = labelColours(labels);
  assert.equal([...colours.keys()][2], "class_2");
  assert.equal(new Set(colours.values()).size, 20);
});

test("frames are baked into each thumbnail, in the label's colour", async () => {
  const { frameThumb, parseColour } = await import("../lib/plot/canvas");
  assert.deepEqual(parseColour("#1f77b4"), { r: 0x1f, g: 0x77, b: 0xb4 });
  assert.deepEqual(parseColour("hsl(120, 100%, 50%)"), { r: 0, g: 255, b: 0 });
  const t = frameThumb({ ok: true, data: Buffer.alloc(2 * 2 * 3, 255), width: 2, height: 2 }, { r: 1, g: 2, b: 3 }, 1);
  assert.ok(t.ok);
  assert.deepEqual([t.width, t.height], [4, 4]);
  assert.deepEqual([...t.data.subarray(0, 3)], [1, 2, 3], "corner is the frame");
  assert.deepEqual([...t.data.subarray(15, 18)], [255, 255, 255], "pixel (1, 1) is the image");
  const bad = frameThumb({ ok: false, reason: "x" }, { r: 0, g: 0, b: 0 }, 2);
  assert.equal(bad.ok, false);
});

test("interactive scatter: one plotly trace per class, in the PNG's colours, hover names the file", () => {
  const labels = ["b", "a", "b"];
  const coords = new Float32Array([0, 0, 1, 1, 2, 3]);
  const fig = tsneScatterPlotly(coords, labels, ["b1.png", "a1.png", "b2.png"]);
  assert.deepEqual(fig.data.map((t) => t.name), ["a (1)", "b (2)"]);
  const b = fig.data[1] as { x: number[]; y: number[]; text: string[]; marker: { color: string } };
  assert.deepEqual([b.x, b.y, b.text], [[0, 2], [0, 3], ["b1.png", "b2.png"]]);
  assert.equal(b.marker.color, labelColours(labels).get("b"));
  assert.equal((fig.layout.yaxis as { autorange: string }).autorange, "reversed", "y down, as in the PNG");
  const html = plotlyHtml(fig.data, fig.layout);
  assert.ok(html.includes('"b2.png"') && !/<br>|<extra>/.test(html.slice(html.lastIndexOf("newPlot"))), "hover markup is escaped inside the script");
  assert.throws(() => tsneScatterPlotly(coords, labels, ["only one"]), /names/);
  assert.throws(() => tsneScatterPlotly(new Float32Array(4), labels, ["x", "y", "z"]), /hold 4 values for 3 points/);
});

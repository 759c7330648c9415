import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { renderRecommendation, renderRecommendations, writePng } from "../lib/plot";
import type { Ranking } from "../lib/types";
import { BLUE, RED, countColour, imageFolder, pngInfo } from "./plot.fixtures";

let fx: Awaited<ReturnType<typeof imageFolder>>;
before(async () => {
  fx = await imageFolder();
});
after(() => fx.cleanup());

const GREY = { r: 207, g: 207, b: 207 };

test("grid layout: query alone on the first row, hits below, each thumbnail filled by its image", async () => {
  const hits = [0.9, 0.8, 0.7, 0.6, 0.5].map((score, i) => ({ item: i % 2 ? fx.red : fx.blue, score }));
  const grid = await pngInfo(await renderRecommendation({ item: fx.red }, hits, { thumb: 100, metric: "cosine" }));
  const row = await pngInfo(await renderRecommendation({ item: fx.red }, hits, { thumb: 100, layout: "row" }));
  assert.ok(grid.height > row.height, "grid has two rows of cells, row layout one");
  assert.ok(row.width > grid.width, "row layout puts the query beside five hits");
  // red: the query and two hits (a 40x30 image fitted in a 100 px box is 100x75); blue: three hits (50x100)
  assert.ok(countColour(grid.pixels, RED) >= 3 * 100 * 75 * 0.95);
  assert.ok(countColour(grid.pixels, BLUE) >= 3 * 50 * 100 * 0.95);
  assert.ok(countColour(grid.pixels, GREY, 2) < 500, "no placeholder when every image reads (only antialiased text is grey)");
});

test("an unreadable hit becomes a grey placeholder instead of an error", async () => {
  const hits = [
    { item: fx.blue, score: 0.9 },
    { item: fx.corrupt, score: 0.8 },
    { item: { path: path.join(fx.dir, "missing.png"), name: "missing.png" }, score: 0.7 },
  ];
  const png = await renderRecommendation({ item: fx.red }, hits, { thumb: 80 });
  const { pixels } = await pngInfo(png);
  assert.ok(countColour(pixels, GREY, 2) > 2 * 80 * 80 * 0.5, "two grey boxes");
});

test("an unreadable query is a placeholder too, and zero hits still make a figure", async () => {
  const { width, pixels } = await pngInfo(await renderRecommendation({ item: fx.corrupt }, [], { thumb: 64 }));
  assert.ok(width >= 64);
  assert.ok(countColour(pixels, GREY, 2) > 64 * 64 * 0.5);
});

test("more than five hits wrap onto further rows in the grid layout", async () => {
  const hits = Array.from({ length: 11 }, (_, i) => ({ item: fx.blue, score: 1 - i / 20, rank: i + 1 }));
  const five = await pngInfo(await renderRecommendation({ item: fx.red }, hits.slice(0, 5), { thumb: 60 }));
  const eleven = await pngInfo(await renderRecommendation({ item: fx.red }, hits, { thumb: 60 }));
  assert.equal(eleven.width, five.width);
  assert.ok(eleven.height > five.height * 1.8);
});

test("options are validated with sharp-style messages", async () => {
  await assert.rejects(renderRecommendation({ item: fx.red }, [], { layout: "circle" as "grid" }), {
    code: "E_BAD_OPTION",
    message: 'Expected one of grid, row for layout but received "circle" of type string',
  });
  await assert.rejects(renderRecommendation({ item: fx.red }, [], { thumb: -3 }), {
    message: "Expected integer between 32 and 512 for thumb but received -3 of type number",
  });
});

test("writePng creates folders and leaves no temporary file behind", async () => {
  const png = await renderRecommendation({ item: fx.red }, [{ item: fx.blue, score: 1 }], { thumb: 40 });
  const file = path.join(fx.dir, "out", "deep", "rec.png");
  await writePng(png, file);
  assert.deepEqual(fs.readFileSync(file), png);
  await writePng(png, file); // overwriting works too
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ["rec.png"]);
});

test("renderRecommendations: one <stem>_rec.png per ranking (cat.png and cat.jpg apart), at most k hits, queries from outside the items", async () => {
  const out = path.join(fx.dir, "recs");
  const red = { ...fx.red, name: "cat.png" };
  const blue = { ...fx.blue, name: "cat.jpg" };
  const hit = (id: string, score: number) => ({ id, score });
  const rankings: Ranking[] = [
    { query: "cat.png", metric: "cosine", higherIsBetter: true, hits: [hit("cat.jpg", 0.9), hit("cat.png", 0.5)] },
    { query: "cat.jpg", metric: "cosine", higherIsBetter: true, hits: [hit("cat.png", 0.8)] },
  ];
  const logs: string[] = [];
  const files = await renderRecommendations(rankings, [red, blue], out, { k: 1, reporter: { log: (l) => logs.push(l) }, announce: true });
  assert.equal(files.length, 2);
  assert.equal(new Set(files).size, 2, "the two cats do not share a figure");
  assert.ok(files.every((f) => path.dirname(f) === out && f.endsWith("_rec.png") && fs.existsSync(f)));
  assert.deepEqual(logs, ["[1/2] Plotting similar image recommendations for: cat.png", "[2/2] Plotting similar image recommendations for: cat.jpg"]);
  // k = 1 draws one hit: the same figure as rendering the first hit alone
  const one = await renderRecommendation({ item: red }, [{ item: blue, score: 0.9, rank: 1 }], { metric: "cosine" });
  assert.ok(Buffer.compare(fs.readFileSync(files[0]), one) === 0);
  const query = { ...fx.red, name: "outside.png" };
  const [q] = await renderRecommendations([{ query: "outside.png", metric: "cosine", higherIsBetter: true, hits: [hit("cat.jpg", 0.7)] }], [red, blue], out, { queries: [query] });
  assert.ok(q.endsWith("outside_rec.png"));
  await assert.rejects(renderRecommendations(rankings, [red, blue], out, { k: 0 }), { message: "Expected positive integer for k but received 0 of type number" });
});

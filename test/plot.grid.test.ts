import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { renderGrid } from "../lib/plot";
import { BLUE, RED, countColour, imageFolder, pngInfo } from "./plot.fixtures";

let fx: Awaited<ReturnType<typeof imageFolder>>;
before(async () => {
  fx = await imageFolder();
});
after(() => fx.cleanup());

test("grid shows at most `max` images, in rows of `columns`", async () => {
  const items = [fx.red, fx.blue, fx.corrupt, fx.red, fx.blue, fx.red, fx.blue];
  const all = await pngInfo(await renderGrid(items, { thumb: 50, columns: 3 }));
  const cut = await pngInfo(await renderGrid(items, { thumb: 50, columns: 3, max: 3 }));
  assert.equal(all.width, cut.width);
  assert.ok(all.height > cut.height + 2 * 50, "three rows against one (plus a footer line)");
  assert.ok(countColour(all.pixels, RED) >= 3 * 50 * 37 * 0.95);
  assert.ok(countColour(all.pixels, BLUE) >= 3 * 25 * 50 * 0.95);
  assert.ok(countColour(all.pixels, { r: 207, g: 207, b: 207 }, 2) > 50 * 50 * 0.5, "the corrupt file is a grey box");
});

test("grid options are validated", async () => {
  await assert.rejects(renderGrid([]), { code: "E_BAD_OPTION" });
  await assert.rejects(renderGrid([fx.red], { captions: "all" as "both" }), { message: 'Expected one of both, label, name, none for captions but received "all" of type string' });
  await assert.rejects(renderGrid([fx.red], { columns: 0 }), { message: /between 1 and 100 for columns/ });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { inlineDisplayAvailable, plotlyHtml, showPlotly, showPng } from "../lib/plot/index";

test("outside a tslab kernel nothing is displayed, and nothing is returned for a cell to print", () => {
  assert.equal("__tslab__" in globalThis, false);
  assert.equal(inlineDisplayAvailable(), false);
  assert.equal(showPng(Buffer.from([0x89, 0x50])), undefined);
  assert.equal(showPlotly([{ x: [1], y: [2] }]), undefined);
  assert.throws(() => showPng("x" as unknown as Buffer), { code: "E_BAD_OPTION" });
});

test("plotly HTML embeds plotly.js (offline) and data that cannot close the script", () => {
  const html = plotlyHtml([{ x: [1, 2], y: [3, 4], text: ["</script><b>"] }], { title: "t" });
  assert.ok(html.length > 1_000_000, "plotly.js itself is inside");
  assert.ok(!/https?:\/\/cdn/i.test(html.slice(0, 2000)), "no CDN script tag");
  assert.equal(html.match(/<\/script/gi)?.length, 1, "only the closing tag");
  assert.match(html, /Plotly\.newPlot\("cbir-plotly-[a-z0-9]+", \[\{"x":\[1,2\]/);
  assert.match(html, /var define, module, exports;/);
});

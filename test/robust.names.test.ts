/**
 * Any name the filesystem allows: control characters, XML metacharacters, bytes that are not UTF-8,
 * 244-byte names, 200-deep folders and names whose figures would collide are read, indexed, drawn and
 * written under distinct output names; the index finds them again on the next run.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { fromFsBytes, fsPath, readableName, resolveTypedPath, toFsBytes } from "../lib/prepare/names";
import { MAX_STEM_BYTES, outputStem, outputStems, scanFolder } from "../lib/prepare/scan";
import { renderRecommendation, renderRecommendations, renderTsneScatter, renderTsneThumbnails, renderGrid, renderLineChart } from "../lib/plot/index";
import { escapeXml } from "../lib/plot/svg";
import { runDemo } from "../lib/pipeline/demo";
import { indexFolder, indexItems, queryIndex } from "../lib/pipeline/folder-index";
import { formatSkipped, printable } from "../lib/cli/output";
import { cbirSync, writeTinyModel } from "./fixtures/bad-images";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-robust-names-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
const db = path.join(work, "db");
let model = "";
const tiny = () => ({ model, layer: "c2", tsne: true, whiten: 0 });

/** Bytes of `dir/<name bytes>`, for names Node strings cannot spell. */
const rawPath = (dir: string, name: Buffer) => Buffer.concat([Buffer.from(dir + "/"), name]);
const NOT_UTF8 = Buffer.from([0x66, 0xff, 0x2e, 0x70, 0x6e, 0x67]); // "f\xff.png"
const NOT_UTF8_2 = Buffer.from([0x66, 0xfe, 0x2e, 0x70, 0x6e, 0x67]); // "f\xfe.png": same U+FFFD rendering as the first
const LONG = `${"l".repeat(240)}.png`; // 244 bytes: `<stem>_rec.png` plus a temporary suffix exceed 255
const DEEP = Array.from({ length: 200 }, () => "d").join("/");
const ODD = ["esc\u001b[31mred.png", "amp&<lt>\"q'.png", "ctl\u0001\u007f.png", "bidi\u202eevil.png", "nonchar\ufffe.png", "new\nline.png"];

async function png(colour: number): Promise<Buffer> {
  return sharp({ create: { width: 40, height: 40, channels: 3, background: { r: colour, g: 255 - colour, b: (colour * 7) % 256 } } }).png().toBuffer();
}

before(async () => {
  model = writeTinyModel(path.join(work, "model"));
  fs.mkdirSync(path.join(db, DEEP), { recursive: true });
  fs.mkdirSync(path.join(db, "a"), { recursive: true });
  let c = 10;
  for (const n of [...ODD, LONG, "cat.png", "a__b.png", "Case.png", "case.png"]) fs.writeFileSync(path.join(db, n), await png((c += 20)));
  fs.writeFileSync(path.join(db, "cat.jpg"), await sharp(await png((c += 20))).jpeg().toBuffer());
  fs.writeFileSync(path.join(db, "a", "b.png"), await png((c += 20)));
  fs.writeFileSync(path.join(db, DEEP, "deep.png"), await png((c += 20)));
  fs.writeFileSync(rawPath(db, NOT_UTF8), await png((c += 20)));
  fs.writeFileSync(rawPath(db, NOT_UTF8_2), await png((c += 20)));
});
const EXPECTED = ODD.length + 1 + 4 + 1 + 1 + 1 + 2; // odd, long, cat/a__b/Case/case, cat.jpg, a/b, deep, two non-UTF-8

test("names that are not UTF-8 keep their bytes through the string form and JSON", () => {
  for (const bytes of [NOT_UTF8, Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from("h\u00e9\u{1f600}", "utf8")]) {
    const name = fromFsBytes(bytes);
    assert.deepEqual(toFsBytes(name), bytes, `round trip of ${bytes.toString("hex")}`);
    assert.deepEqual(toFsBytes(JSON.parse(JSON.stringify({ name })).name), bytes, "through a JSON manifest");
  }
  // every byte value in every position
  for (let b = 1; b < 256; b++) {
    if (b === 0x2f) continue;
    const bytes = Buffer.from([0x61, b, 0x62, b, b]);
    assert.deepEqual(toFsBytes(fromFsBytes(bytes)), bytes);
  }
  assert.equal(fsPath("/plain/é.png"), "/plain/é.png", "valid names stay strings");
  assert.equal(readableName(fromFsBytes(NOT_UTF8)), "f\\xff.png");
  assert.equal(readableName("a\u001bb\u202e\ufffe"), "a\\x1bb\\u{202e}\\u{fffe}");
  assert.equal(readableName("\ud800x"), "\\u{d800}x", "a lone high surrogate");
  assert.equal(readableName("ok 😀 é"), "ok 😀 é");
});

test("every text drawn is valid XML whatever it holds", async () => {
  const nasty = ["\u001b[2J", "a&b<c>\"d'", "\ud800\udfff\ud800", "\ufffe\uffff", fromFsBytes(NOT_UTF8), "\u0000nul", "x".repeat(500)];
  for (const t of nasty) {
    const x = escapeXml(t);
    assert.doesNotMatch(x, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[<>"']|&(?!lt;|gt;|amp;|quot;|apos;)/, JSON.stringify(t));
    assert.doesNotMatch(x, /(?<![\ud800-\udbff])[\udc00-\udfff]|[\ud800-\udbff](?![\udc00-\udfff])/, "no lone surrogate");
  }
  const file = path.join(db, ODD[0]);
  const items = nasty.map((t, i) => ({ path: file, name: `${t}${i}.png`, label: t }));
  const fig = await renderRecommendation({ item: items[0] }, items.slice(1).map((item, i) => ({ item, score: 1 - i / 10 })), { metric: "\u001bm" });
  assert.ok((await sharp(fig).metadata()).width! > 0);
  const coords = new Float32Array(items.length * 2).map((_, i) => i);
  await renderTsneThumbnails(items, coords);
  await renderTsneScatter(coords, nasty);
  await renderGrid(items);
  await renderLineChart([{ name: nasty[0], y: [1, 2, 3], colour: "red\"/><x" }, { name: nasty[2], y: [3, 2, 1] }], { title: nasty[1], xLabel: nasty[3], yLabel: nasty[4] });
});

test("output names: ordinary names unchanged, collisions and over-long names get a short hash", () => {
  assert.equal(outputStem("cats/a1.png"), "cats__a1");
  assert.deepEqual(outputStems(["bird5.png", "fruit1.jpeg"]), ["bird5", "fruit1"]);
  const stems = outputStems(["cat.png", "cat.jpg", "a/b.png", "a__b.png", "Case.png", "case.png", "q.png#2", "q.png"]);
  assert.equal(new Set(stems.map((s) => s.toLowerCase())).size, stems.length, stems.join(" "));
  for (const s of stems) assert.match(s, /~[0-9a-f]{8}$/);
  assert.equal(outputStems(["cat.png", "cat.jpg"])[0], outputStems(["cat.png", "cat.jpg", "dog.png"])[0], "stable whatever the others");
  const long = outputStem(LONG);
  assert.ok(Buffer.byteLength(long) <= MAX_STEM_BYTES, `${Buffer.byteLength(long)} bytes`);
  assert.notEqual(outputStem(`${"l".repeat(240)}x.png`), long, "two long names with one prefix stay distinct");
  assert.ok(Buffer.byteLength(outputStem(`${DEEP}/deep.png`)) <= MAX_STEM_BYTES);
  assert.doesNotMatch(outputStem(ODD[0]), /\u001b/, "no control character in a file name we write");
});

test("the scan finds every name, non-UTF-8 ones included, and opens them by their bytes", async () => {
  const scan = scanFolder(db);
  assert.deepEqual(scan.skipped, []);
  assert.equal(scan.items.length, EXPECTED);
  const odd = scan.items.filter((it) => /[\udc80-\udcff]/u.test(it.name));
  assert.equal(odd.length, 2);
  for (const it of odd) assert.ok(fs.statSync(fsPath(it.path)).isFile(), it.name);
});

test("demo indexes, draws and writes a distinct figure for every name", async () => {
  const out = path.join(work, "out-demo");
  const res = await runDemo(db, { ...tiny(), outDir: out });
  assert.deepEqual(res.report.skipped, []);
  assert.equal(res.report.images, EXPECTED);
  const recs = fs.readdirSync(path.join(out, "rec"));
  assert.equal(recs.length, EXPECTED, "one figure per image, none overwritten");
  assert.equal(new Set(res.report.outputs.recommendations).size, EXPECTED);
  assert.ok(recs.includes("cat~" + outputStems(["cat.png", "cat.jpg"])[0].split("~")[1] + "_rec.png"));
  assert.ok(recs.includes("esc\\x1b[31mred_rec.png"), "ordinary names keep <name>_rec.png, controls shown readably");
  for (const r of recs) assert.ok(Buffer.byteLength(r) <= 200, r);
  assert.ok(fs.existsSync(path.join(out, "tsne.png")));
  JSON.parse(fs.readFileSync(path.join(out, "report.json"), "utf8"));
});

test("index records every name and finds them again unchanged; query draws them", async () => {
  const dir = path.join(work, "idx");
  const first = await indexFolder(db, tiny(), { indexDir: dir });
  assert.equal(first.index.manifest.items.length, EXPECTED);
  const again = await indexFolder(db, tiny(), { indexDir: dir });
  assert.equal(again.unchanged, EXPECTED, "non-UTF-8 and odd names are found again");
  assert.equal(again.added.length + again.changed.length + again.removed.length, 0);
  const figs = path.join(work, "q-figs");
  const q = await queryIndex(dir, [path.join(db, "cat.png"), path.join(db, "cat.jpg"), path.join(db, ODD[1])], { k: EXPECTED - 1 });
  const figures = await renderRecommendations(q.rankings, indexItems(q.index), figs, { queries: q.queries });
  assert.equal(figures.length, 3);
  assert.equal(fs.readdirSync(figs).length, 3, "cat.png and cat.jpg do not share a figure");
  const hitNames = new Set(q.rankings[0].hits.map((h) => h.id));
  assert.ok([...hitNames].some((n) => /[\udc80-\udcff]/u.test(n)), "non-UTF-8 images are ranked and drawn");
});

test("a name that is not UTF-8, typed on the command line (as U+FFFD or as the warnings' \\xff), finds its file", async () => {
  const typed = path.join(work, "typed");
  fs.mkdirSync(path.join(typed, "u"), { recursive: true });
  fs.writeFileSync(rawPath(path.join(typed, "u"), Buffer.from([0x67, 0xfd, 0x2e, 0x70, 0x6e, 0x67])), await png(77)); // "g\xfd.png"
  fs.writeFileSync(rawPath(typed, NOT_UTF8), await png(90));
  fs.writeFileSync(rawPath(typed, NOT_UTF8_2), await png(91));
  // what Node hands a program for those bytes: U+FFFD, which names no file
  const lossy = path.join(typed, "u", "g\ufffd.png");
  assert.equal(fs.existsSync(lossy), false);
  const found = resolveTypedPath(lossy);
  assert.equal(readableName(found), path.join(typed, "u", "g\\xfd.png"));
  assert.ok(fs.readFileSync(fsPath(found)).equals(await png(77)));
  // the readable form picks one of two names that decode alike; the lossy form cannot, and says so
  const byEscape = resolveTypedPath(path.join(typed, "f\\xfe.png"));
  assert.ok(toFsBytes(byEscape).equals(rawPath(typed, NOT_UTF8_2)));
  assert.throws(() => resolveTypedPath(path.join(typed, "f\ufffd.png")), (e: Error & { code?: string }) => {
    assert.equal(e.code, "E_USAGE");
    assert.ok(e.message.includes("f\\xff.png") && e.message.includes("f\\xfe.png"), e.message);
    return true;
  });
  // ordinary and missing paths come back as typed
  assert.equal(resolveTypedPath(path.join(db, "cat.png")), path.join(db, "cat.png"));
  assert.equal(resolveTypedPath(path.join(typed, "none\ufffd.png")), path.join(typed, "none\ufffd.png"));

  // end to end: cbir query with the typed names ranks them
  const idx = path.join(work, "typed-idx");
  const built = cbirSync(["index", typed, "--model", model, "--layer", "c2", "--index", idx, "-q"]);
  assert.equal(built.code, 0, built.err);
  const r = cbirSync(["query", idx, lossy, path.join(typed, "f\\xff.png"), "--no-figures", "-k", "2", "-q"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^g\\xfd\.png \(g\\xfd\):\n {3}1\. u\/g\\xfd\.png /m, "found by its bytes: its own image ranks first");
  assert.match(r.out, /^f\\xff\.png \(f\\xff\):\n {3}1\. f\\xff\.png /m);
});

test("terminal lines show names readably, one line each", () => {
  const line = formatSkipped([{ path: `/x/${fromFsBytes(NOT_UTF8)}\n\u001b[2J`, reason: "bad" }]);
  assert.equal(line.split("\n").filter(Boolean).length, 2);
  assert.doesNotMatch(line, /\u001b|[\udc80-\udcff]/u);
  assert.equal(printable("a\tb\n\u001b"), "a\tb\n\\x1b");
});

test("cbir demo on the folder exits 0 with no error", () => {
  const r = cbirSync(["demo", db, "--model", model, "--layer", "c2", "--no-tsne", "-q", "--out", path.join(work, "out-cli")]);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.err, /error|\u001b/);
  assert.equal(fs.readdirSync(path.join(work, "out-cli", "rec")).length, EXPECTED);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gaussian, seededRandom } from "../lib/random";
import { ROWS_PER_STEP, WasmI8Kernel, wasmI8Available } from "../lib/rank/wasm-i8";
import { EncodedIndex, encodeForCosine } from "../lib/rank/encoded-search";

const skip = wasmI8Available() ? false : "WebAssembly SIMD with shared memory is not available in this runtime";

/** Codes in [-lim, lim], seeded (the encoder's codes span [-127, 127]). */
function randomCodes(length: number, lim: number, seed: number): Int8Array {
  const rand = seededRandom(seed);
  return Int8Array.from({ length }, () => Math.floor(rand() * (2 * lim + 1)) - lim);
}

function jsDots(codes: Int8Array, n: number, d: number, u: Int8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += codes[i * d + k] * u[k];
    out.push(s);
  }
  return out;
}

/** The best `cand` rows by dot, ties to the lower row, in increasing row order: what the kernel must return. */
function jsTop(dots: number[], cand: number): number[] {
  const order = dots.map((_, i) => i).sort((a, b) => dots[b] - dots[a] || a - b);
  return order.slice(0, cand).sort((a, b) => a - b);
}

test("the WebAssembly i8 kernel's integer dots equal a plain JS loop's (d not a multiple of 16, n not of the row step)", { skip }, async () => {
  assert.ok(ROWS_PER_STEP > 1, "the row step is what these shapes are chosen against");
  const shapes: [number, number][] = [[1, 1], [3, 15], [ROWS_PER_STEP + 1, 16], [7, 17], [130, 100], [4099, 33], [9, 1280]];
  let seed = 1;
  for (const [n, d] of shapes) {
    assert.ok(n % ROWS_PER_STEP !== 0 || d % 16 !== 0 || d === 1280, `shape ${n} x ${d}`);
    const codes = randomCodes(n * d, 127, seed++);
    // the extremes too: every product at its largest magnitude
    codes[0] = 127;
    codes[codes.length - 1] = -127;
    const kernel = WasmI8Kernel.create(codes, n, d, 1)!;
    assert.ok(kernel, `kernel for ${n} x ${d}`);
    for (const u of [randomCodes(d, 127, seed++), Int8Array.from({ length: d }, (_, k) => (k % 2 ? -127 : 127)), new Int8Array(d)]) {
      const want = jsDots(codes, n, d, u);
      assert.deepEqual(Array.from(kernel.allDots(u)), want, `${n} x ${d}`);
    }
    await kernel.dispose();
  }
});

test("the kernel's top candidates, on 1 and 2 threads, are the JS top with ties to the lower row", { skip }, async () => {
  for (const [n, d, lim] of [[4099, 20, 127], [2001, 3, 1], [6, 17, 2]] as const) {
    // lim 1 over 3 dimensions: only 7 distinct dots, so ties decide which rows are kept
    const codes = randomCodes(n * d, lim, n + d);
    const kernels = [WasmI8Kernel.create(codes, n, d, 1)!, WasmI8Kernel.create(codes, n, d, 2)!];
    for (let qi = 0; qi < 4; qi++) {
      const u = randomCodes(d, 127, 100 + qi);
      const dots = jsDots(codes, n, d, u);
      for (const cand of [1, 10, 37, n + 5]) {
        const want = jsTop(dots, cand);
        for (const [t, kernel] of kernels.entries()) {
          const got = await kernel.search(u, cand);
          assert.deepEqual(Array.from(got.rows), want, `${n} x ${d}, ${t + 1} thread(s), cand ${cand}`);
          assert.deepEqual(Array.from(got.dots), want.map((r) => dots[r]), `dots of ${n} x ${d}, ${t + 1} thread(s)`);
        }
      }
    }
    // searches started together run one after another on the workers, each with its own query
    const us = [0, 1, 2].map((i) => randomCodes(d, 127, 200 + i));
    const together = await Promise.all(us.map((u) => kernels[1].search(u, 10)));
    together.forEach((got, i) => assert.deepEqual(Array.from(got.rows), jsTop(jsDots(codes, n, d, us[i]), 10), `concurrent search ${i}`));
    for (const k of kernels) await k.dispose();
  }
});

test("EncodedIndex i8 single queries (WebAssembly kernel) give the batch kernel's rows, the same on 1 and 2 threads", { skip }, async () => {
  const n = 3001;
  const d = 72;
  const g = gaussian(seededRandom(5));
  const raw = Float32Array.from({ length: n * d }, () => g());
  const q = Float32Array.from({ length: 8 * d }, () => g());
  const v = encodeForCosine("i8", raw, n, d);
  const one = EncodedIndex.create(v, { threads: 1 });
  const two = EncodedIndex.create(v, { threads: 2 });
  const single1 = await one.search(q, 8, { k: 10, batch: 1 });
  const single2 = await two.search(q, 8, { k: 10, batch: 1 });
  assert.match(one.kernelFor(1), /^wasm-simd-i8/);
  const batched = await one.search(q, 8, { k: 10, batch: 8 });
  single1.forEach((h, i) => {
    assert.deepEqual(Array.from(h.rows), Array.from(single2[i].rows), `threads, query ${i}`);
    assert.deepEqual(Array.from(h.scores), Array.from(single2[i].scores), `threads, scores of query ${i}`);
    assert.deepEqual(Array.from(h.rows), Array.from(batched[i].rows), `batch kernel, query ${i}`);
    h.scores.forEach((s, j) => assert.ok(Math.abs(s - batched[i].scores[j]) < 1e-6, `score ${s} vs ${batched[i].scores[j]}`));
  });
  await one.dispose();
  await two.dispose();
});

test("a search on workers keeps the process alive until it answers, and idle workers do not keep it alive", { skip }, () => {
  // a script that searches on two workers and never disposes the kernel: it must print the hits and exit
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-wasm-i8-"));
  try {
    const script = path.join(dir, "search.ts");
    fs.writeFileSync(
      script,
      `import { WasmI8Kernel } from ${JSON.stringify(path.resolve(__dirname, "../lib/rank/wasm-i8"))};
const codes = Int8Array.from({ length: 50 * 16 }, (_, i) => (i * 37) % 255 - 127);
const kernel = WasmI8Kernel.create(codes, 50, 16, 2)!;
void kernel.search(Int8Array.from({ length: 16 }, (_, k) => k - 8), 3).then((r) => console.log("rows", Array.from(r.rows).join(",")));
`,
    );
    const run = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: path.resolve(__dirname, ".."), encoding: "utf8", timeout: 60_000 });
    assert.equal(run.signal, null, `the process did not exit by itself: ${run.stderr}`);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^rows \d+,\d+,\d+$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

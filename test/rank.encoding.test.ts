import { test } from "node:test";
import assert from "node:assert/strict";
import { makeFingerprint } from "../lib/fingerprint";
import { gaussian, seededRandom } from "../lib/random";
import type { FeatureMatrix } from "../lib/types";
import { exactSearch } from "../lib/rank/exact";
import {
  bytesPerVector,
  checkEncodedVectors,
  checkEncoding,
  decodeI8,
  decodeVectors,
  encodeI8,
  encodeVectors,
  findBadRows,
  fitI8,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  type Encoding,
} from "../lib/rank/encoding";
import { EncodedIndex, encodeForCosine, neighbourRecall } from "../lib/rank/encoded-search";

function gaussianRows(n: number, d: number, seed: number): Float32Array {
  const g = gaussian(seededRandom(seed));
  return Float32Array.from({ length: n * d }, () => g());
}

/** `n` points around `clusters` random centres: the shape of real image features (classes), seeded. */
function clusteredRows(n: number, d: number, clusters: number, spread: number, seed: number): Float32Array {
  const g = gaussian(seededRandom(seed));
  const centres = Float32Array.from({ length: clusters * d }, () => g());
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = i % clusters;
    for (let k = 0; k < d; k++) out[i * d + k] = centres[c * d + k] + spread * g();
  }
  return out;
}

function matrix(data: Float32Array, d: number, prefix: string): FeatureMatrix {
  const n = data.length / d;
  return { ids: Array.from({ length: n }, (_, i) => `${prefix}${i}`), dim: d, data, fingerprint: makeFingerprint({ backbone: "rand" }) };
}

test("float32 -> float16 bits: known values, ties to even, subnormals, overflow, NaN", async () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff], // largest finite
    [65519, 0x7bff], // below the halfway point to 65536
    [65520, 0x7c00], // halfway: rounds to even, which is Infinity
    [1e6, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
    [2 ** -25 * 1.5, 0x0001],
    [3 * 2 ** -25, 0x0002], // 1.5 ulp: ties to even (2)
    [1023.5 * 2 ** -24, 0x0400], // largest subnormal + half: ties to even, into the normals
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next: even
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between odd and even: even
    [2 ** -26, 0x0000],
  ];
  for (const [x, bits] of cases) assert.equal(float32ToFloat16Bits(x), bits, `f16(${x})`);
  const nan = float32ToFloat16Bits(NaN);
  assert.equal(nan & 0x7c00, 0x7c00);
  assert.notEqual(nan & 0x3ff, 0);
  assert.ok(Number.isNaN(float16BitsToFloat32(nan)));
  assert.equal(float16BitsToFloat32(0x3555), 0.333251953125);
  assert.equal(float16BitsToFloat32(0x0001), 2 ** -24);
  assert.equal(float16BitsToFloat32(0xfbff), -65504);
});

test("every finite float16 value round-trips exactly, and random float32 values go to the nearest float16", async () => {
  const finite: number[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = float16BitsToFloat32(h);
    if (Number.isNaN(v)) continue;
    assert.equal(float32ToFloat16Bits(v), h, `bits ${h.toString(16)}`);
    if (Number.isFinite(v) && h < 0x8000) finite.push(v);
  }
  // positives in increasing order: brute-force nearest neighbour for random values of every magnitude
  const rand = seededRandom(7);
  for (let t = 0; t < 20000; t++) {
    const x = Math.fround(2 ** (rand() * 44 - 28) * (1 + rand()));
    if (x > 65504) continue;
    let lo = 0;
    let hi = finite.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (finite[mid] <= x) lo = mid;
      else hi = mid;
    }
    const got = float16BitsToFloat32(float32ToFloat16Bits(x));
    const best = Math.min(Math.abs(x - finite[lo]), Math.abs(x - finite[hi]));
    assert.equal(Math.abs(x - got), best, `nearest float16 of ${x}`);
    if (Math.abs(x - finite[lo]) === Math.abs(x - finite[hi])) assert.equal(float32ToFloat16Bits(got) & 1, 0, `tie of ${x} goes to even`);
  }
});

test("i8: fit, encode, decode; the error per dimension is at most scale / 2", async () => {
  const n = 500;
  const d = 24;
  const data = gaussianRows(n, d, 1);
  for (let i = 0; i < n; i++) data[i * d + 3] *= 100; // dimensions of very different ranges
  const state = fitI8(data, n, d);
  assert.deepEqual(JSON.parse(JSON.stringify(state)), state, "the state is plain JSON");
  const codes = encodeI8(state, data, n, d);
  const back = decodeI8(state, codes, n, d);
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let k = 0; k < d; k++) {
      const err = Math.abs(back[i * d + k] - data[i * d + k]);
      const bound = state.scale[k] / 2;
      assert.ok(err <= bound * (1 + 1e-6) + 1e-6 * Math.abs(data[i * d + k]), `row ${i} dim ${k}: error ${err} > scale/2 = ${bound}`);
      worst = Math.max(worst, err / bound);
    }
  assert.ok(worst > 0.5, "the bound is tight enough to mean something");
  assert.ok(codes.every((c) => c >= -127 && c <= 127));
  // values outside the fitted range clamp instead of wrapping around
  const far = Float32Array.from({ length: d }, (_, k) => state.offset[k] + 1000 * (state.scale[k] + 1));
  assert.ok(encodeI8(state, far, 1, d).every((c) => c === 127));
});

test("i8: a constant dimension gets scale 0, codes 0 and decodes exactly (no division by zero)", async () => {
  const n = 50;
  const d = 5;
  const data = gaussianRows(n, d, 2);
  for (let i = 0; i < n; i++) {
    data[i * d + 1] = 0.3;
    data[i * d + 4] = 0;
  }
  const v = encodeVectors("i8", data, n, d);
  assert.equal(v.state!.scale[1], 0);
  assert.equal(v.state!.scale[4], 0);
  const codes = v.codes as Int8Array;
  const back = decodeVectors(v);
  for (let i = 0; i < n; i++) {
    assert.equal(codes[i * d + 1], 0);
    assert.equal(back[i * d + 1], Math.fround(0.3));
    assert.equal(back[i * d + 4], 0);
  }
  assert.ok(back.every(Number.isFinite));
  // a single row: every dimension is constant
  const one = encodeVectors("i8", data.subarray(0, d), 1, d);
  assert.deepEqual(Array.from(decodeVectors(one)), Array.from(data.subarray(0, d)));
});

test("NaN and Inf rows are found by findBadRows and refused by the encoders", async () => {
  const d = 4;
  const data = gaussianRows(6, d, 3);
  data[1 * d + 2] = NaN;
  data[3 * d + 0] = Infinity;
  data[5 * d + 3] = -Infinity;
  assert.deepEqual(findBadRows(data, 6, d), [1, 3, 5]);
  assert.deepEqual(findBadRows(gaussianRows(6, d, 4), 6, d), []);
  for (const e of ["f32", "f16", "i8"] as const) assert.throws(() => encodeVectors(e, data, 6, d), /NaN or Infinity \(row 1, 3, 5\)/);
  assert.throws(() => fitI8(data, 6, d), /NaN or Infinity/);
});

test("bytes per vector, and malformed encoded vectors are refused", async () => {
  assert.equal(bytesPerVector("f32", 1280), 5120);
  assert.equal(bytesPerVector("f16", 1280), 2560);
  assert.equal(bytesPerVector("i8", 1280), 1280);
  assert.throws(() => bytesPerVector("f8" as Encoding, 3), /unknown vector encoding "f8"/);
  const v = encodeVectors("f16", gaussianRows(3, 4, 5), 3, 4);
  assert.throws(() => checkEncodedVectors({ ...v, codes: new Int8Array(12) }), /f16 vectors need 3 x 4 codes in a Uint16Array/);
  assert.throws(() => checkEncodedVectors({ ...encodeVectors("i8", gaussianRows(3, 4, 5), 3, 4), state: { scale: [1, 1], offset: [0, 0] } }), /i8 quantisation state/);
});

test("an encoding mismatch is refused, naming both encodings", async () => {
  const v = encodeForCosine("i8", gaussianRows(20, 8, 6), 20, 8);
  const index = EncodedIndex.create(v);
  assert.doesNotThrow(() => index.checkEncoding("i8"));
  assert.throws(() => index.checkEncoding("f16"), (e: Error) => /encoded as i8/.test(e.message) && /f16 was asked for/.test(e.message));
  assert.throws(() => checkEncoding("f32", { encoding: "f16" }, "/x/index"), /\/x\/index: the vectors are encoded as f16 but f32 was asked for/);
});

test("f32 encoded search gives the same top-k, with the same scores, as exactSearch on the JS kernel", async () => {
  const d = 48;
  const db = matrix(gaussianRows(3000, d, 10), d, "img");
  const q = matrix(gaussianRows(17, d, 11), d, "q");
  const want = await exactSearch(db, q, { kernel: "js", k: 10 });
  // 700-row blocks: the scan crosses block boundaries as it does on large collections
  const index = EncodedIndex.create(encodeForCosine("f32", db.data, 3000, d), { blockRows: 700 });
  for (const batch of [1, 5, 64]) {
    const got = await index.search(q.data, 17, { k: 10, batch });
    got.forEach((h, i) => {
      assert.deepEqual(Array.from(h.rows, (r) => db.ids[r]), want[i].hits.map((x) => x.id), `batch ${batch} query ${i}`);
      assert.deepEqual(Array.from(h.scores), want[i].hits.map((x) => x.score), `batch ${batch} query ${i} scores`);
    });
  }
  // ties go to the lower row, as in exactSearch: a duplicated row ranks right after its original
  const dup = new Float32Array(db.data);
  dup.set(dup.subarray(0, d), 7 * d);
  const tie = EncodedIndex.create(encodeForCosine("f32", dup, 3000, d));
  const [first] = await tie.search(dup.slice(0, d), 1, { k: 3 });
  assert.deepEqual(Array.from(first.rows.subarray(0, 2)), [0, 7]);
  await index.dispose();
  await tie.dispose();
});

test("i8 and f16 recall@10 against f32 exact on clustered data, without and with refine", async () => {
  const n = 6000;
  const d = 64;
  const raw = clusteredRows(n, d, 60, 0.6, 12);
  const queries = clusteredRows(40, d, 60, 0.6, 12).map((v, i) => v + 0.3 * Math.sin(i)); // near the same centres
  const f32 = EncodedIndex.create(encodeForCosine("f32", raw, n, d));
  const truth = (await f32.search(queries, 40, { k: 10 })).map((h) => h.rows);
  const reader = (rows: Int32Array) => {
    const out = new Float32Array(rows.length * d);
    rows.forEach((r, i) => out.set(raw.subarray(r * d, (r + 1) * d), i * d));
    return out;
  };
  for (const encoding of ["i8", "f16"] as const) {
    const index = EncodedIndex.create(encodeForCosine(encoding, raw, n, d), { blockRows: 1500 });
    // batch 1 runs the single-query kernel (WebAssembly SIMD for i8), batch 64 the batched one (ONNX Runtime)
    for (const batch of [1, 64]) {
      const plain = await index.search(queries, 40, { k: 10, batch });
      const recall = neighbourRecall(truth, plain.map((h) => h.rows), 10);
      assert.ok(recall >= (encoding === "i8" ? 0.97 : 0.999), `${encoding} batch ${batch} recall@10 ${recall}`);
      const refined = await index.search(queries, 40, { k: 10, batch, refine: 4, rows: reader });
      assert.equal(neighbourRecall(truth, refined.map((h) => h.rows), 10), 1, `${encoding} batch ${batch} refined`);
      refined.forEach((h, i) => assert.deepEqual(Array.from(h.rows), Array.from(truth[i]), `${encoding} refined order of query ${i}`));
      // the compressed scores estimate the cosine
      plain.forEach((h) => h.scores.forEach((s) => assert.ok(s > 0.3 && s <= 1.01, `score ${s}`)));
    }
    await assert.rejects(index.search(queries, 40, { refine: 2 }), /refine needs the float32 rows/);
    await index.dispose();
  }
  await f32.dispose();
});

test("the i8 score is q·offset + t (u·c): it equals the dot product with the decoded rows up to the query's rounding", async () => {
  const n = 300;
  const d = 32;
  const v = encodeForCosine("i8", gaussianRows(n, d, 13), n, d);
  const decoded = decodeVectors(v);
  const q = gaussianRows(2, d, 14);
  const index = EncodedIndex.create(v);
  for (const batch of [1, 2]) {
    const hits = await index.search(q, 2, { k: 5, batch });
    hits.forEach((h, i) => {
      let qn = 0;
      for (let k = 0; k < d; k++) qn += q[i * d + k] ** 2;
      h.rows.forEach((r, j) => {
        let dot = 0;
        for (let k = 0; k < d; k++) dot += (q[i * d + k] / Math.sqrt(qn)) * decoded[r * d + k];
        assert.ok(Math.abs(h.scores[j] - dot) < 0.02, `batch ${batch}: ${h.scores[j]} vs ${dot}`);
      });
    });
  }
  await index.dispose();
});

test("codes given as a view into a larger buffer (as a store may read them) search the same", async () => {
  const n = 400;
  const d = 16;
  const v = encodeForCosine("i8", gaussianRows(n, d, 15), n, d);
  const padded = new Int8Array(n * d + 64);
  padded.set(v.codes as Int8Array, 64);
  const view = { ...v, codes: padded.subarray(64) };
  const q = gaussianRows(3, d, 16);
  const a = EncodedIndex.create(v);
  const b = EncodedIndex.create(view, { blockRows: 128 });
  for (const batch of [1, 3]) {
    const want = await a.search(q, 3, { k: 5, batch });
    const got = await b.search(q, 3, { k: 5, batch });
    assert.deepEqual(got.map((h) => Array.from(h.rows)), want.map((h) => Array.from(h.rows)), `batch ${batch}`);
  }
  await a.dispose();
  await b.dispose();
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { preprocessPixels, PREPROCESS_MODES } from "../lib/backbone";

const px = new Uint8Array([255, 128, 0, 10, 20, 30]); // two RGB pixels

function close(a: Float32Array, b: number[]) {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-4, `${i}: ${v} vs ${b[i]}`));
}

test("caffe: BGR order, ImageNet BGR means subtracted (Keras imagenet_utils)", () => {
  close(preprocessPixels(px, "caffe"), [0 - 103.939, 128 - 116.779, 255 - 123.68, 30 - 103.939, 20 - 116.779, 10 - 123.68]);
});

test("caffe-swapped-means: BGR order, red and blue means exchanged (the originals' bug)", () => {
  close(preprocessPixels(px, "caffe-swapped-means"), [0 - 123.68, 128 - 116.779, 255 - 103.939, 30 - 123.68, 20 - 116.779, 10 - 103.939]);
});

test("tf, unit and torch scalings", () => {
  close(preprocessPixels(px, "tf"), [1, 128 / 127.5 - 1, -1, 10 / 127.5 - 1, 20 / 127.5 - 1, 30 / 127.5 - 1]);
  close(preprocessPixels(px, "unit"), [1, 128 / 255, 0, 10 / 255, 20 / 255, 30 / 255]);
  close(preprocessPixels(px, "torch").subarray(0, 3), [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225]);
});

test("every registered mode is handled and writes into a given buffer", () => {
  for (const mode of PREPROCESS_MODES) {
    const out = new Float32Array(6).fill(NaN);
    assert.equal(preprocessPixels(px, mode, out), out);
    assert.ok(out.every(Number.isFinite), mode);
  }
});

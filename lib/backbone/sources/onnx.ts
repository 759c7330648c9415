/** A native ONNX model file (`path/to/model.onnx`), run by ONNX Runtime as it is. */
import * as fs from "node:fs";
import { readOnnxFile } from "../onnx/native";
import type { BackboneSource } from "./types";

export const onnxFileBackbones: BackboneSource = {
  accepts: "the path of an .onnx file whose input is a float32 image batch, NHWC or NCHW (runtime onnx only)",
  matches: (name) => /\.onnx$/i.test(name) && fs.existsSync(name),
  resolve: (name) => readOnnxFile(name),
};

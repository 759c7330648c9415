/** TensorFlow.js models: a URL of a model.json, or a path to a model.json or its folder. */
import * as fs from "node:fs";
import { fileSource, isUrl, urlSource } from "../tfjs-file";
import { resolvedFrom } from "../source";
import type { BackboneSource } from "./types";

export const tfjsUrlBackbones: BackboneSource = {
  accepts: "the URL of a tfjs model.json",
  matches: isUrl,
  resolve: async (name) => resolvedFrom(await urlSource(name)),
};

export const tfjsFileBackbones: BackboneSource = {
  accepts: "the path of a tfjs model.json or of its folder",
  matches: (name) => fs.existsSync(name),
  resolve: async (name) => resolvedFrom(fileSource(name)),
};

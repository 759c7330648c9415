/** Keras applications built in TypeScript (`keras/vgg16`, ...), and Keras `.h5` files by path or URL. */
import * as fs from "node:fs";
import { KERAS_MODELS, isKerasName, kerasModel, kerasModelFromH5 } from "../keras/index";
import { isUrl } from "../tfjs-file";
import type { BackboneSource } from "./types";

export const kerasBackbones: BackboneSource = {
  accepts: "Keras applications, weights from Keras's published .h5 files",
  names: KERAS_MODELS,
  matches: isKerasName,
  resolve: (name, options) => kerasModel(name as (typeof KERAS_MODELS)[number], options),
};

export const kerasH5Backbones: BackboneSource = {
  accepts: "a Keras .h5 file: a URL, or a path ending in .h5, .hdf5 or .keras",
  matches: (name) => (isUrl(name) ? /\.h5(\?|$)/i.test(name) : /\.(h5|hdf5|keras)$/i.test(name) && fs.existsSync(name)),
  resolve: (name, options) => kerasModelFromH5(name, options),
};

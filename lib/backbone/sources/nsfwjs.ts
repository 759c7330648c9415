/** The nsfwjs models bundled with the package: `nsfwjs/mobilenet_v2`, `nsfwjs/inception_v3`, `nsfwjs/mobilenet_v2_mid`. */
import { NSFWJS_MODELS, nsfwjsSource, type NsfwjsModelName } from "../nsfwjs";
import { resolvedFrom } from "../source";
import type { BackboneSource } from "./types";

export const nsfwjsBackbones: BackboneSource = {
  accepts: "bundled nsfwjs models",
  names: NSFWJS_MODELS,
  matches: (name) => (NSFWJS_MODELS as readonly string[]).includes(name),
  resolve: async (name) => resolvedFrom(nsfwjsSource(name as NsfwjsModelName)),
};

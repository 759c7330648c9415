/** The model zoo: `mobilenet_v1_0.75_224` (also `zoo/mobilenet_v1_0.75_224`), downloaded once into the cache. */
import { isZooName, ZOO_MODELS, zooSource } from "../zoo";
import { resolvedFrom } from "../source";
import type { BackboneSource } from "./types";

export const zooBackbones: BackboneSource = {
  accepts: "model zoo names, downloaded once into the cache",
  names: ZOO_MODELS,
  matches: isZooName,
  resolve: async (name, options) => resolvedFrom(await zooSource(name, options)),
};

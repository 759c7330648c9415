/** Backbones: load any supported network, list its layers, cut it, run it (see README.md). */
export * from "./types";
export * from "./preprocess";
export { getTf, tfModule, tfBackendName, TFJS_BACKENDS, type Tf, type TfjsBackendName } from "./tf";
export { loadBackbone, listLayers, truncateAt, loadLayersModel, describeLayers, backboneSettings, DEFAULT_RUNTIME, type LoadBackboneOptions } from "./load";
export type { BackboneMeta } from "./tfjs-backbone";
export { resolveModel, checkModelName, knownModelNames, backboneNamesHelp, sourceFor, BACKBONE_SOURCES, BACKBONE_SOURCE_NAMES, type BackboneSource, type BackboneSourceName, type ResolveOptions } from "./sources/index";
export type { ResolvedModel, OnnxFileModel } from "./source";
export type { BackboneDefaults } from "./source";
export { NSFWJS_MODELS, type NsfwjsModelName } from "./nsfwjs";
export { BASE_URL_ENV, OFFLINE_ENV, downloadFile, downloadsDisabled, modelUrl, type ExpectedFile } from "./download";
export { ZOO, ZOO_MODELS, zooCacheDir, zooModelDir, bundledZooDir, downloadZooModel, type ZooEntry, type ZooModelName } from "./zoo";
export {
  KERAS_MODELS,
  KERAS_INFO,
  KERAS_ARCHITECTURES,
  TOP_LAYERS,
  kerasCacheDir,
  buildArchitecture,
  readKerasH5,
  detectArchitecture,
  type KerasModelName,
  type KerasArchitecture,
  type KerasLoadOptions,
  type ArchitectureOptions,
} from "./keras/index";

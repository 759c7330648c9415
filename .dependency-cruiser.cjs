/**
 * The layering of lib/, checked by `npm test` (test/layering.test.ts runs dependency-cruiser with this file).
 * Stages, lowest first; a stage may import its own folder and any lower stage, never a higher one:
 *
 *   base       lib/{types,errors,report,progress,fingerprint,fsutil,random}.ts, lib/simd/
 *   onnx       lib/onnx/        protobuf writer, tfjs -> ONNX compiler (backbone runtime and search kernels)
 *   prepare    lib/prepare/     scan a folder, labels, decode
 *   backbone   lib/backbone/    sources, load, runtimes
 *   extract    lib/extract/     batched features, pooling, histograms, pixels, dHash
 *   reduce     lib/reduce/      post-processing steps (fit / transform), PCA, eigen solver
 *   rank       lib/rank/        vector metrics, the exact search engine, HNSW, encodings, re-ranking
 *   embed      lib/embed/       t-SNE
 *   evaluate   lib/evaluate/    P@k, AP, mAP over rankings
 *   plot       lib/plot/        figures
 *   learn      lib/learn/       triplet head, learned similarity
 *   store      lib/store/       indexes on disk (folder, LanceDB): vectors and the fitted pipeline's JSON
 *   pipeline   lib/pipeline/, lib/config.ts, lib/notebook.ts   the one pipeline object, demo, sweep
 *   api        lib/index.ts     the public API
 *   cli        lib/cli/         sub-commands: parse, call one lib function, print
 *
 * A violation fails the test with the rule's name, e.g. "stage-order:rank" for lib/rank importing lib/store.
 */
const STAGES = [
  ["base", ["lib/(types|errors|report|progress|fingerprint|fsutil|random)\\.ts$", "lib/simd/"]],
  ["onnx", ["lib/onnx/"]],
  ["prepare", ["lib/prepare/"]],
  ["backbone", ["lib/backbone/"]],
  ["extract", ["lib/extract/"]],
  ["reduce", ["lib/reduce/"]],
  ["rank", ["lib/rank/"]],
  ["embed", ["lib/embed/"]],
  ["evaluate", ["lib/evaluate/"]],
  ["plot", ["lib/plot/"]],
  ["learn", ["lib/learn/"]],
  ["store", ["lib/store/"]],
  ["pipeline", ["lib/pipeline/", "lib/config\\.ts$", "lib/notebook\\.ts$"]],
  ["api", ["lib/index\\.ts$"]],
  ["cli", ["lib/cli/"]],
];

const anyOf = (paths) => `^(${paths.join("|")})`;

/** One rule per stage: from the stage to any lib/ file that is not in it or a lower stage. */
const stageRules = STAGES.map(([name, paths], i) => {
  const allowed = STAGES.slice(0, i + 1).flatMap(([, p]) => p);
  const higher = STAGES.slice(i + 1).map(([n]) => n);
  return {
    name: `stage-order:${name}`,
    comment: `lib/${name} imports only its own stage and lower ones, never ${higher.join(", ") || "(nothing is higher)"}.`,
    severity: "error",
    from: { path: anyOf(paths) },
    to: { path: "^lib/", pathNot: anyOf(allowed) },
  };
});

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "Import cycles (type-only imports included) make the stages impossible to read top-down.",
      severity: "error",
      from: { path: "^(lib|bench|scripts|test)/" },
      to: { circular: true },
    },
    {
      name: "lib-never-imports-cli",
      comment: "lib/ is what the CLI, the notebooks and the tests call; only lib/cli/ itself imports lib/cli/.",
      severity: "error",
      from: { path: "^lib/", pathNot: "^lib/cli/" },
      to: { path: "^lib/cli/" },
    },
    {
      name: "lib-never-imports-tools",
      comment: "lib/ ships to users; bench/, scripts/ and test/ are the project's own tools.",
      severity: "error",
      from: { path: "^lib/" },
      to: { path: "^(bench|scripts|test)/" },
    },
    {
      name: "unlisted-lib-file",
      comment: "Every lib/ file belongs to a stage of .dependency-cruiser.cjs (add a new folder to STAGES).",
      severity: "error",
      from: { path: "^lib/", pathNot: anyOf(STAGES.flatMap(([, p]) => p)) },
      to: {},
    },
    ...stageRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|notebooks)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    moduleSystems: ["cjs", "es6"],
  },
};

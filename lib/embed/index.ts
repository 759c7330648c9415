/** Stage "embed": t-SNE maps of feature vectors (exact for small collections, Barnes-Hut with worker threads above). */
export { tsne, klDivergence, TSNE_METHODS, TSNE_INITS, EXACT_MAX_POINTS, PARALLEL_MIN_POINTS } from "./tsne";
export { defaultTsneThreads, tsneThreads } from "./tsne-pool";
export type { TsneOptions, TsneResult, TsneMethod, TsneInit } from "./tsne";
export { trustworthiness, neighbourPreservation, labelAgreement } from "./tsne-quality";

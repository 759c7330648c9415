/** Stage "plot": figures as PNG bytes (sharp + SVG), t-SNE, and inline display in tslab notebooks. */
export { renderRecommendation, RECOMMENDATION_LAYOUTS } from "./recommendation";
export type { RecommendationHit, RecommendationOptions, RecommendationLayout } from "./recommendation";
export { writePng } from "./canvas";
export { tsne, tsneAsync, klDivergence, TSNE_METHODS, TSNE_INITS, EXACT_MAX_POINTS, PARALLEL_MIN_POINTS } from "./tsne";
export { DEFAULT_TSNE_THREADS } from "./tsne-pool";
export type { TsneOptions, TsneResult, TsneMethod, TsneInit } from "./tsne";
export { trustworthiness, neighbourPreservation, labelAgreement } from "./tsne-quality";
export { renderTsneThumbnails, renderTsneScatter, tsneScatterPlotly, labelColours } from "./tsne-plot";
export type { TsneThumbnailOptions, TsneScatterOptions, PlotlyFigure } from "./tsne-plot";
export { renderLineChart, renderPrecisionAtK, renderTrainingCurves, niceTicks } from "./charts";
export type { Series, LineChartOptions } from "./charts";
export { renderGrid, GRID_CAPTIONS } from "./grid";
export type { GridOptions, GridCaption } from "./grid";
export { showPng, showPlotly, plotlyHtml, inlineDisplayAvailable } from "./inline";

/** Stage "plot": figures as PNG bytes (sharp + SVG) and inline display in tslab notebooks; t-SNE itself is in lib/embed. */
export { renderRecommendation, RECOMMENDATION_LAYOUTS } from "./recommendation";
export type { RecommendationHit, RecommendationOptions, RecommendationLayout } from "./recommendation";
export { renderRecommendations } from "./recommendations";
export type { RecommendationsOptions } from "./recommendations";
export { writePng } from "./canvas";
export { renderTsneThumbnails, renderTsneScatter, tsneScatterPlotly, labelColours } from "./tsne-plot";
export type { TsneThumbnailOptions, TsneScatterOptions, PlotlyFigure } from "./tsne-plot";
export { renderLineChart, renderPrecisionAtK, renderTrainingCurves, niceTicks } from "./charts";
export type { Series, LineChartOptions } from "./charts";
export { renderGrid, GRID_CAPTIONS } from "./grid";
export type { GridOptions, GridCaption } from "./grid";
export { showPng, showPlotly, plotlyHtml, inlineDisplayAvailable } from "./inline";

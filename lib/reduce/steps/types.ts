/**
 * The post-processing step contract, scikit-learn style: fit on the database, transform anything with the
 * fitted state, the state serialised as plain JSON (arrays as base64 float32) for an index manifest.
 */
import type { Reporter } from "../../report";
import type { FeatureMatrix } from "../../types";
import type { CenterState } from "../normalize";
import type { PcaState } from "../pca";

/** A step as asked for in a pipeline (the CLI / config form is parsed into these by parsePostSteps). */
export type FuseStep = { fuse: { split: number; weight: number; center?: boolean; whiten?: number } };
export interface FuseState {
  kind: "fuse";
  /** 2: blocks normalised before centring or whitening, histogram block centred (states without it are refused). */
  version: 2;
  split: number;
  weight: number;
  /** Mean of the unit CNN block when centring without whitening. */
  mean?: Float32Array;
  /** Mean of the unit histogram block when centring. */
  histMean?: Float32Array;
  /** Whitening of the unit CNN block. */
  pca?: PcaState;
}

export type PostStep = "l2" | "center" | { pca: number; whiten?: boolean; shrinkage?: number } | FuseStep;
/** A fitted step; `kind` names the registry entry that transforms and serialises it. */
export type FittedStep = { kind: "l2" } | CenterState | PcaState | FuseState;

export interface Step<Options, State extends FittedStep> {
  /** The state's `kind`, as written into index manifests. */
  readonly name: State["kind"];
  /** This step's options when `spec` asks for it, else undefined. */
  optionsOf(spec: PostStep): Options | undefined;
  /** Learns the state from the database. May fit another step's state (regularised PCA falls back to centring). */
  fit(m: FeatureMatrix, options: Options, reporter?: Reporter): FittedStep;
  transform(m: FeatureMatrix, state: State): FeatureMatrix;
  toJSON(state: State): Record<string, unknown>;
  fromJSON(json: Record<string, unknown>): State;
}

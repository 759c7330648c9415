/**
 * lib/ never prints. Long work reports through these callbacks; the CLI draws a progress bar and prints
 * notices, notebooks print them in the cell. Every callback is optional.
 */
export interface ProgressEvent {
  /** Stage name: "decode", "extract", "rank", "plot", "tsne", ... */
  stage: string;
  done: number;
  total: number;
  /** The item just finished, when there is one. */
  item?: string;
}

export interface Notice {
  level: "info" | "warn";
  message: string;
  file?: string;
}

export interface Reporter {
  /** A line in the spirit of the originals' logs (`X_features.shape = (36, 2048)`). */
  log?(line: string): void;
  progress?(event: ProgressEvent): void;
  notice?(notice: Notice): void;
}

export const silent: Reporter = Object.freeze({});

/** Calls the reporter's callbacks when present, so stages need no null checks. */
export function reporterOf(r: Reporter | undefined) {
  const rep = r ?? silent;
  return {
    log: (line: string) => rep.log?.(line),
    progress: (stage: string, done: number, total: number, item?: string) => rep.progress?.({ stage, done, total, item }),
    info: (message: string, file?: string) => rep.notice?.({ level: "info", message, file }),
    warn: (message: string, file?: string) => rep.notice?.({ level: "warn", message, file }),
  };
}

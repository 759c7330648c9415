/**
 * The contract of a backbone source. Kept apart from the registry (index.ts) so that each source file can
 * import it without importing the registry that imports them.
 */
import type { Reporter } from "../../report";
import type { KerasLoadOptions } from "../keras/index";
import type { ResolvedModel } from "../source";

export interface ResolveOptions extends KerasLoadOptions {
  reporter?: Reporter;
  /** Never download (zoo models and Keras weights must already be cached). */
  offline?: boolean;
}

/** Where backbones come from: the first registered source whose `matches(name)` is true resolves the name. */
export interface BackboneSource {
  /** One line for docs and `--help`: what names this source takes. */
  readonly accepts: string;
  /** The model names this source knows (listed in the unknown-model error); none for path and URL sources. */
  readonly names?: readonly string[];
  matches(name: string): boolean;
  resolve(name: string, options: ResolveOptions): Promise<ResolvedModel>;
}

/**
 * Chooses a batch size while the work runs, by timing real batches: larger batches pay off only when the
 * runtime spreads one batch over several threads (ONNX Runtime with 2 threads: up to 2x from batch 1 to
 * 16; with 1 thread or tfjs-wasm: next to nothing), and they cost memory. Exploring on the real images
 * wastes no time on calibration runs. Works for any runtime.
 *
 *   const tuner = new BatchTuner();
 *   while (left) { const b = tuner.next(); ...; tuner.record(b, ms); }
 */
import { invalidOption } from "../../errors";

export interface BatchTunerOptions {
  /** Sizes tried, ascending (default 4, 8, 16, 32). */
  candidates?: number[];
  /** Timed batches per size (default 3); the first one of each size is ignored (a new shape allocates). */
  trials?: number;
  /** Largest size allowed, e.g. from a memory budget (default: no limit). */
  max?: number;
}

export class BatchTuner {
  private readonly candidates: number[];
  private readonly trials: number;
  /** Per size, the milliseconds per image of each timed batch. */
  private readonly times = new Map<number, number[]>();
  private choice: number | undefined;

  constructor(options: BatchTunerOptions = {}) {
    const c = options.candidates ?? [4, 8, 16, 32];
    if (!c.length || c.some((x) => !Number.isInteger(x) || x < 1)) throw invalidOption("candidates", "non-empty array of positive integers", c);
    const max = options.max ?? Infinity;
    this.candidates = c.filter((x, i) => i === 0 || x <= max);
    this.trials = Math.max(2, options.trials ?? 3);
  }

  /** The largest size this tuner may ask for (for sizing buffers). */
  get largest(): number {
    return Math.max(...this.candidates);
  }

  /** The chosen size once exploring is over, else undefined. */
  get chosen(): number | undefined {
    return this.choice;
  }

  /** Size for the next batch: each candidate in turn until timed enough, then the fastest per image. */
  next(): number {
    if (this.choice !== undefined) return this.choice;
    for (const c of this.candidates) if ((this.times.get(c)?.length ?? 0) < this.trials) return c;
    this.choice = this.fastest();
    return this.choice;
  }

  /** Reports how long a batch of `size` took (a short last batch should not be reported). */
  record(size: number, milliseconds: number): void {
    const list = this.times.get(size) ?? [];
    list.push(milliseconds / size);
    this.times.set(size, list);
  }

  /** Images per second of each size timed (best warm batch). */
  measured(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const [size, list] of this.times) if (list.length > 1) out[size] = 1000 / Math.min(...list.slice(1));
    return out;
  }

  private fastest(): number {
    // Prefer the smaller size unless a larger one is clearly (5%) faster: less memory, less noise.
    let best = this.candidates[0];
    let bestMs = Infinity;
    for (const c of this.candidates) {
      const list = this.times.get(c) ?? [];
      const ms = list.length > 1 ? Math.min(...list.slice(1)) : Infinity;
      if (ms < bestMs * 0.95) {
        best = c;
        bestMs = ms;
      }
    }
    return best;
  }
}

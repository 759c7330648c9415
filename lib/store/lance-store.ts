/**
 * An index as a Lance table (LanceDB, embedded): one row per image, on a local disk or on object storage,
 * readable by any LanceDB client (Python, Rust, DuckDB, Spark) as table `images` of the database URI.
 *
 * Columns
 *   id         the image's path relative to the database root, `/`-separated (the folder index's item name)
 *   path       absolute path when indexed (figures); sha256, size, mtime_ms: the file as indexed (sha256
 *              of the content, as the folder index's manifest)
 *   label      class label when known
 *   raw        the extracted CNN vector, before any fitted step
 *   histogram  the square-rooted colour histogram, when the pipeline fuses one (absent otherwise)
 *   search     raw (+ histogram) after the post-processing fitted at the last optimize; the column the
 *              vector index is built on. Absent until the first optimize, and when the pipeline has no
 *              post-processing (then `raw` is searched).
 *   codes      with `--vectors f16|i8`: the searched vectors, L2-normalised and encoded as the folder index's
 *              codes file (Arrow Float16 or Int8 lists; i8 with the per-dimension scale and offset fitted at
 *              the last optimize, in the metadata). Absent for f32 and until the first optimize.
 *   in_fit     whether the row was among those the post-processing was fitted on (false: added since,
 *              with the frozen transform), so the updater knows how much changed since the last fit
 * Schema metadata (keys `cbir.*`): format and version, the fingerprint of the raw vectors, their length and
 * the histogram's, the pipeline settings, the post-processing steps asked for and, after an optimize, its
 * fitted state (lib/reduce/postprocess.ts postToJSON) with the fingerprint of the search vectors, and the
 * encoding of the codes with its fitted state. The metadata is only ever replaced together with the search
 * and codes columns, in one commit (an overwrite at optimize), so they always agree.
 *
 * Writes are LanceDB commits: merge-inserts on `id` (new and changed images), deletes (removed images),
 * each atomic; a killed run leaves the last commit. Several writers may commit at once: LanceDB resolves
 * appends, merge-inserts on distinct ids and deletes of distinct rows by retrying the commit on the new
 * version (checked by test/store.lance-shard.test.ts with three processes); a conflict that still fails is
 * retried here (commitWithRetry). optimize() rewrites the table and must run alone (after the shards).
 *
 * Search: below FLAT_MAX_ROWS rows there is no vector index and LanceDB scans exactly; above, optimize
 * builds one (see chooseVectorIndex). For external queries on tables up to AUGMENT_MAX_ROWS rows the search
 * vectors are ranked in memory by the same code as the folder index, so every re-ranking step applies
 * (query expansion with database-side augmentation; with f16 / i8 codes, exact search over the codes and
 * refine with the float32 search column, as the folder index); above that, LanceDB searches the float32
 * search column (its HNSW_SQ / IVF_PQ index is the compressed form there) and query expansion is applied
 * to the query only (database-side expansion needs every row's neighbours: it does not scale).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as arrow from "apache-arrow";
import type { Connection, Table } from "@lancedb/lancedb";
import { CbirError, expectOneOf, invalidOption, isCbirError } from "../errors";
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import { applyPostprocess, postFromJSON, type FittedPost, type FittedPostJSON } from "../reduce/postprocess";
import { checkEncodingName, checkI8State, type Codes, type EncodedVectors, type Encoding, type I8State } from "../rank/encoding";
import { encodeForCosine, rowReader } from "../rank/encoded-search";
import { AUGMENT_MAX_ROWS, checkRefine, ExactIndex, exactSearch } from "../rank/exact";
import { higherIsBetter, vectorMetric } from "../rank/metrics/index";
import { expandFromHits } from "../rank/rerank";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Hit, ImageItem, PostFitter, Ranking } from "../types";
import { IMAGES_TABLE, parseStoreUri, type StoreUri } from "./store-uri";

export const LANCE_FORMAT = "cbir-lance";
export const LANCE_VERSION = 1;
/** Rows below which no vector index is built: LanceDB's exact scan is a few ms there. */
export const FLAT_MAX_ROWS = 100_000;
/** Rows above which IVF_PQ replaces HNSW_SQ: the HNSW graph's memory grows with the row count. */
export const HNSW_MAX_ROWS = 5_000_000;

type LanceModule = typeof import("@lancedb/lancedb");
let lanceModule: LanceModule | undefined;

/**
 * LanceDB's native module, loaded on first use (the folder index never loads it). Its Rust logger would
 * print WARN lines with internal traces on stderr (a missing table, a credential probe): off unless
 * LANCEDB_LOG is set by the user. The variable is read when the module loads, hence here.
 */
async function lance(): Promise<LanceModule> {
  if (!lanceModule) {
    process.env.LANCEDB_LOG ??= "off";
    lanceModule = await import("@lancedb/lancedb");
  }
  return lanceModule;
}

/** One line of a native error: no Rust source locations, no nested trace, at most 240 characters. */
function nativeReason(e: unknown): string {
  const text = String((e as Error)?.message ?? e).split("\n")[0];
  const cut = text.replace(/,?\s*\/[^\s]*\.rs:\d+:\d+.*$/, "").replace(/\s*Caused by:.*$/, "").trim();
  return cut.length > 240 ? `${cut.slice(0, 237)}...` : cut;
}

/** A LanceDB failure as one CbirError naming the store and the fix. */
export function storeError(e: unknown, store: StoreUri & { kind: "lance" }, doing: string): CbirError {
  if (isCbirError(e)) return e;
  const reason = nativeReason(e);
  const remote = store.scheme !== "file";
  if (!remote && /not a directory|permission denied|read-only file system|os error (13|20|30)\b/i.test(reason))
    return new CbirError("E_NOT_WRITABLE", `cannot ${doing} '${store.text}': ${reason}.`, { file: store.text, fix: "give a path in a writable folder." });
  if (/credential/i.test(reason))
    return new CbirError("E_NO_CREDENTIALS", `cannot ${doing} '${store.text}': the credentials were refused or not found (${reason}).`, {
      file: store.text,
      fix: "check the credential variables listed in the README section \"More than one machine\".",
    });
  if (remote && /error sending request|connect|dns|timed? ?out|unreachable|HTTP error|refused|network/i.test(reason))
    return new CbirError("E_NETWORK", `cannot ${doing} '${store.text}': the store did not answer (${reason}).`, {
      file: store.text,
      fix: "check the URI, the endpoint (AWS_ENDPOINT_URL for an S3-compatible store) and the network.",
    });
  return new CbirError("E_INDEX_CORRUPT", `cannot ${doing} '${store.text}': the Lance table is damaged or unreadable (${reason}).`, {
    file: store.text,
    fix: "restore the table from a copy, or index again into a new URI.",
  });
}

/** Runs a commit, retrying LanceDB's commit conflicts (concurrent writers) a few times with jitter. */
async function commitWithRetry<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || !/conflict|retryable|concurrent/i.test(String((e as Error)?.message))) throw e;
      await new Promise((r) => setTimeout(r, 50 * i + Math.random() * 100 * i));
    }
  }
}

/** A handle pinned at one version, and its rows' ids and labels by row address (LanceStore.nearest). */
interface AddressedRows {
  table: Table;
  ids: string[];
  labels: (string | null)[];
  row: Map<number, number>;
}

/** What the table's metadata says about its vectors. */
export interface LanceMeta {
  fingerprint: Fingerprint;
  /** Length of a raw vector as extracted (CNN + histogram). */
  dim: number;
  /** Trailing values of the raw vector that are the histogram (0: none). */
  histogramDim: number;
  root?: string;
  config?: Record<string, string | number | boolean>;
  /** Post-processing the pipeline asks for ("center,l2"...), fitted at optimize. */
  postSteps: string[];
  /** The post-processing fitted at the last optimize. */
  post?: { steps: string[]; state: FittedPostJSON; fingerprint: Fingerprint; rows: number; fittedAt: string };
  /** Encoding of the search vectors (`--vectors`; f32 for tables made before it was recorded). */
  vectors: Encoding;
  /** The codes column's encoding, length and i8 state, fitted at the last optimize (absent for f32 or before it). */
  codes?: { encoding: Exclude<Encoding, "f32">; dim: number; state: I8State | null };
}

/** A row as written: raw is the full extracted vector (CNN values then histogram values). */
export interface LanceRow {
  id: string;
  path: string;
  sha256: string;
  size: number;
  mtimeMs: number;
  label?: string;
  raw: Float32Array;
}

/** A row as listed for an update: everything but the vectors. */
export interface LanceEntry {
  id: string;
  path: string;
  sha256: string;
  size: number;
  mtimeMs: number;
  label?: string;
}

const META = {
  format: "cbir.format",
  version: "cbir.version",
  fingerprint: "cbir.fingerprint",
  dim: "cbir.dim",
  histogramDim: "cbir.histogram_dim",
  root: "cbir.root",
  config: "cbir.config",
  postSteps: "cbir.post_steps",
  post: "cbir.post",
  vectors: "cbir.vectors",
  codes: "cbir.codes",
} as const;

const REQUIRED_COLUMNS = ["id", "path", "sha256", "size", "mtime_ms", "label", "raw", "in_fit"];

function vectorType(dim: number): arrow.FixedSizeList<arrow.Float32> {
  return new arrow.FixedSizeList(dim, new arrow.Field("item", new arrow.Float32(), true));
}

function codesType(encoding: Exclude<Encoding, "f32">, dim: number): arrow.FixedSizeList {
  return new arrow.FixedSizeList(dim, new arrow.Field("item", encoding === "f16" ? new arrow.Float16() : new arrow.Int8(), true));
}

function schemaOf(meta: LanceMeta, searchDim: number | undefined): arrow.Schema {
  const cnnDim = meta.dim - meta.histogramDim;
  const fields = [
    new arrow.Field("id", new arrow.Utf8(), false),
    new arrow.Field("path", new arrow.Utf8(), false),
    new arrow.Field("sha256", new arrow.Utf8(), false),
    new arrow.Field("size", new arrow.Float64(), false),
    new arrow.Field("mtime_ms", new arrow.Float64(), false),
    new arrow.Field("label", new arrow.Utf8(), true),
    new arrow.Field("raw", vectorType(cnnDim), false),
    ...(meta.histogramDim > 0 ? [new arrow.Field("histogram", vectorType(meta.histogramDim), false)] : []),
    ...(searchDim !== undefined ? [new arrow.Field("search", vectorType(searchDim), false)] : []),
    ...(meta.codes ? [new arrow.Field("codes", codesType(meta.codes.encoding, meta.codes.dim), false)] : []),
    new arrow.Field("in_fit", new arrow.Bool(), false),
  ];
  const md = new Map<string, string>([
    [META.format, LANCE_FORMAT],
    [META.version, String(LANCE_VERSION)],
    [META.fingerprint, JSON.stringify(meta.fingerprint)],
    [META.dim, String(meta.dim)],
    [META.histogramDim, String(meta.histogramDim)],
    [META.postSteps, meta.postSteps.join(",")],
    [META.vectors, meta.vectors],
  ]);
  if (meta.root !== undefined) md.set(META.root, meta.root);
  if (meta.config) md.set(META.config, JSON.stringify(meta.config));
  if (meta.post) md.set(META.post, JSON.stringify(meta.post));
  if (meta.codes) md.set(META.codes, JSON.stringify(meta.codes));
  return new arrow.Schema(fields, md);
}

function notOurs(store: StoreUri, why: string): CbirError {
  return new CbirError("E_NOT_AN_INDEX", `'${store.text}' holds a table '${IMAGES_TABLE}' that is not a cbir index (${why}); nothing in it was changed.`, {
    file: store.text,
    fix: "give another URI for the index: a table made by another tool is never written.",
  });
}

/** Reads and checks the cbir metadata of a table's schema (E_NOT_AN_INDEX when it is another tool's). */
function metaOf(store: StoreUri, schema: arrow.Schema): LanceMeta {
  const md = schema.metadata;
  if (md.get(META.format) !== LANCE_FORMAT) throw notOurs(store, `no ${META.format} metadata`);
  const version = Number(md.get(META.version));
  if (version > LANCE_VERSION)
    throw new CbirError("E_INDEX_CORRUPT", `'${store.text}' is a cbir Lance table of version ${version}, newer than this toolkit reads (${LANCE_VERSION}).`, { file: store.text, fix: "update the toolkit." });
  const names = new Set(schema.fields.map((f) => f.name));
  const missing = REQUIRED_COLUMNS.filter((c) => !names.has(c));
  if (missing.length) throw notOurs(store, `no column ${missing.join(", ")}`);
  try {
    const meta: LanceMeta = {
      fingerprint: JSON.parse(md.get(META.fingerprint) ?? "null") as Fingerprint,
      dim: Number(md.get(META.dim)),
      histogramDim: Number(md.get(META.histogramDim) ?? 0),
      root: md.get(META.root),
      config: md.has(META.config) ? (JSON.parse(md.get(META.config)!) as LanceMeta["config"]) : undefined,
      postSteps: (md.get(META.postSteps) ?? "").split(",").filter(Boolean),
      post: md.has(META.post) ? (JSON.parse(md.get(META.post)!) as LanceMeta["post"]) : undefined,
      vectors: checkEncodingName(md.get(META.vectors) ?? "f32"),
      codes: md.has(META.codes) ? (JSON.parse(md.get(META.codes)!) as LanceMeta["codes"]) : undefined,
    };
    if (!meta.fingerprint?.id || !(meta.dim >= 1) || !(meta.histogramDim >= 0) || meta.histogramDim >= meta.dim) throw new Error("incomplete");
    const raw = schema.fields.find((f) => f.name === "raw")!.type as arrow.FixedSizeList;
    if (raw.listSize !== meta.dim - meta.histogramDim) throw new Error(`raw column of ${raw.listSize} values, metadata says ${meta.dim - meta.histogramDim}`);
    if (meta.post && !names.has("search")) throw new Error("fitted post-processing but no search column");
    if (meta.codes) {
      if (meta.codes.encoding !== meta.vectors || !names.has("codes")) throw new Error(`codes metadata for ${meta.codes.encoding} but the table's vectors are ${meta.vectors}${names.has("codes") ? "" : " and it has no codes column"}`);
      if (meta.codes.encoding === "i8") checkI8State(meta.codes.state, meta.codes.dim);
    }
    return meta;
  } catch (e) {
    throw new CbirError("E_INDEX_CORRUPT", `'${store.text}': the cbir metadata of table '${IMAGES_TABLE}' is damaged (${(e as Error).message}).`, {
      file: store.text,
      fix: "index again into a new URI.",
    });
  }
}

/** A FixedSizeList<Float32> column of n rows from row-major values. */
function vectorData(values: Float32Array, dim: number, n: number): arrow.Data<arrow.FixedSizeList<arrow.Float32>> {
  const child = arrow.makeData({ type: new arrow.Float32(), length: n * dim, nullCount: 0, data: values });
  return arrow.makeData({ type: vectorType(dim), length: n, nullCount: 0, child });
}

/** A FixedSizeList<Float16 | Int8> column of n rows of codes (f16 as its bit patterns, as Arrow stores them). */
function codesData(codes: Codes, encoding: Exclude<Encoding, "f32">, dim: number, n: number): arrow.Data {
  const type = codesType(encoding, dim);
  const child = arrow.makeData({ type: type.children[0].type, length: n * dim, nullCount: 0, data: codes } as never);
  return arrow.makeData({ type, length: n, nullCount: 0, child } as never);
}

/** Row-major codes of a codes column (every chunk, any offset), copied into an array of their own. */
function codesValues(col: arrow.Vector, encoding: Exclude<Encoding, "f32">, dim: number): Codes {
  const out = encoding === "f16" ? new Uint16Array(col.length * dim) : new Int8Array(col.length * dim);
  let row = 0;
  for (const d of col.data) {
    const child = d.children[0];
    const start = (child.offset ?? 0) + d.offset * dim;
    out.set((child.values as Uint16Array | Int8Array).subarray(start, start + d.length * dim) as never, row * dim);
    row += d.length;
  }
  return out;
}

function stringData(values: string[]): arrow.Data<arrow.Utf8> {
  return arrow.vectorFromArray(values, new arrow.Utf8()).data[0];
}

/** Row-major values of a FixedSizeList<Float32> column (every chunk, any offset). */
function vectorValues(col: arrow.Vector, dim: number): Float32Array {
  const out = new Float32Array(col.length * dim);
  let row = 0;
  for (const d of col.data) {
    const child = d.children[0];
    const values = child.values as Float32Array;
    const start = (child.offset ?? 0) + d.offset * dim;
    out.set(values.subarray(start, start + d.length * dim), row * dim);
    row += d.length;
  }
  return out;
}

/** An SQL string literal (DataFusion: quotes doubled, no backslash escapes). */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** How the vector index is built for a table of `rows` search vectors of `dim` values (undefined: flat). */
export function chooseVectorIndex(rows: number, dim: number): { kind: "hnsw_sq"; numPartitions: number; m: number; efConstruction: number } | { kind: "ivf_pq"; numPartitions: number; numSubVectors: number } | undefined {
  if (rows < FLAT_MAX_ROWS) return undefined;
  if (rows <= HNSW_MAX_ROWS)
    // one HNSW graph per ~1M rows keeps each graph in cache-sized pieces; m/ef as LanceDB's defaults
    return { kind: "hnsw_sq", numPartitions: Math.max(1, Math.round(rows / 1_000_000)), m: 20, efConstruction: 150 };
  // sqrt(n) partitions; sub-vectors of 16 values (the largest divisor of dim up to dim/16)
  let sub = Math.max(1, Math.floor(dim / 16));
  while (dim % sub !== 0) sub--;
  return { kind: "ivf_pq", numPartitions: Math.round(Math.sqrt(rows)), numSubVectors: sub };
}

export interface LanceSearchOptions {
  k?: number;
  metric?: "cosine" | "euclidean" | "sqeuclidean";
  labels?: boolean;
  queryLabels?: Map<string, string>;
  /** Query expansion with the top n hits (see QueryOptions); database-side only in memory (see the header). */
  queryExpansion?: number;
  /** HNSW candidate list at query time (default max(100, 10k)). */
  ef?: number;
  /**
   * IVF partitions probed (default 20) and exact re-ranking of refineFactor x k candidates with the float32
   * search column (default 5 for IVF_PQ, 2 for HNSW_SQ; 0 = off). HNSW_SQ's defaults come from
   * `npm run bench -- lance` at 10^6 x 768 (seeded): ef 64 without re-ranking gave recall@10 0.92, ef 200 to
   * 500 without it 0.95, ef 100 with refineFactor 2 0.984-0.989 at a p50 of 3.3-5.6 ms (3.34 ms, recall
   * 0.987 in the last full run; the re-ranking's read of 20 rows costs 1.5-2 ms of it); the int8 codes, not
   * the graph, lose most of the recall.
   */
  nprobes?: number;
  refineFactor?: number;
  /**
   * Tables of f16 / i8 codes searched in memory: re-score the best refine x k with the float32 search
   * column (default 1 = off); above AUGMENT_MAX_ROWS it is LanceDB's refineFactor unless that is given.
   */
  refine?: number;
  /** Refuse the table unless its search vectors have this encoding (E_FINGERPRINT_MISMATCH naming both). */
  vectors?: Encoding;
  /** Always use LanceDB's search, even on a small table (tests, bench). */
  forceLance?: boolean;
  reporter?: Reporter;
}

export interface LanceCreate {
  fingerprint: Fingerprint;
  dim: number;
  histogramDim?: number;
  root?: string;
  config?: Record<string, string | number | boolean>;
  /** The pipeline's post-processing: its steps are recorded, and refitted at each optimize. */
  post?: PostFitter;
  /** Encoding of the search vectors (default f32): f16 / i8 add the codes column at optimize. */
  vectors?: Encoding;
}

export class LanceStore {
  private constructor(
    readonly store: StoreUri & { kind: "lance" },
    private readonly db: Connection,
    private table: Table,
    public meta: LanceMeta,
    private schema: arrow.Schema,
  ) {}

  /** The vector index found by vectorIndex(), cached: looked up once per open (optimize resets it). */
  private indexType?: { type?: string };

  /**
   * LanceDB searches return row addresses only: taking the id and label of the hits from the data files cost
   * about 1.5 ms a query at 10^6 rows (a second random read after the re-ranking's), so they are read once,
   * by row address, from a handle checked out at the table's version (the addresses belong to it), which
   * the searches then use. Dropped by every write of this store.
   */
  private rowsByAddress?: Promise<AddressedRows>;

  private addressedRows(): Promise<AddressedRows> {
    this.rowsByAddress ??= (async () => {
      const pinned = await this.db.openTable(IMAGES_TABLE);
      try {
        await pinned.checkout(await this.table.version());
        const t = (await pinned.query().select(["id", "label"]).withRowId().toArrow()) as unknown as arrow.Table;
        const ids: string[] = [];
        const labels: (string | null)[] = [];
        const row = new Map<number, number>();
        const [idCol, labelCol, addrCol] = ["id", "label", "_rowid"].map((c) => t.getChild(c)!);
        for (let i = 0; i < t.numRows; i++) {
          ids.push(idCol.get(i) as string);
          labels.push((labelCol.get(i) as string | null) ?? null);
          row.set(Number(addrCol.get(i)), i);
        }
        return { table: pinned, ids, labels, row };
      } catch (e) {
        pinned.close();
        throw e;
      }
    })();
    this.rowsByAddress.catch(() => (this.rowsByAddress = undefined));
    return this.rowsByAddress;
  }

  private dropAddressedRows(): void {
    const was = this.rowsByAddress;
    this.rowsByAddress = undefined;
    was?.then((r) => r.table.close(), () => undefined);
  }

  get uri(): string {
    return this.store.text;
  }

  /** The column searched: `search` after an optimize, `raw` for a pipeline without post-processing. */
  get searchColumn(): "search" | "raw" {
    return this.meta.post ? "search" : "raw";
  }

  /** Whether the table can be searched: fitted, or nothing to fit. */
  get searchable(): boolean {
    return Boolean(this.meta.post) || (this.meta.postSteps.length === 0 && this.meta.histogramDim === 0);
  }

  /** Connects; undefined-table handling: `create` makes the table when missing (lazily called by writers). */
  static async connect(uri: string | StoreUri): Promise<{ store: StoreUri & { kind: "lance" }; db: Connection }> {
    const store = typeof uri === "string" ? parseStoreUri(uri) : uri;
    if (store.kind !== "lance") throw invalidOption("index", "a Lance URI (lance:<folder>, <folder>.lance, s3://, gs://, az://)", store.text);
    const lancedb = await lance();
    try {
      const db = await lancedb.connect(store.uri, { storageOptions: store.storageOptions });
      return { store, db };
    } catch (e) {
      throw storeError(e, store, "connect to");
    }
  }

  /** Opens the table; undefined when the store holds none (E_* for anything else that is wrong). */
  static async tryOpen(uri: string | StoreUri, opts: { fingerprint?: Fingerprint } = {}): Promise<LanceStore | undefined> {
    const parsed = typeof uri === "string" ? parseStoreUri(uri) : uri;
    // a local store is looked at before connecting: LanceDB's connect writes into the folder (__manifest)
    if (parsed.kind === "lance" && parsed.scheme === "file") {
      if (!isDir(parsed.uri)) {
        if (fs.existsSync(parsed.uri)) throw new CbirError("E_NOT_AN_INDEX", `'${parsed.text}' is a file, not a Lance database folder.`, { file: parsed.text, fix: "give a folder path (lance:<folder> or <folder>.lance)." });
        return undefined;
      }
      if (!fs.existsSync(path.join(parsed.uri, `${IMAGES_TABLE}.lance`))) return undefined;
    }
    const { store, db } = await LanceStore.connect(parsed);
    let names: string[];
    try {
      names = await db.tableNames();
    } catch (e) {
      throw storeError(e, store, "list the tables of");
    }
    if (!names.includes(IMAGES_TABLE)) return undefined;
    let table: Table;
    let schema: arrow.Schema;
    try {
      table = await db.openTable(IMAGES_TABLE);
      schema = (await table.schema()) as unknown as arrow.Schema;
    } catch (e) {
      throw storeError(e, store, "open");
    }
    const meta = metaOf(store, schema);
    if (opts.fingerprint) assertSameFingerprint(opts.fingerprint, meta.fingerprint, store.text);
    return new LanceStore(store, db, table, meta, schema);
  }

  /** Opens the table, refusing a store that holds none (E_NO_FOLDER). */
  static async open(uri: string | StoreUri, opts: { fingerprint?: Fingerprint } = {}): Promise<LanceStore> {
    const s = await LanceStore.tryOpen(uri, opts);
    if (!s) {
      const text = typeof uri === "string" ? uri : uri.text;
      throw new CbirError("E_NO_FOLDER", `'${text}' holds no cbir table ('${IMAGES_TABLE}').`, { file: text, fix: `build one with \`cbir index <images> --index ${text}\`.` });
    }
    return s;
  }

  /**
   * Opens the table, creating it empty when missing. Several processes may create it at the same time:
   * the losers open the winner's table, and every one checks the fingerprint.
   */
  static async openOrCreate(uri: string | StoreUri, spec: LanceCreate): Promise<LanceStore> {
    const existing = await LanceStore.tryOpen(uri, { fingerprint: spec.fingerprint });
    if (existing) return existing;
    const { store, db } = await LanceStore.connect(uri);
    if (store.scheme === "file") {
      refuseForeignFolder(store);
      try {
        fs.mkdirSync(store.uri, { recursive: true });
      } catch (e) {
        throw new CbirError("E_NOT_WRITABLE", `cannot create the Lance database folder '${store.text}' (${(e as NodeJS.ErrnoException).code}).`, { file: store.text, fix: "give a path in a writable folder." });
      }
    }
    const meta: LanceMeta = {
      fingerprint: spec.fingerprint,
      dim: spec.dim,
      histogramDim: spec.histogramDim ?? 0,
      root: spec.root,
      config: spec.config,
      postSteps: [...(spec.post?.steps ?? [])],
      vectors: checkEncodingName(spec.vectors ?? "f32"),
    };
    const schema = schemaOf(meta, undefined);
    try {
      await db.createTable(IMAGES_TABLE, new arrow.Table(schema), { mode: "create" });
    } catch (e) {
      if (!/already exists/i.test(String((e as Error)?.message))) throw storeError(e, store, "create a table in");
    }
    return LanceStore.open(store, { fingerprint: spec.fingerprint });
  }

  async countRows(filter?: string): Promise<number> {
    try {
      return await this.table.countRows(filter);
    } catch (e) {
      throw storeError(e, this.store, "read");
    }
  }

  /** Every row's id, path, hash, size, time and label (no vectors). */
  async entries(): Promise<LanceEntry[]> {
    const t = await this.scan(["id", "path", "sha256", "size", "mtime_ms", "label"]);
    const cols = ["id", "path", "sha256", "size", "mtime_ms", "label"].map((c) => t.getChild(c)!);
    const out: LanceEntry[] = [];
    for (let i = 0; i < t.numRows; i++) {
      const label = cols[5].get(i) as string | null;
      const e: LanceEntry = { id: cols[0].get(i), path: cols[1].get(i), sha256: cols[2].get(i), size: Number(cols[3].get(i)), mtimeMs: Number(cols[4].get(i)) };
      if (label !== null && label !== undefined) e.label = label;
      out.push(e);
    }
    return out;
  }

  private async scan(columns: string[], where?: string): Promise<arrow.Table> {
    try {
      let q = this.table.query().select(columns);
      if (where) q = q.where(where);
      return (await q.toArrow()) as unknown as arrow.Table;
    } catch (e) {
      throw storeError(e, this.store, "read");
    }
  }

  private rawColumns(): string[] {
    return this.meta.histogramDim > 0 ? ["raw", "histogram"] : ["raw"];
  }

  /** Full raw vectors (CNN then histogram) of a scanned table, row-major. */
  private rawOf(t: arrow.Table): Float32Array {
    const cnnDim = this.meta.dim - this.meta.histogramDim;
    const cnn = vectorValues(t.getChild("raw")!, cnnDim);
    if (this.meta.histogramDim === 0) return cnn;
    const hd = this.meta.histogramDim;
    const hist = vectorValues(t.getChild("histogram")!, hd);
    const out = new Float32Array(t.numRows * this.meta.dim);
    for (let i = 0; i < t.numRows; i++) {
      out.set(cnn.subarray(i * cnnDim, (i + 1) * cnnDim), i * this.meta.dim);
      out.set(hist.subarray(i * hd, (i + 1) * hd), i * this.meta.dim + cnnDim);
    }
    return out;
  }

  /** Rows with their raw vectors, for the given ids (renamed files reuse them). */
  async rowsById(ids: string[]): Promise<LanceRow[]> {
    const out: LanceRow[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const t = await this.scan(["id", "path", "sha256", "size", "mtime_ms", "label", ...this.rawColumns()], `id IN (${part.map(sqlString).join(",")})`);
      const raw = this.rawOf(t);
      for (let r = 0; r < t.numRows; r++) {
        const label = t.getChild("label")!.get(r) as string | null;
        const row: LanceRow = {
          id: t.getChild("id")!.get(r),
          path: t.getChild("path")!.get(r),
          sha256: t.getChild("sha256")!.get(r),
          size: Number(t.getChild("size")!.get(r)),
          mtimeMs: Number(t.getChild("mtime_ms")!.get(r)),
          raw: raw.slice(r * this.meta.dim, (r + 1) * this.meta.dim),
        };
        if (label !== null && label !== undefined) row.label = label;
        out.push(row);
      }
    }
    return out;
  }

  private fitted(): FittedPost | undefined {
    return this.meta.post ? postFromJSON(this.meta.post.state) : undefined;
  }

  /**
   * An Arrow table of rows in this table's schema; search vectors from `search`, else the frozen transform;
   * codes from `codes`, else encoded with the frozen state.
   */
  private toArrow(rows: LanceRow[], inFit: boolean, search?: FeatureMatrix, schema = this.schema, meta = this.meta, codes?: EncodedVectors): arrow.Table {
    const n = rows.length;
    const dim = meta.dim;
    const hd = meta.histogramDim;
    const cnnDim = dim - hd;
    const raw = new Float32Array(n * dim);
    rows.forEach((r, i) => {
      if (r.raw.length !== dim) throw invalidOption("vector length", `${dim} (the table's)`, r.raw.length);
      raw.set(r.raw, i * dim);
    });
    const cnn = hd ? new Float32Array(n * cnnDim) : raw;
    const hist = new Float32Array(n * hd);
    if (hd)
      for (let i = 0; i < n; i++) {
        cnn.set(raw.subarray(i * dim, i * dim + cnnDim), i * cnnDim);
        hist.set(raw.subarray(i * dim + cnnDim, (i + 1) * dim), i * hd);
      }
    const children: arrow.Data[] = [
      stringData(rows.map((r) => r.id)),
      stringData(rows.map((r) => r.path)),
      stringData(rows.map((r) => r.sha256)),
      arrow.makeData({ type: new arrow.Float64(), length: n, nullCount: 0, data: Float64Array.from(rows, (r) => r.size) }),
      arrow.makeData({ type: new arrow.Float64(), length: n, nullCount: 0, data: Float64Array.from(rows, (r) => r.mtimeMs) }),
      arrow.vectorFromArray(rows.map((r) => r.label ?? null), new arrow.Utf8()).data[0],
      vectorData(cnn, cnnDim, n),
    ];
    if (hd) children.push(vectorData(hist, hd, n));
    // the vectors searched: the search column's, or raw when there is nothing fitted
    let searched: FeatureMatrix = { ids: rows.map((r) => r.id), dim, data: raw, fingerprint: meta.fingerprint };
    if (schema.fields.some((f) => f.name === "search")) {
      let s = search;
      if (!s) {
        const post = meta.post ? postFromJSON(meta.post.state) : undefined;
        if (!post) throw new CbirError("E_INDEX_CORRUPT", `'${this.uri}' has a search column but no fitted post-processing.`, { file: this.uri, fix: "run `cbir index --optimize`." });
        s = applyPostprocess(searched, post);
      }
      children.push(vectorData(s.data, s.dim, n));
      searched = s;
    }
    if (meta.codes) {
      const c = codes ?? encodeForCosine(meta.codes.encoding, searched.data, n, searched.dim, meta.codes.state ?? undefined);
      children.push(codesData(c.codes, meta.codes.encoding, c.dim, n));
    }
    children.push(arrow.vectorFromArray(new Array<boolean>(n).fill(inFit), new arrow.Bool()).data[0]);
    const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, nullCount: 0, children });
    return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
  }

  /** Adds or replaces rows by id (one merge-insert commit), with the search vectors of the frozen transform. */
  async upsert(rows: LanceRow[]): Promise<void> {
    if (rows.length === 0) return;
    this.dropAddressedRows();
    const data = this.toArrow(rows, false);
    try {
      await commitWithRetry(() => this.table.mergeInsert("id").whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(data as never));
    } catch (e) {
      throw storeError(e, this.store, "write to");
    }
  }

  /** Deletes rows by id (one commit per 500 ids). */
  async deleteIds(ids: string[]): Promise<void> {
    this.dropAddressedRows();
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      try {
        await commitWithRetry(() => this.table.delete(`id IN (${part.map(sqlString).join(",")})`));
      } catch (e) {
        throw storeError(e, this.store, "delete rows of");
      }
    }
  }

  /**
   * Every row: items, raw vectors, the vectors searched (the search column, or raw when there is nothing to
   * fit) and, with f16 / i8, their codes; rows in id order.
   */
  async readAll(): Promise<{ items: ImageItem[]; labels: Map<string, string>; raw: FeatureMatrix; features: FeatureMatrix; codes?: EncodedVectors }> {
    const cols = ["id", "path", "label", ...this.rawColumns(), ...(this.meta.post ? ["search"] : []), ...(this.meta.codes ? ["codes"] : [])];
    const t = await this.scan(cols);
    const ids: string[] = [];
    const items: ImageItem[] = [];
    const labels = new Map<string, string>();
    for (let i = 0; i < t.numRows; i++) {
      const id = t.getChild("id")!.get(i) as string;
      const label = t.getChild("label")!.get(i) as string | null;
      ids.push(id);
      items.push(label === null || label === undefined ? { path: t.getChild("path")!.get(i), name: id } : { path: t.getChild("path")!.get(i), name: id, label });
      if (label !== null && label !== undefined) labels.set(id, label);
    }
    // rows in id order: a table written by shards has them in commit order
    const order = ids.map((_, i) => i).sort((a, b) => (ids[a] < ids[b] ? -1 : ids[a] > ids[b] ? 1 : 0));
    const rawAll = this.rawOf(t);
    const searchDim = this.meta.post ? (t.schema.fields.find((f) => f.name === "search")!.type as arrow.FixedSizeList).listSize : this.meta.dim;
    const searchAll = this.meta.post ? vectorValues(t.getChild("search")!, searchDim) : rawAll;
    const pick = (src: Float32Array, dim: number) => {
      const out = new Float32Array(order.length * dim);
      order.forEach((r, i) => out.set(src.subarray(r * dim, (r + 1) * dim), i * dim));
      return out;
    };
    const sortedIds = order.map((i) => ids[i]);
    const raw: FeatureMatrix = { ids: sortedIds, dim: this.meta.dim, data: pick(rawAll, this.meta.dim), fingerprint: this.meta.fingerprint };
    const features: FeatureMatrix = this.meta.post ? { ids: sortedIds, dim: searchDim, data: pick(searchAll, searchDim), fingerprint: this.meta.post.fingerprint } : raw;
    const c = this.meta.codes;
    let codes: EncodedVectors | undefined;
    if (c) {
      const all = codesValues(t.getChild("codes")!, c.encoding, c.dim);
      const sorted = c.encoding === "f16" ? new Uint16Array(order.length * c.dim) : new Int8Array(order.length * c.dim);
      order.forEach((r, i) => sorted.set(all.subarray(r * c.dim, (r + 1) * c.dim) as never, i * c.dim));
      codes = { encoding: c.encoding, dim: c.dim, count: order.length, state: c.state, codes: sorted };
    }
    return { items: order.map((i) => items[i]), labels, raw, features, ...(codes ? { codes } : {}) };
  }

  /** Refuses another encoding than the table's search vectors' (E_FINGERPRINT_MISMATCH naming both and the re-encode). */
  checkVectors(asked: Encoding): void {
    const was = this.meta.vectors;
    if (checkEncodingName(asked) !== was)
      throw new CbirError("E_FINGERPRINT_MISMATCH", `the table's search vectors are encoded as ${was} but ${asked} was asked for.`, {
        file: this.uri,
        fix: `pass --vectors ${was}, or add --optimize (without --shard) to re-encode the table, keeping its float32 columns: \`cbir index <images> --index ${this.uri} --vectors ${asked} --optimize\`.`,
      });
  }

  /** Applies the table's fitted post-processing to query vectors made by the same extractor. */
  prepareQueries(q: FeatureMatrix): FeatureMatrix {
    assertSameFingerprint(this.meta.fingerprint, q.fingerprint, this.uri);
    const post = this.fitted();
    return post ? applyPostprocess(q, post) : q;
  }

  /** Rows added or changed since the last fit, and rows the fit saw that are gone. */
  async changesSinceFit(): Promise<{ rows: number; sinceFit: number }> {
    const rows = await this.countRows();
    if (!this.meta.post) return { rows, sinceFit: rows };
    const kept = await this.countRows("in_fit = true");
    return { rows, sinceFit: rows - kept + (this.meta.post.rows - kept) };
  }

  /**
   * Refits the post-processing on every row, rewrites the table with the new search column and metadata
   * in one commit, compacts, and builds the vector index (chooseVectorIndex) or drops it below the
   * threshold. Must run alone: a write committed by another process during it is reported, and may be lost.
   */
  async optimize(opts: { post?: PostFitter; vectors?: Encoding; reporter?: Reporter; cleanupOlderThan?: Date; index?: "auto" | "none" | "hnsw_sq" | "ivf_pq" } = {}): Promise<{ rows: number; index?: string; seconds: { fit: number; write: number; compact: number; index: number } }> {
    const rep = reporterOf(opts.reporter);
    const t0 = performance.now();
    const steps = opts.post ? [...opts.post.steps] : this.meta.postSteps;
    if (steps.length > 0 && !opts.post)
      throw new CbirError("E_BAD_OPTION", `'${this.uri}' refits its post-processing (${steps.join(",")}) at optimize, and no fitter was given.`, {
        file: this.uri,
        fix: "optimize through `cbir index <folder> --index <uri> --optimize`, or pass the pipeline's post-processing (Pipeline.postFitter).",
      });
    const vectors = checkEncodingName(opts.vectors ?? this.meta.vectors);
    const startVersion = await this.table.version();
    const seconds = { fit: 0, write: 0, compact: 0, index: 0 };
    let rows = await this.countRows();
    let searchDim = this.meta.dim;
    // a rewrite refits the post-processing and the codes (and drops them when going back to f32)
    if (steps.length > 0 || vectors !== "f32" || this.meta.codes) {
      const t = await this.scan(["id", "path", "sha256", "size", "mtime_ms", "label", ...this.rawColumns()]);
      rows = t.numRows;
      if (rows === 0) throw new CbirError("E_NO_IMAGES", `'${this.uri}' holds no rows to optimize.`, { file: this.uri, fix: "index some images first." });
      const rawData = this.rawOf(t);
      const all: LanceRow[] = [];
      for (let r = 0; r < rows; r++) {
        const label = t.getChild("label")!.get(r) as string | null;
        const row: LanceRow = { id: t.getChild("id")!.get(r), path: t.getChild("path")!.get(r), sha256: t.getChild("sha256")!.get(r), size: Number(t.getChild("size")!.get(r)), mtimeMs: Number(t.getChild("mtime_ms")!.get(r)), raw: rawData.subarray(r * this.meta.dim, (r + 1) * this.meta.dim) };
        if (label !== null && label !== undefined) row.label = label;
        all.push(row);
      }
      // fitted in id order, so the fit does not depend on which shard committed first
      all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const raw: FeatureMatrix = { ids: all.map((r) => r.id), dim: this.meta.dim, data: new Float32Array(rows * this.meta.dim), fingerprint: this.meta.fingerprint };
      all.forEach((r, i) => raw.data.set(r.raw, i * this.meta.dim));
      all.forEach((r, i) => (r.raw = raw.data.subarray(i * this.meta.dim, (i + 1) * this.meta.dim)));
      let features = raw;
      let post = this.meta.post;
      if (opts.post && steps.length > 0) {
        const fit = opts.post.fit(raw);
        features = fit.features;
        const j = fit.fitted.toJSON();
        post = { steps: [...j.steps], state: j.state as FittedPostJSON, fingerprint: j.fingerprint, rows, fittedAt: new Date().toISOString() };
      } else if (post) features = applyPostprocess(raw, postFromJSON(post.state));
      searchDim = features.dim;
      // i8 fits its per-dimension scale and offset on every row's normalised search vector, as the folder index
      const codes = vectors === "f32" ? undefined : encodeForCosine(vectors, features.data, rows, features.dim);
      const meta: LanceMeta = {
        ...this.meta,
        postSteps: steps,
        post,
        vectors,
        codes: codes && vectors !== "f32" ? { encoding: vectors, dim: codes.dim, state: codes.state } : undefined,
      };
      const schema = schemaOf(meta, post ? features.dim : undefined);
      seconds.fit = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      const data = this.toArrow(all, true, post ? features : undefined, schema, meta, codes);
      try {
        this.table = await this.db.createTable(IMAGES_TABLE, data as never, { mode: "overwrite" });
      } catch (e) {
        throw storeError(e, this.store, "rewrite");
      }
      this.meta = meta;
      this.schema = schema;
      seconds.write = (performance.now() - t1) / 1000;
      const versions = await this.table.listVersions();
      const newest = Math.max(...versions.map((v) => v.version));
      if (versions.some((v) => v.version > startVersion && v.version < newest))
        rep.warn(`another process wrote to the table while it was optimized; its changes since version ${startVersion} may be lost: re-run its \`cbir index\`.`, this.uri);
    }
    const t2 = performance.now();
    try {
      await this.table.optimize({ cleanupOlderThan: opts.cleanupOlderThan ?? new Date(Date.now() - 7 * 24 * 3600 * 1000) });
    } catch (e) {
      throw storeError(e, this.store, "compact");
    }
    seconds.compact = (performance.now() - t2) / 1000;
    const t3 = performance.now();
    this.indexType = undefined;
    this.dropAddressedRows();
    const chosen = opts.index === "none" ? undefined : opts.index === undefined || opts.index === "auto" ? chooseVectorIndex(rows, searchDim) : forcedIndex(opts.index, rows, searchDim);
    let described: string | undefined;
    if (chosen) {
      const lancedb = await lance();
      const config =
        chosen.kind === "hnsw_sq"
          ? lancedb.Index.hnswSq({ distanceType: "cosine", numPartitions: chosen.numPartitions, m: chosen.m, efConstruction: chosen.efConstruction })
          : lancedb.Index.ivfPq({ distanceType: "cosine", numPartitions: chosen.numPartitions, numSubVectors: chosen.numSubVectors });
      try {
        await this.table.createIndex(this.searchColumn, { config, replace: true });
      } catch (e) {
        throw storeError(e, this.store, "build the vector index of");
      }
      described = JSON.stringify(chosen);
      rep.log(`vector index on ${this.searchColumn}: ${described}`);
    }
    seconds.index = (performance.now() - t3) / 1000;
    if (opts.cleanupOlderThan) {
      // the versions the rewrite and the index replaced, now that the new ones are committed
      try {
        await this.table.optimize({ cleanupOlderThan: opts.cleanupOlderThan });
      } catch (e) {
        throw storeError(e, this.store, "clean up");
      }
    }
    return { rows, index: described, seconds };
  }

  /** The vector index on the searched column, if any ("IVF_HNSW_SQ", "IVF_PQ"...). */
  async vectorIndex(): Promise<string | undefined> {
    try {
      this.indexType ??= { type: (await this.table.listIndices()).find((i) => i.columns.includes(this.searchColumn))?.indexType };
      return this.indexType.type;
    } catch (e) {
      throw storeError(e, this.store, "read");
    }
  }

  /**
   * Top-k of each query (raw vectors from the same extractor; the table's post-processing is applied).
   * Up to AUGMENT_MAX_ROWS rows: in memory with the folder index's ranking (every re-ranking step);
   * above: LanceDB's search, query expansion on the query only.
   */
  async search(queries: FeatureMatrix, opts: LanceSearchOptions = {}): Promise<Ranking[]> {
    if (!this.searchable)
      throw new CbirError("E_INDEX_CORRUPT", `'${this.uri}' has not been optimized yet: its post-processing is not fitted, so it cannot be searched.`, {
        file: this.uri,
        fix: `run \`cbir index <images> --index ${this.uri} --optimize\` (after the last shard).`,
      });
    const metric = expectOneOf("metric", opts.metric ?? "cosine", ["cosine", "euclidean", "sqeuclidean"] as const);
    const k = opts.k ?? 5;
    const refine = checkRefine(opts.refine);
    const encoding = this.meta.vectors;
    if (opts.vectors !== undefined) this.checkVectors(opts.vectors);
    if (encoding !== "f32" && metric !== "cosine")
      throw new CbirError("E_BAD_OPTION", `a table of ${encoding} vectors is ranked by cosine only, not ${metric}.`, { file: this.uri, fix: "query with --metric cosine, or index into a new table with --vectors f32." });
    const q = this.prepareQueries(queries);
    if (!opts.forceLance && (await this.countRows()) <= AUGMENT_MAX_ROWS) {
      const all = await this.readAll();
      const common = { k, labels: all.labels, queryLabels: opts.queryLabels, queryExpansion: opts.queryExpansion ?? 0, reporter: opts.reporter };
      if (encoding === "f32") return exactSearch(all.features, q, { ...common, metric });
      // not optimized since --vectors was chosen: encoded here, as `cbir eval` does for fresh vectors
      if (!all.codes) return exactSearch(all.features, q, { ...common, metric, vectors: encoding, refine });
      const f = all.features;
      const exact = await ExactIndex.fromEncoded({ ids: f.ids, fingerprint: q.fingerprint, vectors: all.codes, rows: rowReader(f.data, f.dim) }, { labels: all.labels, refine });
      try {
        return await exact.search(q, { k, queryLabels: opts.queryLabels, queryExpansion: opts.queryExpansion ?? 0, reporter: opts.reporter });
      } finally {
        await exact.dispose();
      }
    }
    const indexType = await this.vectorIndex();
    const qe = opts.queryExpansion ?? 0;
    const out: Ranking[] = [];
    for (let i = 0; i < q.ids.length; i++) {
      let vec = q.data.slice(i * q.dim, (i + 1) * q.dim);
      let hits = await this.nearest(vec, Math.max(k, qe), metric, indexType, opts, qe > 0);
      if (qe > 0) {
        // LanceDB compares the raw vectors by its cosine distance: the expanded query goes back at unit length
        vec = expandFromHits(vec, hits, vectorMetric(metric), qe, metric === "cosine");
        hits = await this.nearest(vec, k, metric, indexType, opts, false);
      }
      const query = q.ids[i];
      const label = opts.queryLabels?.get(query);
      out.push({
        query,
        ...(label !== undefined ? { queryLabel: label } : {}),
        hits: hits.slice(0, k).map((h) => (opts.labels === false || h.label === undefined ? { id: h.id, score: h.score } : { id: h.id, score: h.score, label: h.label })),
        metric,
        higherIsBetter: higherIsBetter(metric),
      });
      reporterOf(opts.reporter).progress("rank", i + 1, q.ids.length);
    }
    return out;
  }

  private async nearest(vec: Float32Array, k: number, metric: "cosine" | "euclidean" | "sqeuclidean", indexType: string | undefined, opts: LanceSearchOptions, withVectors: boolean): Promise<(Hit & { vector?: Float32Array })[]> {
    const col = this.searchColumn;
    try {
      const rows = await this.addressedRows();
      let s = rows.table
        .vectorSearch(vec)
        .column(col)
        .distanceType(metric === "cosine" ? "cosine" : "l2")
        .limit(k)
        .select(withVectors ? [col] : [])
        .withRowId();
      if (indexType && /HNSW/i.test(indexType)) s = s.ef(opts.ef ?? Math.max(100, 10 * k));
      if (indexType && /IVF/i.test(indexType)) s = s.nprobes(opts.nprobes ?? 20);
      const refine = opts.refineFactor ?? ((opts.refine ?? 1) > 1 ? opts.refine : indexType && /PQ/i.test(indexType) ? 5 : indexType && /HNSW/i.test(indexType) ? 2 : undefined);
      if (indexType && refine) s = s.refineFactor(refine);
      const t = (await s.toArrow()) as unknown as arrow.Table;
      const distance = t.getChild("_distance")!;
      const address = t.getChild("_rowid")!;
      const dim = withVectors ? (t.schema.fields.find((f) => f.name === col)!.type as arrow.FixedSizeList).listSize : 0;
      const vectors = withVectors ? vectorValues(t.getChild(col)!, dim) : undefined;
      const out: (Hit & { vector?: Float32Array })[] = [];
      for (let i = 0; i < t.numRows; i++) {
        const r = rows.row.get(Number(address.get(i)));
        if (r === undefined) throw new CbirError("E_INDEX_CORRUPT", `'${this.uri}': a search hit has no row in the version searched.`, { file: this.uri, fix: "run the query again; if it persists, run `cbir index --optimize`." });
        const d = distance.get(i) as number;
        const score = metric === "cosine" ? 1 - d : metric === "euclidean" ? Math.sqrt(Math.max(0, d)) : d;
        const hit: Hit & { vector?: Float32Array } = { id: rows.ids[r], score };
        const label = rows.labels[r];
        if (label !== null) hit.label = label;
        if (vectors) hit.vector = vectors.slice(i * dim, (i + 1) * dim);
        out.push(hit);
      }
      return out;
    } catch (e) {
      throw storeError(e, this.store, "search");
    }
  }

  close(): void {
    this.dropAddressedRows();
    this.table.close();
    this.db.close();
  }
}

function forcedIndex(kind: "hnsw_sq" | "ivf_pq", rows: number, dim: number): NonNullable<ReturnType<typeof chooseVectorIndex>> {
  const big = chooseVectorIndex(Math.max(rows, kind === "ivf_pq" ? HNSW_MAX_ROWS + 1 : FLAT_MAX_ROWS), dim)!;
  if (kind === "ivf_pq" && big.kind === "ivf_pq") return { ...big, numPartitions: Math.max(1, Math.round(Math.sqrt(rows))) };
  return { kind: "hnsw_sq", numPartitions: Math.max(1, Math.round(rows / 1_000_000)), m: 20, efConstruction: 150 };
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A local folder of other files is never turned into a Lance database (as the folder index's marker rule). */
export function refuseForeignFolder(store: StoreUri & { kind: "lance" }): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(store.uri);
  } catch {
    return; // missing: LanceDB creates it
  }
  const foreign = entries.filter((e) => !e.endsWith(".lance") && !e.startsWith("_") && !e.startsWith("."));
  if (foreign.length)
    throw new CbirError("E_NOT_AN_INDEX", `'${store.text}' is a folder of other files (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}), so it is not used as a Lance database; nothing in it was changed.`, {
      file: store.text,
      fix: "give a new or empty folder (for example <images>.lance).",
    });
}


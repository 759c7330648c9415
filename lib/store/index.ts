/** Stage "store": a persistent, incremental index folder, and .npy export. */
export { openIndex, buildOrUpdateIndex, type StoredIndex, type OpenOptions, type BuildOptions, type BuildResult, type ExtractFn } from "./index-store";
export { readManifest, MANIFEST_FILE, JOURNAL_FILE, type IndexManifest, type StoredItem, type Segment } from "./manifest";
export { checkIndexDir, claimIndexDir, MARKER_FILE, type IndexDirState } from "./marker";
export { acquireLock, processAlive, LOCK_FILE, type IndexLock, type LockInfo } from "./lock";
export { exportNpy, idsFileOf, npyBytes, readNpy } from "./npy";
export { exportStore, type ExportOptions, type ExportResult } from "./export";

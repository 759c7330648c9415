/**
 * Thumbnails cached on disk, for figures that show the same images many times (the demo draws every image
 * in up to k + 1 recommendation figures and again in the t-SNE map). Each source image is decoded once,
 * fitted in the cache's box and written as a small lossless PNG; every later use reads that file (a few
 * KB) instead of decoding the source again, and nothing is kept in memory between figures. A figure drawn
 * at the cache's box gets exactly the pixels loadThumb would give; smaller boxes are resized from it.
 * Entries are keyed by the source's path, size and modification time, so a changed image is read afresh.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { checkSize, loadThumb, shortReason, type Thumb } from "./canvas";

export class ThumbnailCache {
  /** Reasons of the images that could not be read (small; a failed image is not retried in this run). */
  private readonly failed = new Map<string, string>();

  /** `dir` holds the cached PNGs (created on first use); `box` is the largest box served from the cache. */
  constructor(readonly dir: string, readonly box = 150) {
    checkSize("thumbnail cache box", box, 8, 512);
  }

  /** A loader with loadThumb's signature, for the figures' `loadThumb` option. */
  get load(): (file: string, box: number) => Promise<Thumb> {
    return (file, box) => this.get(file, box);
  }

  /** The cached file of `file`, or null when its size and time cannot be read. */
  entryPath(file: string): string | null {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return null;
    }
    const key = createHash("sha256").update(`${path.resolve(file)}\0${st.size}\0${st.mtimeMs}\0${this.box}`).digest("hex").slice(0, 32);
    return path.join(this.dir, key.slice(0, 2), `${key}.png`);
  }

  async get(file: string, box: number): Promise<Thumb> {
    if (box > this.box) return loadThumb(file, box); // larger than the cache holds: from the source
    const reason = this.failed.get(file);
    if (reason !== undefined) return { ok: false, reason };
    const entry = this.entryPath(file);
    let thumb: Ready | undefined;
    if (entry && fs.existsSync(entry)) thumb = await readRaw(entry).catch(() => undefined); // a damaged entry is made again
    if (!thumb) {
      const made = await loadThumb(file, this.box);
      if (!made.ok) {
        this.failed.set(file, made.reason);
        return made;
      }
      thumb = made;
      if (entry) {
        const png = await sharp(thumb.data, { raw: { width: thumb.width, height: thumb.height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
        await writeCacheEntry(entry, png);
      }
    }
    if (box === this.box) return thumb;
    try {
      const { data, info } = await sharp(thumb.data, { raw: { width: thumb.width, height: thumb.height, channels: 3 } })
        .resize(box, box, { fit: "inside" })
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { ok: true, data, width: info.width, height: info.height };
    } catch (e) {
      return { ok: false, reason: shortReason(e, file) };
    }
  }
}

type Ready = Extract<Thumb, { ok: true }>;

async function readRaw(file: string): Promise<Ready> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`cached thumbnail ${file} has ${info.channels} channels`);
  return { ok: true, data, width: info.width, height: info.height };
}

/**
 * Written through a temporary file and a rename, so a reader never sees half an entry, but not fsynced:
 * a cache entry lost in a crash is only made again, and thousands of fsyncs would cost more than decoding.
 */
async function writeCacheEntry(file: string, data: Buffer): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.promises.writeFile(tmp, data); // writes every byte or throws
    await fs.promises.rename(tmp, file);
  } catch {
    // a cache entry that cannot be written (full disk) is only made again next time; the figure itself is
    // written through the checked writer, which reports the disk
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/**
 * Entry points: read a capture from a path, from stdin ('-'), from any byte stream, or
 * from a Buffer already in memory. gzip is recognised by its content (1f 8b), never by
 * the file name, and decompressed on the fly.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { constants as zc, createGunzip, gunzipSync } from 'node:zlib';
import { CaptureError } from './errors.js';
import { CaptureParser } from './parser.js';
import type { CaptureSummary, FrameCallback, ReadOptions } from './types.js';

const DEFAULT_CHUNK = 1024 * 1024;

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** zlib reports a stream that stops before its end as Z_BUF_ERROR "unexpected end of file". */
function isGzipCut(e: unknown): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR';
}

/** Reads a whole capture held in memory. Frames point into `bytes` (or its decompressed copy). */
export function readCaptureBuffer(bytes: Buffer, name: string, onFrame: FrameCallback, opts: ReadOptions = {}): CaptureSummary {
  const parser = new CaptureParser(name, onFrame, opts);
  let data = bytes;
  let cut: string | undefined;
  const gz = isGzip(bytes);
  if (gz) {
    try {
      data = gunzipSync(bytes);
    } catch (e) {
      if (!isGzipCut(e)) throw new CaptureError(name, 0, `gzip: ${errorText(e)}`);
      // Keep whatever decompresses: a capture gzip'd while being written may be cut short.
      data = gunzipSync(bytes, { finishFlush: zc.Z_SYNC_FLUSH });
      cut = 'gzip stream ends early';
    }
  }
  parser.summary.gzip = gz;
  parser.push(data);
  return parser.end(cut);
}

function syncToAsync(it: Iterator<Buffer>): AsyncIterator<Buffer> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}

/** Collects leading chunks until the two gzip magic bytes can be seen. */
async function peek(it: AsyncIterator<Buffer | string>): Promise<{ head: Buffer[]; done: boolean }> {
  const head: Buffer[] = [];
  let n = 0;
  while (n < 2) {
    const r = await it.next();
    if (r.done) return { head, done: true };
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(b);
    n += b.length;
  }
  return { head, done: false };
}

async function* rest(head: Buffer[], it: AsyncIterator<Buffer | string>, done: boolean): AsyncGenerator<Buffer> {
  for (const b of head) yield b;
  if (done) return;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
  }
}

/**
 * Reads a capture from a byte stream (stdin, a child's stdout, a generator, an array of
 * chunks). The producer
 * must not reuse a chunk's memory after yielding it when the content may be gzip'd.
 */
export async function readCaptureStream(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer>,
  name: string,
  onFrame: FrameCallback,
  opts: ReadOptions = {},
): Promise<CaptureSummary> {
  const parser = new CaptureParser(name, onFrame, opts);
  const it: AsyncIterator<Buffer | string> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : syncToAsync(source[Symbol.iterator]());
  let peeked: { head: Buffer[]; done: boolean };
  try {
    peeked = await peek(it);
  } catch (e) {
    throw new CaptureError(name, 0, `read error: ${errorText(e)}`);
  }
  const { head, done } = peeked;
  const gz = head.length > 0 && isGzip(Buffer.concat(head.slice(0, 2)));
  parser.summary.gzip = gz;
  let input: AsyncIterable<Buffer> = rest(head, it, done);
  let gunzip: ReturnType<typeof createGunzip> | null = null;
  if (gz) {
    const raw = Readable.from(input, { objectMode: false });
    gunzip = createGunzip({ chunkSize: opts.chunkSize ?? DEFAULT_CHUNK });
    const g = gunzip;
    raw.on('error', (e) => g.destroy(e));
    raw.pipe(g);
    input = g;
  }
  let cut: string | undefined;
  const chunks = input[Symbol.asyncIterator]();
  try {
    for (;;) {
      let r: IteratorResult<Buffer>;
      // Only failures of the source (read errors, bad gzip) are mapped here; whatever the
      // consumer's callback throws from push() propagates unchanged.
      try {
        r = await chunks.next();
      } catch (e) {
        if (gz && isGzipCut(e)) cut = 'gzip stream ends early';
        else throw new CaptureError(name, parser.recordOffset, `${gz ? 'gzip' : 'read error'}: ${errorText(e)}`);
        break;
      }
      if (r.done) break;
      if (!parser.push(r.value)) break;
    }
  } finally {
    await chunks.return?.().catch(() => undefined);
    gunzip?.destroy();
    await it.return?.();
  }
  return parser.end(cut);
}

/**
 * Reads the capture at `path` ('-' = stdin), calling `onFrame` for every frame with one
 * reused Frame (valid only during the call; return false to stop). Resolves to a summary;
 * rejects with CaptureError for input that is not a readable capture.
 */
export async function readCapture(path: string, onFrame: FrameCallback, opts: ReadOptions = {}): Promise<CaptureSummary> {
  if (path === '-') return readCaptureStream(process.stdin, '-', onFrame, opts);
  const chunkSize = Math.max(opts.chunkSize ?? DEFAULT_CHUNK, 16);
  const parser = new CaptureParser(path, onFrame, opts);
  const chunks = await FileChunks.open(path, chunkSize, () => parser.summary.bytes);
  try {
    if (chunks.gzip) return await readCaptureStream(createReadStream(path, { highWaterMark: chunkSize }), path, onFrame, opts);
    for (let c = await chunks.next(); c !== null; c = await chunks.next()) if (!parser.push(c)) break;
  } finally {
    await chunks.close();
  }
  return parser.end();
}

/**
 * The chunks of a capture file, pulled one at a time, in two reused buffers: while one chunk is
 * parsed and decoded the next is read in libuv's thread pool, so the main thread does not sit
 * idle waiting for each read (idle time was a quarter of `decode --summary` wall time with one
 * buffer), and no buffer is allocated per chunk (fresh buffers cost page faults). A chunk is
 * valid until the next call of `next()`: the parser copies any partial record out of it before
 * that, and frames are valid only during their callback. Only a regular file is read ahead: on
 * a FIFO a read issued after the consumer stopped could wait forever for a writer. A gzip file
 * is only recognised here (`gzip`); its reader decompresses a stream instead.
 */
export class FileChunks {
  private readonly bufs: [Buffer, Buffer];
  private cur = 0;
  private first: number;
  private pending: Promise<number> | null = null;
  private done = false;

  private constructor(
    private fh: FileHandle | null,
    private readonly path: string,
    private readonly chunkSize: number,
    private readonly ahead: boolean,
    readonly gzip: boolean,
    bufs: [Buffer, Buffer],
    first: number,
    /** Where a read error is reported (bytes consumed so far). */
    private readonly at: () => number,
  ) {
    this.bufs = bufs;
    this.first = first;
  }

  static async open(path: string, chunkSize: number, at: () => number = () => 0): Promise<FileChunks> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new CaptureError(path, 0, `cannot open: ${errorText(e)}`);
    }
    try {
      const bufs: [Buffer, Buffer] = [Buffer.allocUnsafe(chunkSize), Buffer.allocUnsafe(chunkSize)];
      const n = (await fh.read(bufs[0], 0, chunkSize, null)).bytesRead;
      const ahead = (await fh.stat()).isFile();
      return new FileChunks(fh, path, chunkSize, ahead, isGzip(bufs[0].subarray(0, n)), bufs, n, at);
    } catch (e) {
      await fh.close();
      throw e instanceof CaptureError ? e : new CaptureError(path, 0, `read error: ${errorText(e)}`);
    }
  }

  private readInto(b: Buffer): Promise<number> {
    return this.fh!.read(b, 0, this.chunkSize, null).then(
      (r) => r.bytesRead,
      (e: unknown) => {
        throw new CaptureError(this.path, this.at(), `read error: ${errorText(e)}`);
      },
    );
  }

  /** The next chunk, or null at the end of the file. */
  async next(): Promise<Buffer | null> {
    if (this.done) return null;
    let n: number;
    if (this.first >= 0) {
      n = this.first;
      this.first = -1;
    } else if (this.pending !== null) {
      n = await this.pending;
      this.pending = null;
      this.cur ^= 1;
    } else {
      n = await this.readInto(this.bufs[this.cur]!);
    }
    if (n === 0) {
      this.done = true;
      return null;
    }
    if (this.ahead) this.pending = this.readInto(this.bufs[this.cur ^ 1]!);
    return this.bufs[this.cur]!.subarray(0, n);
  }

  async close(): Promise<void> {
    this.done = true;
    // A read still in flight (consumer stopped or threw) must finish before the close.
    if (this.pending !== null) await this.pending.catch(() => undefined);
    this.pending = null;
    await this.fh?.close();
    this.fh = null;
  }
}

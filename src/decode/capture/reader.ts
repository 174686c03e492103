/**
 * The one capture reader of decode, verify, arp and the evidence writer: a path, stdin ('-')
 * or any byte stream becomes decompressed chunks, which the push parser (./parser.ts) turns
 * into frames. gzip is recognised by its content (1f 8b), never by the file name, and
 * decompressed on the fly. Everything about where the bytes come from lives here: the chunk
 * size, the read-ahead, the gzip handling and the rule for a gzip stream cut short
 * (`gzipFailure`), so every command reads a damaged file the same way.
 *
 * Two ways to drive it. `readCapture`/`readCaptureStream` read a whole capture (decode,
 * arp). `CaptureReader` hands the chunks out as the caller asks for them (`next`, `feed`):
 * verify reads many captures side by side and parses each only as far as the merge needs.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { constants as zc, createGunzip, gunzipSync, type Gunzip } from 'node:zlib';
import { newReaderId, readProgressHook } from './progress.js';
import { CaptureError } from './errors.js';
import { CaptureParser } from './parser.js';
import { streamInputOf } from './stream-input.js';
import type { CaptureSummary, FrameCallback, ReadOptions } from './types.js';

/** Bytes read at a time from a file unless ReadOptions.chunkSize says otherwise (gzip is
 *  decompressed in chunks of its own size: GZIP_OUT). */
export const DEFAULT_CHUNK = 1024 * 1024;
/** Smallest chunk accepted: the parser needs 4 bytes to tell the format; 16 keeps reads sane. */
const MIN_CHUNK = 16;

/** What a cut gzip stream reports (alone, or before the cut record's detail). */
export const GZIP_CUT = 'gzip stream ends early';

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The one rule for a gzip stream that fails while being decompressed. A stream that stops
 * before its end (zlib: Z_BUF_ERROR, "unexpected end of file": a capture gzip'd while being
 * written, a copy cut short) is a cut file, as tcpdump treats a capture cut mid-write: every
 * packet before the cut is read, and the reader warns once (`capture.truncated-file`) —
 * returned here as the cut reason for CaptureParser.end. Anything else (corrupt data, a bad
 * CRC, a bad header) means the bytes cannot be trusted: a CaptureError at `offset`, the
 * decompressed offset of the first record not yet parsed.
 */
export function gzipFailure(e: unknown, file: string, offset: number): string {
  if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') return GZIP_CUT;
  throw new CaptureError(file, offset, `gzip: ${errorText(e)}`);
}

/** Decompressed bytes in chunks. A chunk is valid until the next call of `next()`. */
interface ChunkSource {
  readonly gzip: boolean;
  /** The next chunk, or null at the end of the input. Source failures are thrown as they come. */
  next(): Promise<Buffer | null>;
  close(): Promise<void>;
}

/**
 * The chunks of a plain capture file, in two reused buffers: while one chunk is parsed and
 * decoded the next is read in libuv's thread pool, so the main thread does not sit idle
 * waiting for each read, and no buffer is allocated per chunk (fresh buffers cost page
 * faults). Only a regular file is read ahead: on a FIFO a read issued after the consumer
 * stopped could wait forever for a writer.
 */
class FileChunks implements ChunkSource {
  readonly gzip = false;
  private cur = 0;
  private pending: Promise<number> | null = null;
  private done = false;

  constructor(
    private fh: FileHandle | null,
    private readonly chunkSize: number,
    private readonly ahead: boolean,
    private readonly bufs: [Buffer, Buffer],
    /** Bytes of the first chunk, already in bufs[0] (-1 once handed out). */
    private first: number,
  ) {}

  private readInto(b: Buffer): Promise<number> {
    return this.fh!.read(b, 0, this.chunkSize, null).then((r) => r.bytesRead);
  }

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
    if (this.ahead) {
      const p = this.readInto(this.bufs[this.cur ^ 1]!);
      // A failed read-ahead is reported when its chunk is asked for, not as an unhandled rejection.
      p.catch(() => undefined);
      this.pending = p;
    }
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

/** Chunks of a plain byte stream (stdin, a child's stdout, an array of chunks), as they come. */
class PlainChunks implements ChunkSource {
  readonly gzip = false;
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(
    raw: AsyncIterable<Buffer>,
    /** Ends the underlying input (a file handle, the source's iterator). */
    private readonly release: () => Promise<void>,
  ) {
    this.chunks = raw[Symbol.asyncIterator]();
  }

  async next(): Promise<Buffer | null> {
    const r = await this.chunks.next();
    return r.done ? null : r.value;
  }

  async close(): Promise<void> {
    await this.chunks.return?.().catch(() => undefined);
    await this.release();
  }
}

/**
 * Compressed bytes are written into zlib in pieces of this size cut at fixed offsets of the
 * stream, and zlib's output buffer has a fixed size (GZIP_OUT), whatever sizes the input was
 * read in and whoever reads: zlib then makes the same calls for every reader. That matters for
 * corrupt data, because zlib drops the output of the call that fails: with the calls the same,
 * decode, verify and arp (which read in different chunk sizes) parse the same bytes before the
 * error and report it with the same offset and words.
 */
const GZIP_PIECE = 16 * 1024;
/** Decompressed bytes per chunk (see GZIP_PIECE). */
const GZIP_OUT = 256 * 1024;
/** Decompressed bytes queued ahead of the reader before the next piece waits for it. */
const GZIP_AHEAD = 2 * GZIP_OUT;

/**
 * The decompressed chunks of a gzip stream (a file, stdin, a FIFO). Everything zlib outputs is
 * queued as it comes ('data'), so every byte decompressed before a failure reaches the parser
 * before the failure does (a stream's own iterator drops what is buffered when it fails). The
 * producer must not reuse a chunk's memory after yielding it (zlib may still hold it).
 *
 * At the end of the compressed bytes zlib is first asked for everything it can decompress (a
 * sync flush) and only then told the input is over: a stream cut short yields every byte before
 * the cut before zlib's "unexpected end of file" (gzipFailure: a cut file).
 */
class GunzipChunks implements ChunkSource {
  readonly gzip = true;
  private readonly g: Gunzip = createGunzip({ chunkSize: GZIP_OUT });
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | null = null;
  /** The reader waiting for a chunk; the pump waiting for room, or for zlib to take a piece. */
  private wake: (() => void) | null = null;
  private room: (() => void) | null = null;
  private settled: (() => void) | null = null;
  private readonly raw: AsyncIterator<Buffer>;

  constructor(
    raw: AsyncIterable<Buffer>,
    /** Ends the underlying input (a file handle, the source's iterator). */
    private readonly release: () => Promise<void>,
  ) {
    this.raw = raw[Symbol.asyncIterator]();
    const g = this.g;
    g.on('data', (b: Buffer) => {
      this.queue.push(b);
      this.queued += b.length;
      this.poke();
    });
    const stop = (e?: Error): void => {
      if (e !== undefined) this.failure ??= e;
      this.ended = true;
      this.poke();
    };
    g.on('end', () => stop());
    g.on('error', stop);
    g.on('close', () => stop());
    void this.pump();
  }

  /** Wakes the reader; once the stream has ended, the pump too (for room, or for zlib). */
  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
    if (this.ended) {
      const r = this.room;
      this.room = null;
      r?.();
      const s = this.settled;
      this.settled = null;
      s?.();
    }
  }

  /** Writes one piece and waits until zlib is done with it (or has failed); false once ended. */
  private async write(piece: Buffer): Promise<boolean> {
    if (this.queued > GZIP_AHEAD && !this.ended) await new Promise<void>((r) => (this.room = r));
    if (this.ended) return false;
    await new Promise<void>((resolve) => {
      this.settled = resolve;
      this.g.write(piece, () => resolve());
    });
    this.settled = null;
    return !this.ended;
  }

  private async pump(): Promise<void> {
    const g = this.g;
    let carry: Buffer | null = null;
    let carried = 0;
    try {
      for (;;) {
        const r = await this.raw.next();
        if (r.done) break;
        const b = r.value;
        let at = 0;
        while (at < b.length) {
          if (carry === null && b.length - at >= GZIP_PIECE) {
            if (!(await this.write(b.subarray(at, at + GZIP_PIECE)))) return;
            at += GZIP_PIECE;
            continue;
          }
          // A piece that spans two reads is gathered in a buffer of its own (zlib may hold it).
          carry ??= Buffer.allocUnsafe(GZIP_PIECE);
          const n = Math.min(GZIP_PIECE - carried, b.length - at);
          b.copy(carry, carried, at, at + n);
          carried += n;
          at += n;
          if (carried === GZIP_PIECE) {
            const piece = carry;
            carry = null;
            carried = 0;
            if (!(await this.write(piece))) return;
          }
        }
      }
      if (carry !== null && !(await this.write(carry.subarray(0, carried)))) return;
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.settled = resolve;
        g.flush(zc.Z_SYNC_FLUSH, () => resolve());
      });
      this.settled = null;
      if (!g.destroyed) g.end();
    } catch (e) {
      g.destroy(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async next(): Promise<Buffer | null> {
    for (;;) {
      const b = this.queue.shift();
      if (b !== undefined) {
        this.queued -= b.length;
        if (this.queued <= GZIP_AHEAD && this.room !== null) {
          const r = this.room;
          this.room = null;
          r();
        }
        return b;
      }
      if (this.ended) {
        if (this.failure !== null) throw this.failure;
        return null;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  async close(): Promise<void> {
    this.ended = true;
    this.queue.length = 0;
    this.g.destroy();
    this.poke();
    await this.raw.return?.().catch(() => undefined);
    await this.release();
  }
}

/** The rest of a file after its first chunk (already read into `first`), in fresh buffers:
 *  the gzip path's input, read from the same handle so that a FIFO loses nothing. */
async function* restOfFile(fh: FileHandle, first: Buffer, chunkSize: number): AsyncGenerator<Buffer> {
  yield first;
  for (;;) {
    const b = Buffer.allocUnsafe(chunkSize);
    const n = (await fh.read(b, 0, chunkSize, null)).bytesRead;
    if (n === 0) return;
    yield b.subarray(0, n);
  }
}

/** Counts the bytes going into zlib as they pass, when progress is reported (else `raw` as is). */
function counted(raw: AsyncIterable<Buffer>, tally: { bytes: number }): AsyncIterable<Buffer> {
  return readProgressHook() === null ? raw : countBytes(raw, tally);
}

async function* countBytes(raw: AsyncIterable<Buffer>, tally: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const b of raw) {
    tally.bytes += b.length;
    yield b;
  }
}

function toBuffer(b: Buffer | string): Buffer {
  return typeof b === 'string' ? Buffer.from(b) : b;
}

/** The source's chunks from the start again, after `head` was taken to look for the gzip magic. */
async function* replay(head: Buffer[], it: AsyncIterator<Buffer | string>, done: boolean): AsyncGenerator<Buffer> {
  for (const b of head) yield b;
  if (done) return;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield toBuffer(r.value);
  }
}

function syncToAsync(it: Iterator<Buffer>): AsyncIterator<Buffer> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}

/**
 * One capture being read: its decompressed chunks pushed into the parser as the caller asks.
 * `next()` loads a chunk; `feed(max)` parses up to `max` bytes of it (synchronously, so a
 * caller that parses a chunk piecemeal awaits once per chunk, not per piece); `end()` ends
 * the input and gives the summary, with the one `capture.truncated-file` warning of a cut
 * file; `close()` releases the input (also after a failure or an early stop).
 */
export class CaptureReader {
  private chunk: Buffer | null = null;
  private at = 0;
  /** Set when the input ended early (a cut gzip stream): reported by end(). */
  private cut: string | undefined;
  private exhausted = false;

  /** Input bytes consumed (compressed ones for gzip): progress against the file's size. */
  private rawBytes = 0;
  private readonly progressId: string | null = readProgressHook() !== null ? newReaderId() : null;

  private constructor(
    private readonly source: ChunkSource,
    private readonly parser: CaptureParser,
    readonly file: string,
    /** For gzip: the compressed bytes counted as they go into zlib. */
    private readonly compressed: { bytes: number } | null = null,
  ) {
    parser.summary.gzip = source.gzip;
  }

  /** Reports this reader's position to the progress hook, once per chunk. */
  private progress(done: boolean): void {
    const h = readProgressHook();
    if (h === null || this.progressId === null) return;
    h({ reader: this.progressId, file: this.file, bytes: this.compressed?.bytes ?? this.rawBytes, frames: this.parser.summary.frames, done });
  }

  /** Opens the capture file at `path`, or the input registered for it by keepStreamHeads
   *  (./stream-input.ts: `-`, a FIFO), from its first byte again. */
  static async open(path: string, onFrame: FrameCallback, opts: ReadOptions = {}): Promise<CaptureReader> {
    const kept = streamInputOf(path);
    if (kept !== undefined) return CaptureReader.fromStream(kept.bytes(), path, onFrame, opts);
    const chunkSize = Math.max(opts.chunkSize ?? DEFAULT_CHUNK, MIN_CHUNK);
    const parser = new CaptureParser(path, onFrame, opts);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new CaptureError(path, 0, `cannot open: ${errorText(e)}`);
    }
    try {
      const head = Buffer.allocUnsafe(chunkSize);
      const n = (await fh.read(head, 0, chunkSize, null)).bytesRead;
      const first = head.subarray(0, n);
      if (isGzip(first)) {
        const handle = fh;
        const tally = { bytes: 0 };
        return new CaptureReader(new GunzipChunks(counted(restOfFile(handle, first, chunkSize), tally), () => handle.close()), parser, path, tally);
      }
      const ahead = (await fh.stat()).isFile();
      return new CaptureReader(new FileChunks(fh, chunkSize, ahead, [head, Buffer.allocUnsafe(chunkSize)], n), parser, path);
    } catch (e) {
      await fh.close();
      throw e instanceof CaptureError ? e : new CaptureError(path, 0, `read error: ${errorText(e)}`);
    }
  }

  /** Reads a capture from a byte stream or iterable of chunks (stdin, a child's stdout, tests). */
  static async fromStream(
    source: AsyncIterable<Buffer | string> | Iterable<Buffer>,
    name: string,
    onFrame: FrameCallback,
    opts: ReadOptions = {},
  ): Promise<CaptureReader> {
    const parser = new CaptureParser(name, onFrame, opts);
    const it: AsyncIterator<Buffer | string> =
      Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : syncToAsync(source[Symbol.iterator]());
    // Chunks are collected until the two gzip magic bytes can be seen.
    const head: Buffer[] = [];
    let seen = 0;
    let done = false;
    try {
      while (seen < 2) {
        const r = await it.next();
        if (r.done) {
          done = true;
          break;
        }
        const b = toBuffer(r.value);
        head.push(b);
        seen += b.length;
      }
    } catch (e) {
      throw new CaptureError(name, 0, `read error: ${errorText(e)}`);
    }
    const gz = head.length > 0 && isGzip(Buffer.concat(head.slice(0, 2)));
    const release = async (): Promise<void> => {
      await it.return?.();
    };
    const raw = replay(head, it, done);
    if (!gz) return new CaptureReader(new PlainChunks(raw, release), parser, name);
    const tally = { bytes: 0 };
    return new CaptureReader(new GunzipChunks(counted(raw, tally), release), parser, name, tally);
  }

  get summary(): CaptureSummary {
    return this.parser.summary;
  }

  /** Offset of the next record not yet parsed. */
  get recordOffset(): number {
    return this.parser.recordOffset;
  }

  /**
   * Loads the next chunk, dropping what is left of the current one. False at the end of the
   * input (a cut gzip stream included) or once the consumer has stopped the read; throws a
   * CaptureError for an input that cannot be read on.
   */
  async next(): Promise<boolean> {
    this.chunk = null;
    this.at = 0;
    if (this.exhausted || this.parser.isStopped) return false;
    let c: Buffer | null;
    try {
      c = await this.source.next();
    } catch (e) {
      if (e instanceof CaptureError) throw e;
      const at = this.parser.recordOffset;
      if (this.source.gzip) this.cut = gzipFailure(e, this.file, at);
      else throw new CaptureError(this.file, at, `read error: ${errorText(e)}`);
      c = null;
    }
    if (c === null) {
      this.exhausted = true;
      this.progress(true);
      return false;
    }
    this.chunk = c;
    this.rawBytes += c.length;
    this.progress(false);
    return true;
  }

  /**
   * Parses up to `max` bytes of the loaded chunk. False when it has none left (load the next)
   * or the consumer has stopped. Whatever the consumer's callback throws propagates unchanged.
   */
  feed(max = Infinity): boolean {
    const c = this.chunk;
    if (c === null || this.at >= c.length) return false;
    const from = this.at;
    if (max >= c.length - from) {
      this.at = c.length;
      return this.parser.push(from === 0 ? c : c.subarray(from));
    }
    this.at = from + max;
    return this.parser.push(c.subarray(from, this.at));
  }

  /**
   * Ends the input: header-level damage throws (CaptureParser.end); a file cut inside a record
   * or a cut gzip stream sets `truncated` and warns once, `capture.truncated-file`.
   */
  end(): CaptureSummary {
    return this.parser.end(this.cut);
  }

  async close(): Promise<void> {
    this.chunk = null;
    this.exhausted = true;
    await this.source.close();
  }
}

/** Input bytes parsed between two questions to ReadOptions.pace: a slice of the smallest
 *  packets prints a few MiB of `decode --json`, the most a paced consumer holds unwritten. */
export const PACE_SLICE = 64 * 1024;

/** Reads every chunk of `reader` into its parser, closes it and ends the read. */
async function readAll(reader: CaptureReader, pace: (() => Promise<void> | null) | undefined): Promise<CaptureSummary> {
  try {
    if (pace === undefined) {
      while (await reader.next()) reader.feed();
    } else {
      while (await reader.next()) {
        while (reader.feed(PACE_SLICE)) {
          const wait = pace();
          if (wait !== null) await wait;
        }
      }
    }
  } finally {
    await reader.close();
  }
  return reader.end();
}

/**
 * Reads a capture from a byte stream (stdin, a child's stdout, a generator, an array of
 * chunks). The producer must not reuse a chunk's memory after yielding it when the content
 * may be gzip'd.
 */
export async function readCaptureStream(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer>,
  name: string,
  onFrame: FrameCallback,
  opts: ReadOptions = {},
): Promise<CaptureSummary> {
  return readAll(await CaptureReader.fromStream(source, name, onFrame, opts), opts.pace);
}

/**
 * Reads the capture at `path` ('-' = stdin), calling `onFrame` for every frame with one
 * reused Frame (valid only during the call; return false to stop). Resolves to a summary;
 * rejects with CaptureError for input that is not a readable capture.
 */
export async function readCapture(path: string, onFrame: FrameCallback, opts: ReadOptions = {}): Promise<CaptureSummary> {
  if (path === '-' && streamInputOf(path) === undefined) return readCaptureStream(process.stdin, '-', onFrame, opts);
  return readAll(await CaptureReader.open(path, onFrame, opts), opts.pace);
}

/**
 * Reads a whole capture held in memory (tests, tools), with the same parser and the same
 * gzip rule as the streamed reads. Frames point into `bytes` (or its decompressed copy).
 */
export function readCaptureBuffer(bytes: Buffer, name: string, onFrame: FrameCallback, opts: ReadOptions = {}): CaptureSummary {
  const parser = new CaptureParser(name, onFrame, opts);
  let data = bytes;
  let cut: string | undefined;
  const gz = isGzip(bytes);
  if (gz) {
    try {
      data = gunzipSync(bytes);
    } catch (e) {
      cut = gzipFailure(e, name, 0);
      // Everything that decompresses before the cut, as the streamed read delivers it.
      data = gunzipSync(bytes, { finishFlush: zc.Z_SYNC_FLUSH });
    }
  }
  parser.summary.gzip = gz;
  parser.push(data);
  return parser.end(cut);
}

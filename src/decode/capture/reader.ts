/**
 * Entry points: read a capture from a path, from stdin ('-'), from any byte stream, or
 * from a Buffer already in memory. gzip is recognised by its content (1f 8b), never by
 * the file name, and decompressed on the fly.
 */
import { open } from 'node:fs/promises';
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
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CaptureError(path, 0, `cannot open: ${errorText(e)}`);
  }
  const parser = new CaptureParser(path, onFrame, opts);
  // Two read buffers used in turn: the read of the next chunk runs in libuv's thread pool
  // while this one is parsed and decoded, so the main thread does not sit idle waiting for
  // each read (idle time was a quarter of `decode --summary` wall time with one buffer).
  // The parser copies any partial record out of a chunk before that chunk's buffer is
  // read into again, and frames are valid only during their callback, so two suffice.
  const bufs = [Buffer.allocUnsafe(chunkSize), Buffer.allocUnsafe(chunkSize)];
  let pending: Promise<number> | null = null;
  const fhRef = fh;
  const readInto = (b: Buffer): Promise<number> =>
    fhRef.read(b, 0, chunkSize, null).then(
      (r) => r.bytesRead,
      (e: unknown) => {
        throw new CaptureError(path, parser.summary.bytes, `read error: ${errorText(e)}`);
      },
    );
  try {
    let cur = 0;
    let n = await readInto(bufs[0]!);
    if (isGzip(bufs[0]!.subarray(0, n))) {
      await fh.close();
      fh = null;
      return readCaptureStream(createReadStream(path, { highWaterMark: chunkSize }), path, onFrame, opts);
    }
    // Only a regular file is read ahead: on a FIFO a read issued after the consumer stopped
    // could wait forever for a writer.
    const ahead = (await fh.stat()).isFile();
    while (n > 0) {
      if (!ahead) {
        if (!parser.push(bufs[0]!.subarray(0, n))) break;
        n = await readInto(bufs[0]!);
        continue;
      }
      pending = readInto(bufs[cur ^ 1]!);
      if (!parser.push(bufs[cur]!.subarray(0, n))) break;
      n = await pending;
      pending = null;
      cur ^= 1;
    }
  } finally {
    // A read still in flight (consumer stopped or threw) must finish before the close.
    if (pending !== null) await pending.catch(() => undefined);
    await fh?.close();
  }
  return parser.end();
}

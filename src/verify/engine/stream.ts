/**
 * Pull-based reading of many captures at once, merged in corrected time.
 *
 * Copies of one packet sit in different files (client, director legs, real servers); to judge a
 * connection and then forget its packets, the files must be read side by side, in capture time
 * corrected by each point's clock offset. Each file is read chunk by chunk through the capture
 * push parser only when its queue of decoded records runs dry, so a file does not run ahead of
 * the others and the memory in flight is one chunk per file plus the live connections.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { CaptureError, CaptureParser, FileChunks, type CaptureWarning } from '../../decode/capture/index.js';
import { Decoder } from '../../decode/decoder.js';
import type { Packet } from '../../decode/packet.js';
import { extractRecord, type PacketRecord, type RecordPool } from './record.js';

export interface ReaderOptions {
  toaKinds?: number[];
  keep?: (r: PacketRecord) => boolean;
  /** Every decoded packet (ARP rules, frame counts). */
  observe?: (p: Packet) => void;
  onWarning?: (w: CaptureWarning) => void;
  /** ns subtracted from capture time to get reference time. */
  offsetNs: number;
  chunkSize?: number;
  /** Copy the TCP option bytes into records (FullNAT rules need them); default true. */
  tcpOptions?: boolean;
  /** Reuse judged records (engine/record.ts RecordPool) instead of allocating. */
  pool?: RecordPool;
}

/** Read size per file. Small on purpose: a chunk's records are all extracted at once and then
 *  wait in the queue until the merge reaches them, so the chunk size sets how many records are
 *  in flight across the files — 32 KiB keeps them (~250 per file) in the CPU cache; 256 KiB
 *  measured 15–20 % slower on the 1 M packet bench set. */
const CHUNK = 32 * 1024;

/** One capture file as a queue of records, refilled one chunk at a time. */
export class PointReader {
  private readonly queue: PacketRecord[] = [];
  private qi = 0;
  private it: AsyncIterator<Buffer> | null = null;
  /** A plain file: chunks read ahead into reused buffers (no allocation per chunk). */
  private chunks: FileChunks | null = null;
  private started = false;
  private parser: CaptureParser | null = null;
  private readonly decoder: Decoder;
  done = false;
  frames = 0;
  firstTs = Infinity;
  lastTs = -Infinity;
  malformedCount = 0;
  readonly malformedFrames: number[] = [];
  malformedWhat = '';

  constructor(
    readonly file: string,
    readonly point: number,
    private readonly opts: ReaderOptions,
  ) {
    this.decoder = new Decoder(opts.toaKinds ? { toaKinds: opts.toaKinds } : {});
  }

  private async start(): Promise<void> {
    this.started = true;
    const size = this.opts.chunkSize ?? CHUNK;
    const chunks = await FileChunks.open(this.file, size, () => this.parser?.recordOffset ?? 0);
    if (chunks.gzip) {
      await chunks.close();
      const raw = createReadStream(this.file, { highWaterMark: size });
      const src = raw.pipe(createGunzip());
      raw.on('error', (e) => src.destroy(e));
      this.it = (src as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    } else {
      this.chunks = chunks;
    }
    this.parser = new CaptureParser(
      this.file,
      (frame) => {
        const p = this.decoder.decode(frame);
        this.frames++;
        const ts = p.tsSec * 1e9 + p.tsNsec;
        if (ts < this.firstTs) this.firstTs = ts;
        if (ts > this.lastTs) this.lastTs = ts;
        if (p.malformed.present) {
          this.malformedCount++;
          if (this.malformedFrames.length < 10) this.malformedFrames.push(p.frame);
          if (!this.malformedWhat) this.malformedWhat = `${p.malformed.layer} at byte ${p.malformed.offset}: ${p.malformed.reason}`;
        }
        this.opts.observe?.(p);
        const pool = this.opts.pool;
        const into = pool?.take();
        const r = extractRecord(p, this.point, this.opts.tcpOptions !== false, into);
        if (r === null) {
          if (into) pool!.give(into);
          return;
        }
        if (!this.opts.keep || this.opts.keep(r)) {
          r.t = r.ts - this.opts.offsetNs;
          this.queue.push(r);
        } else {
          pool?.give(r);
        }
      },
      this.opts.onWarning ? { onWarning: this.opts.onWarning } : {},
    );
  }

  peek(): PacketRecord | undefined {
    return this.queue[this.qi];
  }

  shift(): PacketRecord | undefined {
    const r = this.queue[this.qi++];
    if (this.qi > 4096 && this.qi * 2 > this.queue.length) {
      this.queue.splice(0, this.qi);
      this.qi = 0;
    }
    return r;
  }

  /** Reads until at least one record is queued or the file ends. */
  async fill(): Promise<void> {
    if (!this.started) await this.start();
    while (this.qi >= this.queue.length && !this.done) {
      if (this.chunks !== null) {
        const chunk = await this.chunks.next();
        if (chunk === null) {
          this.finishParser();
          await this.chunks.close();
          return;
        }
        this.parser!.push(chunk);
        continue;
      }
      let next: IteratorResult<Buffer>;
      try {
        next = await this.it!.next();
      } catch (e) {
        if (e instanceof CaptureError) throw e;
        const cut = /unexpected end|incorrect header|invalid/i.test(String(e));
        if (!cut) throw new CaptureError(this.file, this.parser!.recordOffset, `read error: ${e instanceof Error ? e.message : String(e)}`);
        this.finishParser('gzip stream ends early');
        return;
      }
      if (next.done) {
        this.finishParser();
        return;
      }
      this.parser!.push(next.value);
    }
  }

  truncated = false;

  private finishParser(cut?: string): void {
    this.done = true;
    const s = this.parser!.end(cut);
    this.truncated = s.truncated;
  }

  /** Stops reading (sampling pass). */
  async close(): Promise<void> {
    this.done = true;
    await this.chunks?.close();
    await this.it?.return?.();
  }
}

/** Min-heap of readers by the corrected time of their next record. */
class ReaderHeap {
  private readonly h: PointReader[] = [];
  get size(): number {
    return this.h.length;
  }
  private key(i: number): number {
    return this.h[i]!.peek()!.t;
  }
  push(r: PointReader): void {
    const h = this.h;
    h.push(r);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.key(parent) <= this.key(i)) break;
      const x = h[parent]!;
      h[parent] = h[i]!;
      h[i] = x;
      i = parent;
    }
  }
  pop(): PointReader {
    const h = this.h;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.key(l) < this.key(m)) m = l;
        if (r < h.length && this.key(r) < this.key(m)) m = r;
        if (m === i) break;
        const x = h[m]!;
        h[m] = h[i]!;
        h[i] = x;
        i = m;
      }
    }
    return top;
  }
}

/**
 * Streams every reader's records in corrected-time order into `onRecord`; `onTick(now)` runs
 * every `tickEvery` records with the current merge time (connection finalisation).
 */
export async function mergeReaders(
  readers: readonly PointReader[],
  onRecord: (r: PacketRecord) => void,
  onTick: (now: number) => void,
  tickEvery = 512,
): Promise<void> {
  const heap = new ReaderHeap();
  for (const r of readers) {
    await r.fill();
    if (r.peek()) heap.push(r);
  }
  let n = 0;
  while (heap.size > 0) {
    const reader = heap.pop();
    const rec = reader.shift()!;
    onRecord(rec);
    if (++n % tickEvery === 0) onTick(rec.t);
    if (!reader.peek()) await reader.fill();
    if (reader.peek()) heap.push(reader);
  }
}

/** Reads the first `limit` kept records of a file (the sample the clock and topology are learnt from). */
export async function sampleFile(file: string, point: number, limit: number, opts: ReaderOptions): Promise<{ records: PacketRecord[]; reader: PointReader }> {
  const reader = new PointReader(file, point, opts);
  const records: PacketRecord[] = [];
  while (records.length < limit) {
    // Awaited only when the queue is empty: an await per record cost more than the record.
    if (reader.peek() === undefined) await reader.fill();
    const r = reader.shift();
    if (!r) break;
    records.push(r);
  }
  await reader.close();
  return { records, reader };
}

/**
 * Push parser over capture bytes in arbitrary chunks. Records that lie wholly inside a
 * chunk are handed out in place (zero-copy: the Frame points into the chunk); only the
 * partial record at a chunk's end is copied into a carry buffer, which grows beyond its
 * initial size only for a single huge record. Memory is therefore one chunk plus the
 * largest record, whatever the file size.
 */
import { cutRecordMessage } from './errors.js';
import { PcapFormat, pcapMagic } from './pcap.js';
import { PCAPNG_SHB, PcapngFormat } from './pcapng.js';
import { ReadContext, type CaptureSummary, type FrameCallback, type ReadOptions, type RecordFormat } from './types.js';

const CARRY_INITIAL = 64 * 1024;
/** A carry grown past this for one huge record is given back once records are small again. */
const CARRY_SHRINK_ABOVE = 4 * 1024 * 1024;

export class CaptureParser {
  private readonly ctx: ReadContext;
  private format: RecordFormat | null = null;
  private carry: Buffer = Buffer.alloc(0);
  private carryLen = 0;
  /** Size the record in the carry needs (0 when nothing is carried). */
  private carryWant = 0;
  /** Decompressed offset of the next record's first byte. */
  private offset = 0;
  private stopped = false;
  private ended = false;

  constructor(file: string, onFrame: FrameCallback, opts: ReadOptions = {}) {
    this.ctx = new ReadContext(file, onFrame, opts.onWarning);
  }

  get summary(): CaptureSummary {
    return this.ctx.summary;
  }

  /** True once the consumer returned false; further input is ignored. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Offset of the next record not yet parsed (where a truncation would be reported). */
  get recordOffset(): number {
    return this.offset;
  }

  /** True when some bytes of an incomplete record are waiting for more input. */
  get hasPartial(): boolean {
    return this.carryLen > 0;
  }

  private need(buf: Buffer, pos: number, avail: number): number {
    if (this.format === null) {
      if (avail < 4) return 4;
      this.format = this.detect(buf.readUInt32BE(pos));
    }
    return this.format.recordSize(buf, pos, avail, this.offset);
  }

  private detect(magic: number): RecordFormat {
    const pcap = pcapMagic(magic);
    if (pcap !== null) return new PcapFormat(this.ctx, pcap.le, pcap.nano);
    if (magic === PCAPNG_SHB) return new PcapngFormat(this.ctx);
    throw this.ctx.error(0, `not a pcap or pcapng file (magic 0x${magic.toString(16).padStart(8, '0')})`);
  }

  private consume(buf: Buffer, pos: number, size: number): void {
    const more = this.format!.parse(buf, pos, size, this.offset);
    this.offset += size;
    if (!more) this.stopped = true;
  }

  /** Room for n carried bytes; doubles (amortised copies) but never beyond `cap`, the record's size. */
  private ensureCarry(n: number, cap: number): void {
    if (this.carry.length >= n) return;
    const grown = Buffer.allocUnsafe(Math.max(n, Math.min(Math.max(CARRY_INITIAL, this.carry.length * 2), cap)));
    this.carry.copy(grown, 0, 0, this.carryLen);
    this.carry = grown;
  }

  /** Feeds the next chunk. Returns false once the consumer has stopped the read. */
  push(chunk: Buffer): boolean {
    if (this.stopped || this.ended) return false;
    this.ctx.summary.bytes += chunk.length;
    const end = chunk.length;
    let pos = 0;
    if (this.carryLen > 0) {
      // Complete the carried record: first its header (to learn its size), then the rest.
      for (;;) {
        const want = this.need(this.carry, 0, this.carryLen);
        this.carryWant = want;
        if (this.carryLen >= want) break;
        const take = Math.min(want - this.carryLen, end - pos);
        // Grow with the bytes actually present, not the announced length: a corrupt length
        // near the 256 MiB limit at the end of a file must not allocate 256 MiB up front.
        this.ensureCarry(this.carryLen + take, want);
        chunk.copy(this.carry, this.carryLen, pos, pos + take);
        this.carryLen += take;
        pos += take;
        if (this.carryLen < want) return true;
      }
      this.consume(this.carry, 0, this.carryWant);
      this.carryLen = 0;
      this.carryWant = 0;
      if (this.stopped) return false;
    }
    while (pos < end) {
      const fast = this.format;
      if (fast !== null) {
        const used = fast.parseRun(chunk, pos, end, this.offset);
        pos += used;
        this.offset += used;
        if (fast.runStopped) {
          this.stopped = true;
          return false;
        }
        if (pos >= end) break;
      }
      const avail = end - pos;
      const want = this.need(chunk, pos, avail);
      if (avail < want) {
        if (this.carry.length > CARRY_SHRINK_ABOVE && want < CARRY_INITIAL) this.carry = Buffer.alloc(0);
        this.ensureCarry(avail, want);
        chunk.copy(this.carry, 0, pos, end);
        this.carryLen = avail;
        this.carryWant = want;
        return true;
      }
      this.consume(chunk, pos, want);
      pos += want;
      if (this.stopped) return false;
    }
    return true;
  }

  /**
   * Ends the input. Header-level damage (nothing recognisable, a cut file header) throws;
   * a cut record after the header is reported as one `capture.truncated-file` warning.
   * `cutReason`, when given, reports a truncation the caller detected (a short gzip stream)
   * even if the cut fell on a record boundary.
   */
  end(cutReason?: string): CaptureSummary {
    if (this.ended) return this.ctx.summary;
    this.ended = true;
    const s = this.ctx.summary;
    if (this.stopped) return s;
    if (this.format === null) {
      if (this.carryLen === 0) throw this.ctx.error(0, 'not a pcap or pcapng file (empty file)');
      const hex = this.carry.toString('hex', 0, this.carryLen);
      throw this.ctx.error(0, `not a pcap or pcapng file (magic 0x${hex}, only ${this.carryLen} bytes)`);
    }
    if (!this.format.headerDone) {
      const what = this.format.name === 'pcap' ? 'pcap file header' : 'section header block';
      throw this.ctx.error(0, `truncated ${what} (${this.carryLen} of ${this.carryWant} bytes)`);
    }
    if (this.carryLen > 0) {
      s.truncated = true;
      this.ctx.warn(this.offset, 'capture.truncated-file', cutRecordMessage(this.carryLen, this.carryWant, cutReason));
    } else if (cutReason) {
      s.truncated = true;
      this.ctx.warn(this.offset, 'capture.truncated-file', cutReason);
    }
    this.carryLen = 0;
    return s;
  }
}

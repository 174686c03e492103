/**
 * Capture writers for fixtures, evidence files and replay input. Synchronous and simple:
 * records are packed into a 1 MiB staging buffer that is flushed to the file with
 * fs.writeSync (or kept in memory for `toBuffer()`).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Direction } from '../frame.js';

const STAGE = 1024 * 1024;

/** Byte sink shared by both writers: a file descriptor or an in-memory list of chunks. */
class Sink {
  private fd: number | null;
  private readonly kept: Buffer[] = [];
  private stage = Buffer.allocUnsafe(STAGE);
  private used = 0;
  private closed = false;

  constructor(path: string | undefined) {
    this.fd = path === undefined ? null : openSync(path, 'w');
  }

  /** Space for `n` bytes; the caller fills them at the returned offset of `buf`. */
  reserve(n: number): { buf: Buffer; at: number } {
    if (this.closed) throw new Error('capture writer is closed');
    if (this.used + n > this.stage.length) {
      this.flush();
      if (n > this.stage.length) this.stage = Buffer.allocUnsafe(n);
    }
    const at = this.used;
    this.used += n;
    return { buf: this.stage, at };
  }

  /** The file is a pipe whose reader has gone (EPIPE): what is written from then on is dropped,
   *  as output to a closed `| head` is. */
  readerGone = false;

  flush(): void {
    if (this.used === 0) return;
    if (this.fd !== null) {
      let done = 0;
      try {
        while (done < this.used && !this.readerGone) done += writeSync(this.fd, this.stage, done, this.used - done);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
        this.readerGone = true;
      }
    } else {
      this.kept.push(Buffer.from(this.stage.subarray(0, this.used)));
    }
    this.used = 0;
  }

  toBuffer(): Buffer {
    if (this.fd !== null) throw new Error('capture writer writes to a file; toBuffer() is for in-memory writers');
    this.flush();
    return Buffer.concat(this.kept);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export interface PcapWriterOptions {
  /** File to create; omit to write into memory and call `toBuffer()`. */
  path?: string;
  /** LINKTYPE_* of every record, default 1 (Ethernet). */
  linkType?: number;
  /** Header snaplen, default 262144. */
  snaplen?: number;
  /** Timestamp resolution, default 'ns' (magic a1b23c4d); 'us' for tools that only read a1b2c3d4. */
  resolution?: 'ns' | 'us';
  /** Byte order of the file, default little-endian. */
  bigEndian?: boolean;
}

/** Classic pcap writer. */
export class PcapWriter {
  private readonly sink: Sink;
  private readonly le: boolean;
  private readonly nano: boolean;
  private readonly snaplen: number;

  constructor(opts: PcapWriterOptions = {}) {
    this.sink = new Sink(opts.path);
    this.le = opts.bigEndian !== true;
    this.nano = opts.resolution !== 'us';
    this.snaplen = opts.snaplen ?? 262144;
    const { buf, at } = this.sink.reserve(24);
    this.u32(buf, at, this.nano ? 0xa1b23c4d : 0xa1b2c3d4);
    this.u16(buf, at + 4, 2);
    this.u16(buf, at + 6, 4);
    this.u32(buf, at + 8, 0); // thiszone
    this.u32(buf, at + 12, 0); // sigfigs
    this.u32(buf, at + 16, this.snaplen);
    this.u32(buf, at + 20, opts.linkType ?? 1);
  }

  private u32(b: Buffer, p: number, v: number): void {
    if (this.le) b.writeUInt32LE(v >>> 0, p);
    else b.writeUInt32BE(v >>> 0, p);
  }

  private u16(b: Buffer, p: number, v: number): void {
    if (this.le) b.writeUInt16LE(v, p);
    else b.writeUInt16BE(v, p);
  }

  /** Appends one record; bytes beyond the snaplen are cut, `origLen` defaults to bytes.length. */
  write(bytes: Uint8Array, tsSec: number, tsNsec: number, origLen?: number): void {
    const caplen = Math.min(bytes.length, this.snaplen);
    const { buf, at } = this.sink.reserve(16 + caplen);
    this.u32(buf, at, tsSec);
    this.u32(buf, at + 4, this.nano ? tsNsec : Math.floor(tsNsec / 1000));
    this.u32(buf, at + 8, caplen);
    this.u32(buf, at + 12, origLen ?? bytes.length);
    buf.set(bytes.subarray(0, caplen), at + 16);
  }

  /** The whole file so far (in-memory writers only). */
  toBuffer(): Buffer {
    return this.sink.toBuffer();
  }

  /** The output is a pipe whose reader has closed it: later packets were dropped. */
  get readerGone(): boolean {
    return this.sink.readerGone;
  }

  close(): void {
    this.sink.close();
  }
}

export interface PcapngInterface {
  name: string;
  /** LINKTYPE_*, default 1 (Ethernet). */
  linkType?: number;
  /** Default 262144. */
  snaplen?: number;
}

export interface PcapngPacketOptions {
  origLen?: number;
  comment?: string;
  direction?: Direction;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** pcapng writer: one SHB, interfaces with nanosecond timestamps (if_tsresol 9), EPBs. */
export class PcapngWriter {
  private readonly sink: Sink;
  private readonly le: boolean;
  private readonly snaplens: number[] = [];

  constructor(opts: { path?: string; bigEndian?: boolean } = {}) {
    this.sink = new Sink(opts.path);
    this.le = opts.bigEndian !== true;
    const { buf, at } = this.sink.reserve(28);
    this.u32(buf, at, 0x0a0d0d0a);
    this.u32(buf, at + 4, 28);
    this.u32(buf, at + 8, 0x1a2b3c4d);
    this.u16(buf, at + 12, 1);
    this.u16(buf, at + 14, 0);
    // Section length -1: unknown (we stream).
    this.u32(buf, at + 16, 0xffffffff);
    this.u32(buf, at + 20, 0xffffffff);
    this.u32(buf, at + 24, 28);
  }

  private u32(b: Buffer, p: number, v: number): void {
    if (this.le) b.writeUInt32LE(v >>> 0, p);
    else b.writeUInt32BE(v >>> 0, p);
  }

  private u16(b: Buffer, p: number, v: number): void {
    if (this.le) b.writeUInt16LE(v, p);
    else b.writeUInt16BE(v, p);
  }

  /** Adds an IDB; returns the interface id EPBs refer to. */
  addInterface(iface: PcapngInterface): number {
    const name = Buffer.from(iface.name, 'utf8');
    const snaplen = iface.snaplen ?? 262144;
    // if_name, if_tsresol (1 byte padded to 4), opt_endofopt
    const len = 16 + 4 + pad4(name.length) + 4 + 4 + 4 + 4;
    const { buf, at } = this.sink.reserve(len);
    buf.fill(0, at, at + len);
    this.u32(buf, at, 1);
    this.u32(buf, at + 4, len);
    this.u16(buf, at + 8, iface.linkType ?? 1);
    this.u32(buf, at + 12, snaplen);
    let p = at + 16;
    this.u16(buf, p, 2);
    this.u16(buf, p + 2, name.length);
    name.copy(buf, p + 4);
    p += 4 + pad4(name.length);
    this.u16(buf, p, 9);
    this.u16(buf, p + 2, 1);
    buf[p + 4] = 9;
    p += 8;
    p += 4; // opt_endofopt, already zero
    this.u32(buf, p, len);
    this.snaplens.push(snaplen);
    return this.snaplens.length - 1;
  }

  /** Appends an EPB on `interfaceId`. */
  write(interfaceId: number, bytes: Uint8Array, tsSec: number, tsNsec: number, opts: PcapngPacketOptions = {}): void {
    const snaplen = this.snaplens[interfaceId];
    if (snaplen === undefined) throw new Error(`pcapng writer: no interface ${interfaceId}`);
    const caplen = snaplen === 0 ? bytes.length : Math.min(bytes.length, snaplen);
    const comment = opts.comment !== undefined ? Buffer.from(opts.comment, 'utf8') : null;
    const flags = opts.direction === 'in' ? 1 : opts.direction === 'out' ? 2 : 0;
    let optLen = 0;
    if (comment !== null) optLen += 4 + pad4(comment.length);
    if (flags !== 0) optLen += 8;
    if (optLen > 0) optLen += 4;
    const len = 28 + pad4(caplen) + optLen + 4;
    const { buf, at } = this.sink.reserve(len);
    buf.fill(0, at, at + len);
    // Writers are off the hot path, so BigInt is fine for the 64-bit nanosecond count.
    const ts = BigInt(tsSec) * 1_000_000_000n + BigInt(tsNsec);
    this.u32(buf, at, 6);
    this.u32(buf, at + 4, len);
    this.u32(buf, at + 8, interfaceId);
    this.u32(buf, at + 12, Number(ts >> 32n));
    this.u32(buf, at + 16, Number(ts & 0xffffffffn));
    this.u32(buf, at + 20, caplen);
    this.u32(buf, at + 24, opts.origLen ?? bytes.length);
    buf.set(bytes.subarray(0, caplen), at + 28);
    let p = at + 28 + pad4(caplen);
    if (comment !== null) {
      this.u16(buf, p, 1);
      this.u16(buf, p + 2, comment.length);
      comment.copy(buf, p + 4);
      p += 4 + pad4(comment.length);
    }
    if (flags !== 0) {
      this.u16(buf, p, 2);
      this.u16(buf, p + 2, 4);
      this.u32(buf, p + 4, flags);
      p += 8;
    }
    if (optLen > 0) p += 4; // opt_endofopt
    this.u32(buf, p, len);
  }

  toBuffer(): Buffer {
    return this.sink.toBuffer();
  }

  /** The output is a pipe whose reader has closed it: later packets were dropped. */
  get readerGone(): boolean {
    return this.sink.readerGone;
  }

  close(): void {
    this.sink.close();
  }
}

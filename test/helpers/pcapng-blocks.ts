/**
 * A little pcapng assembler for tests, big- or little-endian, independent of the project's
 * PcapngWriter: blocks are laid out here from the format's definition, so reading them back
 * checks the reader against the spec rather than against our own writer.
 */
export class Blocks {
  private parts: Buffer[] = [];
  constructor(private readonly be: boolean) {}
  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.be) b.writeUInt32BE(v >>> 0);
    else b.writeUInt32LE(v >>> 0);
    return b;
  }
  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.be) b.writeUInt16BE(v);
    else b.writeUInt16LE(v);
    return b;
  }
  opt(code: number, value: Buffer): Buffer {
    const pad = Buffer.alloc((4 - (value.length % 4)) % 4);
    return Buffer.concat([this.u16(code), this.u16(value.length), value, pad]);
  }
  end(): Buffer {
    return Buffer.alloc(4);
  }
  block(type: number, body: Buffer): this {
    const len = 12 + body.length;
    this.parts.push(Buffer.concat([this.u32(type), this.u32(len), body, this.u32(len)]));
    return this;
  }
  shb(): this {
    return this.block(0x0a0d0d0a, Buffer.concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), Buffer.alloc(8, 0xff)]));
  }
  idb(linkType: number, snaplen: number, opts: Buffer[]): this {
    return this.block(1, Buffer.concat([this.u16(linkType), this.u16(0), this.u32(snaplen), ...opts, ...(opts.length ? [this.end()] : [])]));
  }
  ts64(v: bigint): Buffer {
    return Buffer.concat([this.u32(Number(v >> 32n)), this.u32(Number(v & 0xffffffffn))]);
  }
  epb(ifid: number, ts: bigint, data: Buffer, origLen: number, opts: Buffer[]): this {
    const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
    return this.block(6, Buffer.concat([this.u32(ifid), this.ts64(ts), this.u32(data.length), this.u32(origLen), data, pad, ...opts, ...(opts.length ? [this.end()] : [])]));
  }
  pb(ifid: number, ts: bigint, data: Buffer, opts: Buffer[]): this {
    const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
    return this.block(2, Buffer.concat([this.u16(ifid), this.u16(0), this.ts64(ts), this.u32(data.length), this.u32(data.length), data, pad, ...opts, ...(opts.length ? [this.end()] : [])]));
  }
  /** Interface Statistics Block (options such as isb_ifdrop 5, isb_osdrop 7 as i64). */
  isb(ifid: number, ts: bigint, opts: Buffer[]): this {
    return this.block(5, Buffer.concat([this.u32(ifid), this.ts64(ts), ...opts, ...(opts.length ? [this.end()] : [])]));
  }
  spb(data: Buffer): this {
    const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
    return this.block(3, Buffer.concat([this.u32(data.length), data, pad]));
  }
  /** NRB with one IPv4 record and the end record. */
  nrb(addr: Buffer, name: string): this {
    return this.block(4, Buffer.concat([this.opt(1, Buffer.concat([addr, Buffer.from(`${name}\0`)])), this.end()]));
  }
  flags(v: number): Buffer {
    return this.opt(2, this.u32(v));
  }
  i64(v: bigint): Buffer {
    const hi = Number((v >> 32n) & 0xffffffffn);
    const lo = Number(v & 0xffffffffn);
    return this.be ? Buffer.concat([this.u32(hi), this.u32(lo)]) : Buffer.concat([this.u32(lo), this.u32(hi)]);
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}


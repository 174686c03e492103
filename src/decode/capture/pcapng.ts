/**
 * pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng): a sequence of blocks
 * `type | total length | body | total length`. Every SHB starts a section with its own byte
 * order and its own interface list. Packet blocks (EPB, SPB, obsolete PB) become frames;
 * every other block is skipped by its length and counted.
 */
import { MAX_RECORD, type ReadContext, type RecordFormat } from './types.js';
import { tsToSecNsec, tsUnitText, type TsOut, type TsUnit } from './timestamp.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_PB = 0x00000002;
export const PCAPNG_SPB = 0x00000003;
export const PCAPNG_EPB = 0x00000006;
export const PCAPNG_ISB = 0x00000005;
const BOM = 0x1a2b3c4d;
const BOM_SWAPPED = 0x4d3c2b1a;

/** Byte order of a section from its byte-order magic read little-endian: true = little
 *  endian, false = big endian, null = not a byte-order magic. */
export function pcapngByteOrder(bomLE: number): boolean | null {
  return bomLE === BOM ? true : bomLE === BOM_SWAPPED ? false : null;
}

const BLOCK_NAMES: ReadonlyMap<number, string> = new Map([
  [PCAPNG_SHB, 'SHB'],
  [PCAPNG_IDB, 'IDB'],
  [PCAPNG_PB, 'PB'],
  [PCAPNG_SPB, 'SPB'],
  [0x00000004, 'NRB'],
  [0x00000005, 'ISB'],
  [PCAPNG_EPB, 'EPB'],
  [0x00000007, 'IRIG'],
  [0x00000008, 'AFDX'],
  [0x00000009, 'SJE'],
  [0x0000000a, 'DSB'],
  [0x00000bad, 'CB'],
  [0x40000bad, 'DCB'],
]);

/** Whether `type` is a block type the reader names (others are counted as UNKNOWN and skipped). */
export function pcapngKnownBlock(type: number): boolean {
  return BLOCK_NAMES.has(type);
}

function blockName(type: number): string {
  return BLOCK_NAMES.get(type) ?? `UNKNOWN(0x${type.toString(16).padStart(8, '0')})`;
}

/** Per-interface state the packet blocks need. */
interface Iface {
  /** Index into summary.interfaces (what Frame.interfaceId carries). */
  globalId: number;
  linkType: number;
  snaplen: number;
  unit: TsUnit;
  tsOffsetSec: number;
  /** Nanoseconds per unit when units are 10^-n s with 3 ≤ n ≤ 9 (µs, ns: nearly every
   *  capture), else 0. The fast path then converts a timestamp with one division (see `hiKey`). */
  nsPerUnit: number;
  /** The high 32 bits of the last timestamp and what hi·2^32 units are in seconds and
   *  nanoseconds: consecutive packets share them (hi changes every 4.3 s of ns units), so
   *  only the low word is converted per packet, exactly, with one division. */
  hiKey: number;
  hiSec: number;
  hiNs: number;
}

const EPB = PCAPNG_EPB;
const EPB_MIN = 32;

/** Unsigned 32-bit read without Buffer's bounds validation (the fast path checked the block). */
function rd32(buf: Buffer, p: number, le: boolean): number {
  return le
    ? (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0
    : ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
}

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const OPT_PACKET_FLAGS = 2; // epb_flags and the obsolete pack_flags share code and layout
const IF_NAME = 2;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const ISB_IFDROP = 5;
const ISB_OSDROP = 7;

/** Smallest total length of the blocks whose fixed fields the reader reads. */
export const PCAPNG_MIN_SIZE: ReadonlyMap<number, number> = new Map([
  [PCAPNG_SHB, 28],
  [PCAPNG_IDB, 20],
  [PCAPNG_PB, 32],
  [PCAPNG_SPB, 16],
  [PCAPNG_EPB, 32],
  [PCAPNG_ISB, 24],
]);

export class PcapngFormat implements RecordFormat {
  readonly name = 'pcapng' as const;
  headerDone = false;
  /** Byte order of the current section. */
  private le = true;
  private section = -1;
  private ifaces: Iface[] = [];
  private readonly ts: TsOut = { sec: 0, nsec: 0 };

  constructor(private readonly ctx: ReadContext) {}

  /** Byte order of the current section (the last SHB parsed). */
  get littleEndian(): boolean {
    return this.le;
  }

  private u32(buf: Buffer, p: number): number {
    return this.le ? buf.readUInt32LE(p) : buf.readUInt32BE(p);
  }

  private u16(buf: Buffer, p: number): number {
    return this.le ? buf.readUInt16LE(p) : buf.readUInt16BE(p);
  }

  recordSize(buf: Buffer, pos: number, avail: number, fileOffset: number): number {
    // 12 bytes: type, length and (for an SHB) the byte-order magic that says how to read the length.
    if (avail < 12) return 12;
    let le = this.le;
    // The SHB type is a palindrome, so it reads the same in either byte order.
    if (buf.readUInt32LE(pos) === PCAPNG_SHB) {
      const bom = buf.readUInt32LE(pos + 8);
      const order = pcapngByteOrder(bom);
      if (order === null) throw this.ctx.error(fileOffset, `section header block has a bad byte-order magic 0x${bom.toString(16).padStart(8, '0')}`);
      le = order;
    }
    const len = le ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
    if (len < 12 || len % 4 !== 0 || len > MAX_RECORD) {
      const type = le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
      throw this.ctx.error(fileOffset, `${blockName(type)} block length ${len} is invalid (must be a multiple of 4, 12..${MAX_RECORD})`);
    }
    return len;
  }

  runStopped = false;

  /**
   * The fast path (RecordFormat.parseRun) for the block nearly every packet is in: an EPB of
   * the current section, whole in the buffer, well formed (length, trailer, interface, captured
   * length). Anything else — another block type, an EPB the generic path would reject or warn
   * about — ends the run there, and the generic parse() handles it as always. The EPBs taken
   * here are counted in blockCounts as parse() counts them.
   */
  parseRun(buf: Buffer, pos: number, end: number, fileOffset: number): number {
    if (!this.headerDone) return 0;
    const le = this.le;
    const ifaces = this.ifaces;
    const f = this.ctx.frame;
    const ts = this.ts;
    let p = pos;
    let taken = 0;
    while (end - p >= EPB_MIN) {
      if (rd32(buf, p, le) !== EPB) break;
      const len = rd32(buf, p + 4, le);
      if (len < EPB_MIN || (len & 3) !== 0 || len > end - p) break;
      const t = p + len - 4;
      if (rd32(buf, t, le) !== len) break;
      const iface = ifaces[rd32(buf, p + 8, le)];
      if (iface === undefined) break;
      const caplen = rd32(buf, p + 20, le);
      if (caplen > len - EPB_MIN) break;
      f.buf = buf;
      f.off = p + 28;
      f.caplen = caplen;
      f.len = rd32(buf, p + 24, le);
      f.linkType = iface.linkType;
      f.interfaceId = iface.globalId;
      f.direction = null;
      f.comment = null;
      f.fileOffset = fileOffset + (p - pos);
      const hi = rd32(buf, p + 12, le);
      const lo = rd32(buf, p + 16, le);
      if (iface.nsPerUnit !== 0) {
        if (hi !== iface.hiKey) {
          tsToSecNsec(hi, 0, iface.unit, ts);
          iface.hiKey = hi;
          iface.hiSec = ts.sec;
          iface.hiNs = ts.nsec;
        }
        // hiNs < 1e9 and lo·nsPerUnit < 2^32·1e6: exact integers, the same split as
        // tsToSecNsec of the whole 64-bit value.
        const ns = iface.hiNs + lo * iface.nsPerUnit;
        const carry = Math.floor(ns / 1e9);
        f.tsSec = iface.hiSec + carry + iface.tsOffsetSec;
        f.tsNsec = ns - carry * 1e9;
      } else {
        tsToSecNsec(hi, lo, iface.unit, ts);
        f.tsSec = ts.sec + iface.tsOffsetSec;
        f.tsNsec = ts.nsec;
      }
      const optStart = p + 28 + ((caplen + 3) & ~3);
      if (optStart < t) this.packetOptions(buf, optStart, t, fileOffset + (p - pos), 'EPB');
      p += len;
      taken++;
      if (!this.ctx.deliver()) {
        this.runStopped = true;
        break;
      }
    }
    if (taken > 0) {
      const counts = this.ctx.summary.blockCounts;
      counts.EPB = (counts.EPB ?? 0) + taken;
    }
    return p - pos;
  }

  parse(buf: Buffer, pos: number, len: number, fileOffset: number): boolean {
    const isShb = buf.readUInt32LE(pos) === PCAPNG_SHB;
    if (isShb) this.le = buf.readUInt32LE(pos + 8) === BOM;
    const type = isShb ? PCAPNG_SHB : this.u32(buf, pos);
    const name = blockName(type);
    const trailer = this.u32(buf, pos + len - 4);
    if (trailer !== len) {
      throw this.ctx.error(fileOffset, `${name} block length ${len} does not match its trailing length ${trailer}`);
    }
    const min = PCAPNG_MIN_SIZE.get(type);
    if (min !== undefined && len < min) throw this.ctx.error(fileOffset, `${name} block length ${len} is below its minimum ${min}`);
    const counts = this.ctx.summary.blockCounts;
    counts[name] = (counts[name] ?? 0) + 1;
    switch (type) {
      case PCAPNG_SHB:
        this.parseShb(buf, pos, fileOffset);
        return true;
      case PCAPNG_IDB:
        this.parseIdb(buf, pos, len, fileOffset);
        return true;
      case EPB:
        return this.parsePacketBlock(buf, pos, len, fileOffset, 'EPB');
      case PCAPNG_SPB:
        return this.parseSpb(buf, pos, len, fileOffset);
      case PCAPNG_ISB:
        this.parseIsb(buf, pos, len, fileOffset);
        return true;
      case PCAPNG_PB:
        return this.parsePacketBlock(buf, pos, len, fileOffset, 'PB');
      default:
        return true;
    }
  }

  private parseShb(buf: Buffer, pos: number, fileOffset: number): void {
    const major = this.u16(buf, pos + 12);
    const minor = this.u16(buf, pos + 14);
    if (major !== 1) throw this.ctx.error(fileOffset, `unsupported pcapng version ${major}.${minor}`);
    this.section++;
    this.ifaces = [];
    this.headerDone = true;
    const s = this.ctx.summary;
    s.format = 'pcapng';
    s.sections = this.section + 1;
  }

  private parseIdb(buf: Buffer, pos: number, len: number, fileOffset: number): void {
    const linkType = this.u16(buf, pos + 8);
    const snaplen = this.u32(buf, pos + 12);
    let name: string | null = null;
    const unit: TsUnit = { binary: false, exp: 6 };
    let tsOffsetSec = 0;
    this.eachOption(buf, pos + 16, pos + len - 4, fileOffset, 'IDB', (code, v, olen) => {
      if (code === IF_NAME && name === null) name = buf.toString('utf8', v, v + olen).replace(/\0+$/, '');
      else if (code === IF_TSRESOL && olen >= 1) {
        const r = buf[v]!;
        unit.binary = (r & 0x80) !== 0;
        unit.exp = r & 0x7f;
      } else if (code === IF_TSOFFSET && olen >= 8) {
        // Signed 64-bit seconds; exact for any offset below 2^53.
        tsOffsetSec = this.i64(buf, v);
      }
    });
    const interfaces = this.ctx.summary.interfaces;
    // From ms to ns units: lo·nsPerUnit stays below 2^53 (coarser units take the general path).
    const nsPerUnit = !unit.binary && unit.exp >= 3 && unit.exp <= 9 ? 10 ** (9 - unit.exp) : 0;
    this.ifaces.push({ globalId: interfaces.length, linkType, snaplen, unit, tsOffsetSec, nsPerUnit, hiKey: -1, hiSec: 0, hiNs: 0 });
    interfaces.push({ linkType, snaplen, name, tsResolution: tsUnitText(unit), tsOffsetSec, section: this.section });
  }

  /**
   * Interface Statistics Block: the drop counters (dumpcap writes one per interface at the end;
   * counters are cumulative, so the last block of an interface holds the totals).
   */
  private parseIsb(buf: Buffer, pos: number, len: number, fileOffset: number): void {
    const id = this.u32(buf, pos + 8);
    const i = this.ifaces[id];
    if (i === undefined) {
      this.ctx.warn(fileOffset, 'capture.malformed', `ISB refers to interface ${id} but section ${this.section} has ${this.ifaces.length} interface(s)`);
      return;
    }
    const info = this.ctx.summary.interfaces[i.globalId]!;
    this.eachOption(buf, pos + 20, pos + len - 4, fileOffset, 'ISB', (code, v, olen) => {
      if (olen < 8) return;
      if (code === ISB_IFDROP) info.ifDrop = this.u64(buf, v);
      else if (code === ISB_OSDROP) info.osDrop = this.u64(buf, v);
    });
  }

  /** Calls `each` for every option of an IDB or ISB in [p, end), until opt_endofopt; an
   *  option that overruns its block is warned about and ends the walk. */
  private eachOption(buf: Buffer, p: number, end: number, fileOffset: number, what: string, each: (code: number, v: number, olen: number) => void): void {
    while (p + 4 <= end) {
      const code = this.u16(buf, p);
      const olen = this.u16(buf, p + 2);
      const v = p + 4;
      if (code === OPT_ENDOFOPT) return;
      if (v + olen > end) {
        this.ctx.warn(fileOffset, 'capture.malformed', `${what} option ${code} overruns its block`);
        return;
      }
      each(code, v, olen);
      p = v + ((olen + 3) & ~3);
    }
  }

  /** 64-bit option values in the section's byte order, exact below 2^53. */
  private u64(buf: Buffer, v: number): number {
    const hi = this.le ? buf.readUInt32LE(v + 4) : buf.readUInt32BE(v);
    return hi * 4294967296 + (this.le ? buf.readUInt32LE(v) : buf.readUInt32BE(v + 4));
  }

  private i64(buf: Buffer, v: number): number {
    const hi = this.le ? buf.readInt32LE(v + 4) : buf.readInt32BE(v);
    return hi * 4294967296 + (this.le ? buf.readUInt32LE(v) : buf.readUInt32BE(v + 4));
  }

  private iface(id: number, fileOffset: number, what: string): Iface {
    const i = this.ifaces[id];
    if (i === undefined) {
      throw this.ctx.error(fileOffset, `${what} refers to interface ${id} but section ${this.section} has ${this.ifaces.length} interface(s)`);
    }
    return i;
  }

  private fillCommon(buf: Buffer, dataOff: number, caplen: number, origLen: number, iface: Iface, fileOffset: number): void {
    const f = this.ctx.frame;
    f.buf = buf;
    f.off = dataOff;
    f.caplen = caplen;
    f.len = origLen;
    f.linkType = iface.linkType;
    f.interfaceId = iface.globalId;
    f.direction = null;
    f.comment = null;
    f.fileOffset = fileOffset;
  }

  private setTime(hi: number, lo: number, iface: Iface): void {
    tsToSecNsec(hi, lo, iface.unit, this.ts);
    this.ctx.frame.tsSec = this.ts.sec + iface.tsOffsetSec;
    this.ctx.frame.tsNsec = this.ts.nsec;
  }

  /** EPB and PB options: first opt_comment and the direction bits of the flags word. */
  private packetOptions(buf: Buffer, p: number, end: number, fileOffset: number, what: string): void {
    const f = this.ctx.frame;
    while (p + 4 <= end) {
      const code = this.u16(buf, p);
      const olen = this.u16(buf, p + 2);
      const v = p + 4;
      if (code === OPT_ENDOFOPT) break;
      if (v + olen > end) {
        this.ctx.warn(fileOffset, 'capture.malformed', `${what} option ${code} overruns its block`);
        return;
      }
      if (code === OPT_COMMENT && f.comment === null) f.comment = buf.toString('utf8', v, v + olen);
      else if (code === OPT_PACKET_FLAGS && olen >= 4) {
        const dir = this.u32(buf, v) & 3;
        f.direction = dir === 1 ? 'in' : dir === 2 ? 'out' : null;
      }
      p = v + ((olen + 3) & ~3);
    }
  }

  /** EPB and the obsolete PB share their layout but for the interface id (32 vs 16 bits; PB
   *  spends the other 16 on a drops count). */
  private parsePacketBlock(buf: Buffer, pos: number, len: number, fileOffset: number, kind: 'EPB' | 'PB'): boolean {
    const iface = this.iface(kind === 'EPB' ? this.u32(buf, pos + 8) : this.u16(buf, pos + 8), fileOffset, kind);
    const caplen = this.u32(buf, pos + 20);
    const room = len - 32;
    if (caplen > room) throw this.ctx.error(fileOffset, `${kind} captured length ${caplen} exceeds the ${room} bytes its block holds`);
    this.fillCommon(buf, pos + 28, caplen, this.u32(buf, pos + 24), iface, fileOffset);
    this.setTime(this.u32(buf, pos + 12), this.u32(buf, pos + 16), iface);
    this.packetOptions(buf, pos + 28 + ((caplen + 3) & ~3), pos + len - 4, fileOffset, kind);
    return this.ctx.deliver();
  }

  private parseSpb(buf: Buffer, pos: number, len: number, fileOffset: number): boolean {
    // An SPB always belongs to the section's first interface and has no timestamp.
    const iface = this.iface(0, fileOffset, 'SPB');
    const origLen = this.u32(buf, pos + 8);
    let caplen = Math.min(origLen, len - 16);
    if (iface.snaplen !== 0) caplen = Math.min(caplen, iface.snaplen);
    this.fillCommon(buf, pos + 12, caplen, origLen, iface, fileOffset);
    this.ctx.frame.tsSec = 0;
    this.ctx.frame.tsNsec = 0;
    return this.ctx.deliver();
  }
}

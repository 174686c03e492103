/**
 * A deliberately tiny capture reader for the decoder tests: classic pcap (both byte orders,
 * µs/ns magic) and pcapng (SHB, IDB, EPB, SPB, obsolete PB). It is independent of the
 * project's reader so the decoder tests do not inherit its bugs; it stops quietly at the
 * first inconsistency (fuzzed corpus files), which is all these tests need.
 */
import type { Frame } from '../../src/decode/frame.js';

export interface LiteFrame {
  buf: Buffer;
  off: number;
  caplen: number;
  len: number;
  linkType: number;
  frame: number;
}

export function readLite(bytes: Buffer): { frames: LiteFrame[]; linkTypes: number[] } {
  if (bytes.length < 4) return { frames: [], linkTypes: [] };
  const magicBE = bytes.readUInt32BE(0);
  if (magicBE === 0x0a0d0d0a) return readPcapng(bytes);
  return readPcap(bytes);
}

function readPcap(b: Buffer): { frames: LiteFrame[]; linkTypes: number[] } {
  const frames: LiteFrame[] = [];
  if (b.length < 24) return { frames, linkTypes: [] };
  const m = b.readUInt32LE(0);
  let le: boolean;
  if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) le = true;
  else if (b.readUInt32BE(0) === 0xa1b2c3d4 || b.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else return { frames, linkTypes: [] };
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  let o = 24;
  let n = 0;
  while (o + 16 <= b.length) {
    const caplen = u32(o + 8);
    const len = u32(o + 12);
    if (caplen > 262144 || o + 16 + caplen > b.length) break;
    frames.push({ buf: b, off: o + 16, caplen, len, linkType, frame: ++n });
    o += 16 + caplen;
  }
  return { frames, linkTypes: [linkType] };
}

function readPcapng(b: Buffer): { frames: LiteFrame[]; linkTypes: number[] } {
  const frames: LiteFrame[] = [];
  let linkTypes: number[] = [];
  const all: number[] = [];
  let le = true;
  let o = 0;
  let n = 0;
  while (o + 12 <= b.length) {
    const typeBE = b.readUInt32BE(o);
    if (typeBE === 0x0a0d0d0a) {
      const bom = b.readUInt32LE(o + 8);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else break;
      linkTypes = [];
    }
    const u32 = (x: number): number => (le ? b.readUInt32LE(x) : b.readUInt32BE(x));
    const u16 = (x: number): number => (le ? b.readUInt16LE(x) : b.readUInt16BE(x));
    const type = u32(o);
    const blen = u32(o + 4);
    if (blen < 12 || blen % 4 !== 0 || o + blen > b.length) break;
    if (type === 1 && blen >= 20) {
      linkTypes.push(u16(o + 8));
      all.push(u16(o + 8));
    } else if (type === 6 && blen >= 32) {
      const ifid = u32(o + 8);
      const caplen = u32(o + 20);
      const len = u32(o + 24);
      if (ifid >= linkTypes.length || 28 + caplen > blen) break;
      frames.push({ buf: b, off: o + 28, caplen, len, linkType: linkTypes[ifid]!, frame: ++n });
    } else if (type === 3 && blen >= 16) {
      const len = u32(o + 8);
      const caplen = Math.min(len, blen - 16);
      if (linkTypes.length === 0) break;
      frames.push({ buf: b, off: o + 12, caplen, len, linkType: linkTypes[0]!, frame: ++n });
    } else if (type === 2 && blen >= 32) {
      const ifid = u16(o + 8);
      const caplen = u32(o + 20);
      const len = u32(o + 24);
      if (ifid >= linkTypes.length || 28 + caplen > blen) break;
      frames.push({ buf: b, off: o + 28, caplen, len, linkType: linkTypes[ifid]!, frame: ++n });
    }
    o += blen;
  }
  return { frames, linkTypes: all };
}

/** Wraps a LiteFrame as the project's Frame type. */
export function toFrame(f: LiteFrame, capture = 'test'): Frame {
  return {
    capture,
    frame: f.frame,
    buf: f.buf,
    off: f.off,
    caplen: f.caplen,
    len: f.len,
    tsSec: 0,
    tsNsec: 0,
    linkType: f.linkType,
    interfaceId: 0,
    direction: null,
    comment: null,
    fileOffset: 0,
  };
}

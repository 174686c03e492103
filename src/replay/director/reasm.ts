/**
 * IPv4 reassembly: IPVS runs at LOCAL_IN, after the kernel's defragmentation, so a director
 * schedules and forwards the whole datagram (§1.6 mentions ip_vs_gather_frags for ICMP; plain
 * TCP/UDP fragments are reassembled by ip_local_deliver before the hook). Entries older than
 * 30 s (ipfrag_time) are dropped.
 */
import { recomputeIpv4Checksum } from '../builder/index.js';

interface Piece {
  off: number;
  data: Buffer;
}
interface Entry {
  pieces: Piece[];
  first: Buffer | null;
  totalLen: number;
  startMs: number;
}

export const FRAG_TIMEOUT_MS = 30_000;

export class Reassembler {
  private readonly pending = new Map<string, Entry>();

  get size(): number {
    return this.pending.size;
  }

  /** Takes one fragment (IP packet at offset 0); returns the whole datagram once complete, else null. */
  push(ip: Buffer, nowMs: number): Buffer | null {
    for (const [k, e] of this.pending) if (nowMs - e.startMs > FRAG_TIMEOUT_MS) this.pending.delete(k);
    const ihl = (ip[0]! & 15) * 4;
    const tot = Math.min(ip.readUInt16BE(2), ip.length);
    const fw = ip.readUInt16BE(6);
    const off = (fw & 0x1fff) * 8;
    const mf = (fw & 0x2000) !== 0;
    const key = `${ip.readUInt32BE(12)}:${ip.readUInt32BE(16)}:${ip.readUInt16BE(4)}:${ip[9]}`;
    let e = this.pending.get(key);
    if (!e) {
      e = { pieces: [], first: null, totalLen: -1, startMs: nowMs };
      this.pending.set(key, e);
    }
    const data = Buffer.from(ip.subarray(ihl, tot));
    if (!e.pieces.some((p) => p.off === off)) e.pieces.push({ off, data });
    if (off === 0) e.first = Buffer.from(ip.subarray(0, ihl));
    if (!mf) e.totalLen = off + data.length;
    if (!e.first || e.totalLen < 0) return null;
    e.pieces.sort((a, b) => a.off - b.off);
    let have = 0;
    for (const p of e.pieces) {
      if (p.off > have) return null;
      have = Math.max(have, p.off + p.data.length);
    }
    if (have < e.totalLen) return null;
    this.pending.delete(key);
    const body = Buffer.alloc(e.totalLen);
    for (const p of e.pieces) p.data.copy(body, p.off, 0, Math.min(p.data.length, e.totalLen - p.off));
    const hdr = Buffer.from(e.first);
    hdr.writeUInt16BE(hdr.length + body.length, 2);
    hdr.writeUInt16BE(hdr.readUInt16BE(6) & 0x4000, 6); // keep DF, clear MF and offset
    const out = Buffer.concat([hdr, body]);
    recomputeIpv4Checksum(out, 0);
    return out;
  }
}

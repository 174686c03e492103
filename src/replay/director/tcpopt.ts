/**
 * TCP option edits of a FullNAT director on an IP packet at offset 0 (lvs-behavior.md §2.2–2.4,
 * §3.1): timestamp → NOPs in the SYN, MSS − TOA length in the SYN-ACK, SACK edges shifted back
 * by the sequence delta, DPVS option pruning to make room for TOA. Edits that keep the segment
 * size update the checksum incrementally (bad stays bad); pruning recomputes it.
 */
import { recomputeIpv4Checksum, recomputeL4Checksum } from '../builder/index.js';
import { patchL4 } from './bytes.js';
import { tcpOptionLength, TcpOpt } from '../../decode/proto/tcp-options.js';

export interface OptRef {
  kind: number;
  off: number;
  len: number;
}

export interface TcpLoc {
  l4: number;
  hdrLen: number;
  csum: number;
}

export function tcpLoc(ip: Buffer): TcpLoc {
  const l4 = (ip[0]! & 15) * 4;
  return { l4, hdrLen: (ip[l4 + 12]! >> 4) * 4, csum: l4 + 16 };
}

/** Options in wire order (NOP included, stops at EOL or a malformed length). */
export function listOptions(ip: Buffer): OptRef[] {
  const { l4, hdrLen } = tcpLoc(ip);
  const end = Math.min(l4 + hdrLen, ip.length);
  const out: OptRef[] = [];
  for (let i = l4 + 20; i < end && ip[i] !== TcpOpt.EOL; ) {
    const len = tcpOptionLength(ip, i, end);
    if (len < 0) break;
    out.push({ kind: ip[i]!, off: i, len });
    i += len;
  }
  return out;
}

/** SYN: every timestamp option (kind 8) overwritten by NOPs (ALI `tcp_opt_remove_timestamp`, DPVS `tcp_in_remove_ts`). */
export function removeTimestamp(ip: Buffer): boolean {
  const { l4, csum } = tcpLoc(ip);
  let done = false;
  for (const o of listOptions(ip)) {
    if (o.kind !== TcpOpt.TIMESTAMP) continue;
    patchL4(ip, l4, csum, o.off, o.off + o.len, () => ip.fill(1, o.off, o.off + o.len));
    done = true;
  }
  return done;
}

/** SYN-ACK: MSS value −= `by` (§2.4 `tcp_opt_adjust_mss`). Returns the new MSS or -1. */
export function adjustMss(ip: Buffer, by: number): number {
  const { l4, csum } = tcpLoc(ip);
  for (const o of listOptions(ip)) {
    if (o.kind !== TcpOpt.MSS || o.len !== 4) continue;
    const v = Math.max(0, ip.readUInt16BE(o.off + 2) - by);
    patchL4(ip, l4, csum, o.off + 2, o.off + 4, () => ip.writeUInt16BE(v, o.off + 2));
    return v;
  }
  return -1;
}

/** RS→client: every SACK block edge −= delta (§2.4 `tcp_out_adjust_seq`). */
export function shiftSack(ip: Buffer, delta: number): number {
  const { l4, csum } = tcpLoc(ip);
  let n = 0;
  for (const o of listOptions(ip)) {
    if (o.kind !== TcpOpt.SACK) continue;
    for (let p = o.off + 2; p + 8 <= o.off + o.len; p += 8) {
      patchL4(ip, l4, csum, p, p + 8, () => {
        ip.writeUInt32BE((ip.readUInt32BE(p) - delta) >>> 0, p);
        ip.writeUInt32BE((ip.readUInt32BE(p + 4) - delta) >>> 0, p + 4);
      });
      n++;
    }
  }
  return n;
}

/** seq (byte 4) or ack (byte 8) += add, mod 2^32, checksum incremental. */
export function addToSeqField(ip: Buffer, field: 4 | 8, add: number): void {
  const { l4, csum } = tcpLoc(ip);
  const at = l4 + field;
  patchL4(ip, l4, csum, at, at + 4, () => ip.writeUInt32BE((ip.readUInt32BE(at) + add) >>> 0, at));
}

/** Option space still free (40 − options). */
export function optionRoom(ip: Buffer): number {
  return 60 - tcpLoc(ip).hdrLen;
}

/**
 * DPVS `tcp_in_prune_options` (§3.1): drop NOPs and existing kind-254 options, then, if `need`
 * bytes still do not fit, every option the packet type does not protect (SYN: MSS, WS, SACKP, TS,
 * MPTCP 30, TFO 34; otherwise only TS), pad to 4 bytes with EOL. Returns a new packet (checksums
 * recomputed) or null when nothing could be gained.
 */
export function pruneOptions(ip: Buffer, need: number): Buffer | null {
  const { l4, hdrLen } = tcpLoc(ip);
  const isSyn = (ip[l4 + 13]! & 0x02) !== 0;
  const protectedKinds = isSyn ? new Set([2, 3, 4, 8, 30, 34]) : new Set([8]);
  const opts = listOptions(ip);
  let keep = opts.filter((o) => o.kind !== 1 && o.kind !== 254);
  const size = (l: OptRef[]): number => Math.ceil(l.reduce((s, o) => s + o.len, 0) / 4) * 4;
  if (40 - size(keep) < need) keep = keep.filter((o) => protectedKinds.has(o.kind));
  const newLen = size(keep);
  if (newLen >= hdrLen - 20) return null;
  const optBytes = Buffer.alloc(newLen);
  let at = 0;
  for (const o of keep) {
    ip.copy(optBytes, at, o.off, o.off + o.len);
    at += o.len;
  }
  const tot = ip.readUInt16BE(2);
  const out = Buffer.concat([ip.subarray(0, l4 + 20), optBytes, ip.subarray(l4 + hdrLen, tot)]);
  out[l4 + 12] = (((20 + newLen) / 4) << 4) | (out[l4 + 12]! & 0x0f);
  out.writeUInt16BE(out.length, 2);
  recomputeIpv4Checksum(out, 0);
  recomputeL4Checksum(out, 0);
  return out;
}

export function setL4Checksum(ip: Buffer): void {
  recomputeL4Checksum(ip, 0, { keepZeroUdp: false });
}

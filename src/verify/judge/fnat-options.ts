/**
 * TCP options as the FullNAT rules need them, read from a record's raw option bytes
 * (PacketRecord.tcpOpts). The decoder's own TOA view accepts only the decode-time kinds; the
 * rules must also see a *wrong* TOA (kind 200 under the alibaba profile, a length the RS module
 * rejects), so they walk the option bytes again, with the decoder's own step (tcpOptionLength).
 * Only called per FullNAT connection at finalisation, never on the read path.
 */
import { isKnownExperiment, OPT_NO_LENGTH, tcpOptionLength, TcpOpt } from '../../decode/proto/tcp-options.js';
import { ipv4ToString, ipv6ToString } from '../../decode/addr.js';
import type { PacketRecord } from '../model/record.js';
import type { Profile } from '../correlate/context.js';

export interface TcpOption {
  kind: number;
  /** Offset inside the option bytes. */
  off: number;
  len: number;
  /** The length byte is below 2 or runs past the option space: walking stopped here. */
  broken?: boolean;
}

/** Options in wire order; NOP is one byte; walking stops at EOL or after a broken length
 *  (listed with `broken`, so that a malformed TOA is still seen as one). */
export function listOptions(b: Uint8Array | null): TcpOption[] {
  const out: TcpOption[] = [];
  if (!b) return out;
  for (let i = 0; i < b.length && b[i] !== TcpOpt.EOL; ) {
    const len = tcpOptionLength(b, i, b.length);
    if (len < 0) {
      out.push({ kind: b[i]!, off: i, len: len === OPT_NO_LENGTH ? 0 : b[i + 1]!, broken: true });
      break;
    }
    out.push({ kind: b[i]!, off: i, len });
    i += len;
  }
  return out;
}

/** The first well-formed MSS option's value, or -1. */
export function optionMss(b: Uint8Array | null): number {
  if (!b) return -1;
  for (let i = 0; i < b.length && b[i] !== TcpOpt.EOL; ) {
    const len = tcpOptionLength(b, i, b.length);
    if (len < 0) break;
    if (b[i] === TcpOpt.MSS && len === 4) return (b[i + 2]! << 8) | b[i + 3]!;
    i += len;
  }
  return -1;
}

export function hasTimestamp(b: Uint8Array | null): boolean {
  return listOptions(b).some((o) => o.kind === TcpOpt.TIMESTAMP);
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** SACK block edges in wire order (left, right, left, right …). */
export function sackEdges(b: Uint8Array | null): number[] {
  const out: number[] = [];
  for (const o of listOptions(b)) {
    if (o.kind !== TcpOpt.SACK || o.broken) continue;
    for (let p = o.off + 2; p + 8 <= o.off + o.len; p += 8) out.push(u32(b!, p), u32(b!, p + 4));
  }
  return out;
}

/** Bytes the options occupy, padded to the 4-byte boundary the data offset counts in. */
export const optionSpace = (b: Uint8Array | null): number => (b ? (b.length + 3) & ~3 : 0);

export interface Toa {
  kind: number;
  len: number;
  /** Position among the options (0 = first after the base header). */
  index: number;
  port: number;
  /** Carried address as text ('' when the length fits no address family). */
  addr: string;
  family: 4 | 6 | 0;
}

/** TOA kinds and lengths a profile's RS module reads, per client family (lvs-behavior.md §2.3, §3.1, §7 R11). */
export function profileToaKinds(profile: Profile, clientFamily: 4 | 6, override?: readonly number[]): Set<number> {
  if (override && override.length > 0) return new Set(override);
  if (profile === 'alibaba') return new Set(clientFamily === 4 ? [254] : [253]);
  return new Set([254]);
}

/** Every kind that some director uses for TOA (Alibaba/DPVS 254/253, JD Jupiter 200/201). */
export const KNOWN_TOA_KINDS: ReadonlySet<number> = new Set([254, 253, 200, 201]);

/** Kinds a client's own stack sends: never TOA, whatever their length. */
const STANDARD_KINDS: ReadonlySet<number> = new Set([0, 1, 2, 3, 4, 5, 8, 19, 29, 30, 34]);

function toaAt(b: Uint8Array, o: TcpOption, index: number): Toa {
  const port = o.len >= 4 && o.off + 4 <= b.length ? (b[o.off + 2]! << 8) | b[o.off + 3]! : 0;
  let addr = '';
  let family: 4 | 6 | 0 = 0;
  if (o.broken) {
    // A malformed length: no address to read.
  } else if (o.len === 8) {
    addr = ipv4ToString(u32(b, o.off + 4));
    family = 4;
  } else if (o.len === 20) {
    addr = ipv6ToString(b, o.off + 4);
    family = 6;
  }
  return { kind: o.kind, len: o.len, index, port, addr, family };
}

/**
 * The TOA of a director-side copy. `clientOpts` (the same packet as the client sent it) tells
 * which option the director inserted: an inserted option of any non-standard kind is the TOA,
 * even of a kind or length the profile does not accept (reported as fnat.toa-format, not as a
 * missing TOA). Without the client copy, the first option of a known TOA kind (8 or 20 bytes)
 * that is not a known RFC 6994 experiment is taken.
 */
export function findToa(r: PacketRecord, clientOpts: Uint8Array | null | undefined, kinds: ReadonlySet<number>): Toa | null {
  const b = r.tcpOpts;
  if (!b) return null;
  const opts = listOptions(b);
  const isSynFlag = r.flags & 0x02;
  if (clientOpts !== undefined) {
    const before = new Map<string, number>();
    for (const o of listOptions(clientOpts)) {
      const k = Buffer.from(clientOpts!.subarray(o.off, o.off + o.len)).toString('hex');
      before.set(k, (before.get(k) ?? 0) + 1);
    }
    for (let i = 0; i < opts.length; i++) {
      const o = opts[i]!;
      if (STANDARD_KINDS.has(o.kind) && !o.broken) continue;
      const k = Buffer.from(b.subarray(o.off, o.off + o.len)).toString('hex');
      const n = before.get(k) ?? 0;
      if (n > 0) {
        before.set(k, n - 1);
        continue;
      }
      if ((o.kind === 253 || o.kind === 254) && isSynFlag && isKnownExperiment(b, o.off, o.len, r.flags)) continue;
      return toaAt(b, o, i);
    }
    return null;
  }
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i]!;
    if (!(kinds.has(o.kind) || KNOWN_TOA_KINDS.has(o.kind))) continue;
    // A malformed TOA-kind option is reported as a TOA of the wrong length (fnat.toa-format).
    if (o.broken) return toaAt(b, o, i);
    if (o.len !== 8 && o.len !== 20) continue;
    if ((o.kind === 253 || o.kind === 254) && isKnownExperiment(b, o.off, o.len, r.flags)) continue;
    return toaAt(b, o, i);
  }
  return null;
}

/** "toa 198.51.100.7:46731" (IPv6 in brackets), the form `lvsaudit decode` prints. */
export function toaText(t: Toa): string {
  const host = t.family === 6 ? `[${t.addr}]` : t.addr || '?';
  return `toa ${host}:${t.port}${t.kind === 254 ? '' : ` (kind ${t.kind})`}`;
}

/** Options of `b` other than `skip` (by position), as hex strings, for comparing what a director removed. */
export function optionBytesList(b: Uint8Array | null, skipIndex = -1): string[] {
  const out: string[] = [];
  listOptions(b).forEach((o, i) => {
    if (i !== skipIndex) out.push(Buffer.from(b!.subarray(o.off, o.off + o.len)).toString('hex'));
  });
  return out;
}

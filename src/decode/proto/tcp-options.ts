/**
 * TCP options into TcpView.optKind/optOff/optLen (wire order, NOP and EOL included) plus
 * parsed values for MSS, window scale, SACK, timestamps and TOA.
 *
 * TOA (lvs-behavior.md §2.3, §3.1, §3.4): an option whose kind is in opts.toaKinds with
 * length 8 (port + IPv4) or 20 (port + IPv6). Kinds 253/254 are also the RFC 4727
 * experimental kinds whose RFC 6994 form starts with a 16-bit ExID, so such an option is
 * read as an experiment, not TOA, when its ExID and shape fit a known experiment:
 *  - 0xF989 TCP Fast Open (RFC 7413 §4.1.1): carried only on SYN / SYN-ACK, length 4
 *    (cookie request) or 8..20 with an even cookie. So a SYN with kind 254 len 8 or 20
 *    and ExID F989 is TFO; the same bytes on a non-SYN segment are TOA from client port 63881.
 *  - 0xACC0 / 0xACC1 AccECN (draft-ietf-tcpm-accurate-ecn, experimental form): ExID plus
 *    0..3 24-bit counters, i.e. length 4, 7, 10 or 13 — never 8 or 20, so it cannot be
 *    confused with TOA; it is recognised only to keep it out of TOA at any other length.
 *  - 0xE2D4 (first half of SMC-R's 32-bit ExID 0xE2D4C3D9, RFC 7609): length 6, same reason.
 * The first TOA found wins (the RS kernel modules stop at the first one, §3.4).
 */
import { MAX_SACK_BLOCKS, MAX_TCP_OPTIONS, TcpFlag, type TcpView } from '../packet.js';
import type { DecodeCtx } from './context.js';

export const TcpOpt = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WSCALE: 3,
  SACK_PERM: 4,
  SACK: 5,
  TIMESTAMP: 8,
  MD5: 19,
  AO: 29,
  MPTCP: 30,
  TFO: 34,
  EXP1: 253,
  EXP2: 254,
} as const;

export const ExId = { TFO: 0xf989, ACCECN0: 0xacc0, ACCECN1: 0xacc1, SMCR_HI: 0xe2d4 } as const;

/** True when the option at `o` (kind 253/254, length `len` ≥ 4) is a known RFC 6994 experiment. */
export function isKnownExperiment(buf: Uint8Array, o: number, len: number, flags: number): boolean {
  if (len < 4) return false;
  const exid = (buf[o + 2]! << 8) | buf[o + 3]!;
  if (exid === ExId.TFO) return (flags & TcpFlag.SYN) !== 0 && (len === 4 || (len >= 8 && len <= 20 && (len & 1) === 0));
  if (exid === ExId.ACCECN0 || exid === ExId.ACCECN1) return (len - 4) % 3 === 0 && len <= 13;
  if (exid === ExId.SMCR_HI) return len === 6 && buf[o + 4] === 0xc3 && buf[o + 5] === 0xd9;
  return false;
}

/** tcpOptionLength's answers when the option at `i` cannot be stepped over. */
export const OPT_NO_LENGTH = -1; // the length byte is not before `end`
export const OPT_BAD_LENGTH = -2; // the length byte is below 2 (it counts kind and itself)
export const OPT_OVERRUN = -3; // the option runs past `end`

/**
 * The one walk over TCP option bytes (RFC 9293 §3.1): the size of the option that starts at
 * `i`, reading nothing at or past `end` — 1 for EOL and NOP, else its length byte — or one of
 * the negative OPT_ answers above. What EOL means (the rest is padding) and what to do with
 * a broken option is each caller's: the decoder reports it, the FullNAT rules keep it as a
 * malformed TOA, the reference director stops. A plain function of numbers, so the decoder's
 * loop pays no allocation for sharing it.
 */
export function tcpOptionLength(buf: Uint8Array, i: number, end: number): number {
  if (buf[i]! <= TcpOpt.NOP) return 1;
  if (i + 2 > end) return OPT_NO_LENGTH;
  const len = buf[i + 1]!;
  if (len < 2) return OPT_BAD_LENGTH;
  return i + len > end ? OPT_OVERRUN : len;
}

/** Walks options in [start, hdrEnd); bytes past `end` (capture end) were not captured. */
export function decodeTcpOptions(ctx: DecodeCtx, t: TcpView, start: number, hdrEnd: number, end: number, mode: number): void {
  const { buf } = ctx;
  const limit = hdrEnd < end ? hdrEnd : end;
  let i = start;
  while (i < limit) {
    if (t.optCount >= MAX_TCP_OPTIONS) return;
    const len = tcpOptionLength(buf, i, limit);
    if (len < 0) {
      brokenOption(ctx, i, len, hdrEnd, mode);
      return;
    }
    const kind = buf[i]!;
    const n = t.optCount++;
    t.optKind[n] = kind;
    t.optOff[n] = i;
    t.optLen[n] = len;
    if (kind === TcpOpt.EOL) return; // the rest of the option space is padding
    if (kind !== TcpOpt.NOP) parseOption(ctx, t, kind, i, len, n);
    i += len;
  }
}

/** An option the walk stopped at, within the capture: malformed when it breaks the TCP header
 *  itself, truncated when only the capture ends inside it. */
function brokenOption(ctx: DecodeCtx, i: number, why: number, hdrEnd: number, mode: number): void {
  if (why === OPT_BAD_LENGTH) ctx.malformed('tcp-options', i, 'option length below 2');
  else if (why === OPT_NO_LENGTH && i + 2 > hdrEnd) ctx.malformed('tcp-options', i, 'option length byte beyond TCP header');
  else if (why === OPT_OVERRUN && i + ctx.buf[i + 1]! > hdrEnd) ctx.malformed('tcp-options', i, 'option runs past the TCP header');
  else ctx.truncate('tcp-options', mode);
}

function parseOption(ctx: DecodeCtx, t: TcpView, kind: number, o: number, len: number, index: number): void {
  const buf = ctx.buf;
  switch (kind) {
    case TcpOpt.MSS:
      if (len === 4) t.mss = (buf[o + 2]! << 8) | buf[o + 3]!;
      else ctx.malformed('tcp-options', o, 'MSS option length is not 4');
      break;
    case TcpOpt.WSCALE:
      if (len === 3) t.wscale = buf[o + 2]!;
      else ctx.malformed('tcp-options', o, 'window scale option length is not 3');
      break;
    case TcpOpt.SACK_PERM:
      if (len === 2) t.sackPermitted = true;
      else ctx.malformed('tcp-options', o, 'SACK-permitted option length is not 2');
      break;
    case TcpOpt.SACK:
      if ((len - 2) % 8 === 0 && len > 2) {
        let b = 0;
        for (let p = o + 2; p + 8 <= o + len && b < MAX_SACK_BLOCKS; p += 8, b++) {
          t.sackLeft[b] = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
          t.sackRight[b] = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
        }
        t.sackCount = b;
      } else {
        ctx.malformed('tcp-options', o, 'SACK option length is not 2 + 8n');
      }
      break;
    case TcpOpt.TIMESTAMP:
      if (len === 10) {
        t.tsPresent = true;
        t.tsVal = ((buf[o + 2]! << 24) | (buf[o + 3]! << 16) | (buf[o + 4]! << 8) | buf[o + 5]!) >>> 0;
        t.tsEcr = ((buf[o + 6]! << 24) | (buf[o + 7]! << 16) | (buf[o + 8]! << 8) | buf[o + 9]!) >>> 0;
      } else {
        ctx.malformed('tcp-options', o, 'timestamp option length is not 10');
      }
      break;
    case TcpOpt.MD5:
      if (len !== 18) ctx.malformed('tcp-options', o, 'MD5 signature option length is not 18');
      break;
    default:
      break;
  }
  if (ctx.toaKind[kind] === 1 && t.toaKind === 0 && (len === 8 || len === 20)) {
    if ((kind === TcpOpt.EXP1 || kind === TcpOpt.EXP2) && isKnownExperiment(buf, o, len, t.flags)) return;
    t.toaKind = kind;
    t.toaLen = len;
    t.toaIndex = index;
    t.toaPort = (buf[o + 2]! << 8) | buf[o + 3]!;
    t.toaAddrOff = o + 4;
    if (len === 8) {
      t.toaFamily = 4;
      t.toaAddr4 = ((buf[o + 4]! << 24) | (buf[o + 5]! << 16) | (buf[o + 6]! << 8) | buf[o + 7]!) >>> 0;
    } else {
      t.toaFamily = 6;
      t.toaAddr4 = 0;
    }
  }
}

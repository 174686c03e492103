/**
 * DPVS's UDP Option of Address (UOA, lvs-behavior.md §3.3; DPVS `include/uoa.h`,
 * `src/ipvs/ip_vs_proto_udp.c`): the original client address and port a FullNAT director
 * writes into the first datagrams of a UDP connection, in one of two carriers:
 *  - `ipo`: an IPv4 option {code 31, len 8, port(2), addr(4)} in the IP header (ihl += 2);
 *  - `opp`: IP protocol 248 (IPv6 next header 248), a 4-byte shim {version:4 (1 IPv4 address,
 *    2 IPv6), reserved:4, protocol (17), length(2) = 4 + options} whose options are IP options
 *    holding the same UOA option (len 8, or 20 for an IPv6 address), then the UDP header.
 * Port and address are in network order. The option is found in the IPv4 options walk here,
 * and the shim is decoded as a layer that hands its payload on to the protocol it names, so
 * the packet's transport is the UDP inside (flows and filters see UDP).
 * The RS-side module reads the first option of code 31 (`uoa_parse_ipopt`), so the first wins.
 */
import { IpProto, UoaMode, type NetLayers, type UoaView } from '../packet.js';
import type { DecodeCtx } from './context.js';
import { decodeUdp } from './udp.js';

/** `IPOPT_UOA` (31 | IPOPT_CONTROL, which is 0): an option number IANA has not assigned. */
export const IPOPT_UOA = 31;
/** `IPOLEN_UOA_IPV4` / `IPOLEN_UOA_IPV6`: code, length, port and the address. */
export const UOA_LEN_V4 = 8;
export const UOA_LEN_V6 = 20;
/** `OPPHDR_IPV4` / `OPPHDR_IPV6`: the shim's version nibble, the family of the address it carries. */
export const OPP_VERSION_V4 = 1;
export const OPP_VERSION_V6 = 2;
/** Size of the shim's fixed header (`struct opphdr`). */
export const OPP_HDR_LEN = 4;

const IPOPT_EOL = 0;
const IPOPT_NOP = 1;

/**
 * Walks IP-option bytes in [start, stop) (RFC 791 §3.1: EOL ends the list, NOP is one byte,
 * every other option is type, length, data) and fills `u` from the first UOA option. Returns
 * false, with the packet marked malformed at the option, when an option's length is below 2
 * or runs past `stop`; `layer` names where the options live.
 */
export function walkUoaOptions(ctx: DecodeCtx, u: UoaView, start: number, stop: number, layer: 'ipv4-options' | 'uoa'): boolean {
  const buf = ctx.buf;
  let i = start;
  while (i < stop) {
    const type = buf[i]!;
    if (type === IPOPT_EOL) return true;
    if (type === IPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 2 > stop) {
      ctx.malformed(layer, i, 'option length byte beyond the options');
      return false;
    }
    const len = buf[i + 1]!;
    if (len < 2) {
      ctx.malformed(layer, i, 'option length below 2');
      return false;
    }
    if (i + len > stop) {
      ctx.malformed(layer, i, 'option runs past the options');
      return false;
    }
    if (type === IPOPT_UOA && u.optOff < 0) readUoaOption(ctx, u, i, len);
    i += len;
  }
  return true;
}

/** The UOA option at `o` (its length byte `len` already checked to fit). */
function readUoaOption(ctx: DecodeCtx, u: UoaView, o: number, len: number): void {
  const buf = ctx.buf;
  u.optOff = o;
  u.code = buf[o]!;
  u.len = len;
  if (len < 4) {
    u.port = 0;
    u.family = 0;
    ctx.malformed('uoa', o, 'UOA option shorter than its port');
    return;
  }
  u.port = (buf[o + 2]! << 8) | buf[o + 3]!;
  u.addrOff = o + 4;
  if (len === UOA_LEN_V4) {
    u.family = 4;
    u.addr4 = ((buf[o + 4]! << 24) | (buf[o + 5]! << 16) | (buf[o + 6]! << 8) | buf[o + 7]!) >>> 0;
  } else if (len === UOA_LEN_V6) {
    u.family = 6;
    u.addr4 = 0;
  } else {
    // The RS module rejects any other length (`uoa_so_get_lookup`: neither IPv4 nor IPv6).
    u.family = 0;
    ctx.malformed('uoa', o, 'UOA option length is not 8 or 20');
  }
}

/** IPv4 options of the header at `ipOff` (`optEnd` = its end, within the capture): a UOA there
 *  is the `ipo` carrier. */
export function decodeIpv4Options(ctx: DecodeCtx, L: NetLayers, ipOff: number, optEnd: number): void {
  const u = L.uoa;
  walkUoaOptions(ctx, u, ipOff + 20, optEnd, 'ipv4-options');
  if (u.optOff >= 0) u.mode = UoaMode.IPO;
}

/**
 * The `opp` shim at `off` (IP protocol 248), then the UDP it names at off + length: the layer
 * the packet's transport is read from, as if the shim were not there.
 */
export function decodeUoaShim(ctx: DecodeCtx, L: NetLayers, off: number, end: number, mode: number): void {
  const buf = ctx.buf;
  const u = L.uoa;
  L.l4 = 'other';
  if (off + OPP_HDR_LEN > end) {
    ctx.truncate('uoa', mode);
    return;
  }
  // A UOA in the IPv4 options as well is not what DPVS sends; the shim's is the one its RS reads.
  u.optOff = -1;
  u.mode = UoaMode.OPP;
  u.shimOff = off;
  u.shimVersion = buf[off]! >> 4;
  u.shimRsvd = buf[off]! & 15;
  u.shimProto = buf[off + 1]!;
  const len = (buf[off + 2]! << 8) | buf[off + 3]!;
  u.shimLen = len;
  if (len < OPP_HDR_LEN) {
    ctx.malformed('uoa', off, 'shim length below its 4-byte header');
    return;
  }
  const wireEnd = L.ip.payloadOff + L.ip.payloadWireLen;
  if (off + len > wireEnd) {
    ctx.malformed('uoa', off, 'shim length beyond the IP payload');
    return;
  }
  if (off + len > end) {
    ctx.truncate('uoa', mode);
    return;
  }
  // Options that do not parse are marked malformed, and the UDP is still read where the shim's
  // length puts it: the RS module does the same (`uoa_opp_rcv` strips the shim whatever
  // `uoa_parse_ipopt` found), so the datagram reaches the application, only without a UOA.
  walkUoaOptions(ctx, u, off + OPP_HDR_LEN, off + len, 'uoa');
  // DPVS puts the shim only before UDP, and its RS module drops any other (`uoa_opp_rcv`);
  // another protocol is left undecoded, shown by number.
  if (u.shimProto === IpProto.UDP) decodeUdp(ctx, L, off + len, end, mode);
}

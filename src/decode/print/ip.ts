/**
 * IPv4 / IPv6 headers: address text, the trailing `ttl 64, id 4711, flags [DF]` details of
 * the text line, and the `ipv4` / `ipv6` JSON members.
 */
import type { IpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex16, ip4 } from './fmt.js';
import { lit, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = lit('"ipv4":{"src":"');
const L1 = lit('","dst":"');
const L2 = lit('","ttl":');
const L3 = lit(',"id":');
const L4 = lit(',"df":');
const L5 = lit(',"mf":');
const L6 = lit(',"fragOffset":');
const L7 = lit(',"tos":');
const L8 = lit(',"proto":');
const L9 = lit(',"len":');
const L10 = lit(',"hdrLen":');
const L11 = lit(',"optionsLen":');
const L12 = lit(',"checksum":');
const L13 = lit(',"checksumOk":');
const L14 = lit('"ipv6":{"src":"');
const L15 = lit('","hlim":');
const L16 = lit(',"next":');
const L17 = lit(',"flow":');
const L18 = lit(',"tc":');
const L19 = lit(',"fragment":{"id":');
const L20 = lit(',"offset":');

export function ipSrc(ip: IpView, buf: Uint8Array): string {
  return ip.version === 4 ? ip4(ip.src4) : ipv6ToString(buf, ip.srcOff);
}

export function ipDst(ip: IpView, buf: Uint8Array): string {
  return ip.version === 4 ? ip4(ip.dst4) : ipv6ToString(buf, ip.dstOff);
}

/** Header details: `ttl 64, id 4711[, flags [DF+]][, offset N][, tos 0x10][, bad ip cksum]`. */
export function ipDetails(ip: IpView): string {
  if (ip.version === 6) {
    let s = 'hlim ' + ip.ttl;
    if (ip.flowLabel !== 0) s += ', flow 0x' + ip.flowLabel.toString(16).padStart(5, '0');
    if (ip.tos !== 0) s += ', class 0x' + ip.tos.toString(16).padStart(2, '0');
    if (ip.isFragment) s += ', frag id ' + ip.id + ' offset ' + ip.fragOffset + (ip.mf ? ' flags [+]' : '');
    return s;
  }
  let s = 'ttl ' + ip.ttl + ', id ' + ip.id;
  if (ip.df || ip.mf) s += ', flags [' + (ip.df ? 'DF' : '') + (ip.mf ? '+' : '') + ']';
  if (ip.fragOffset !== 0) s += ', offset ' + ip.fragOffset;
  if (ip.tos !== 0) s += ', tos 0x' + ip.tos.toString(16).padStart(2, '0');
  if (ip.optionsLen > 0) s += ', options ' + ip.optionsLen + ' bytes';
  if (ip.checksumOk === false) s += ' [bad ip cksum ' + hex16(ip.checksum) + ']';
  return s;
}

export function ipJson(o: ByteSink, ip: IpView, buf: Uint8Array): void {
  if (ip.version === 4) {
    o.lit(L0);
    o.ip4(ip.src4);
    o.lit(L1);
    o.ip4(ip.dst4);
    o.lit(L2);
    o.uint(ip.ttl);
    o.lit(L3);
    o.uint(ip.id);
    o.lit(L4);
    o.bool(ip.df);
    o.lit(L5);
    o.bool(ip.mf);
    o.lit(L6);
    o.uint(ip.fragOffset);
    o.lit(L7);
    o.uint(ip.tos);
    o.lit(L8);
    o.uint(ip.proto);
    o.lit(L9);
    o.uint(ip.totalLen);
    o.lit(L10);
    o.uint(ip.hdrLen);
    o.lit(L11);
    o.uint(ip.optionsLen);
    o.lit(L12);
    o.uint(ip.checksum);
    o.lit(L13);
    o.bool(ip.checksumOk);
    o.byte(125);
    return;
  }
  o.lit(L14);
  o.ascii(ipv6ToString(buf, ip.srcOff));
  o.lit(L1);
  o.ascii(ipv6ToString(buf, ip.dstOff));
  o.lit(L15);
  o.uint(ip.ttl);
  o.lit(L16);
  o.uint(ip.proto);
  o.lit(L17);
  o.uint(ip.flowLabel);
  o.lit(L18);
  o.uint(ip.tos);
  o.lit(L9);
  o.uint(ip.totalLen);
  o.lit(L10);
  o.uint(ip.hdrLen);
  if (ip.isFragment) {
    o.lit(L19);
    o.uint(ip.id);
    o.lit(L20);
    o.uint(ip.fragOffset);
    o.lit(L5);
    o.bool(ip.mf);
    o.byte(125);
  }
  o.byte(125);
}

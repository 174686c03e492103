/**
 * IPv4 / IPv6 headers: address text, the trailing `ttl 64, id 4711, flags [DF]` details of
 * the text line, and the `ipv4` / `ipv6` JSON members.
 */
import type { IpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex16, ip4 } from './fmt.js';
import { litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('"ipv4":{"src":"');
const L1 = litw('","dst":"');
const L2 = litw('","ttl":');
const L3 = litw(',"id":');
const L4 = litw(',"df":');
const L5 = litw(',"mf":');
const L6 = litw(',"fragOffset":');
const L7 = litw(',"tos":');
const L8 = litw(',"proto":');
const L9 = litw(',"len":');
const L10 = litw(',"hdrLen":');
const L11 = litw(',"optionsLen":');
const L12 = litw(',"checksum":');
const L13 = litw(',"checksumOk":');
const L14 = litw('"ipv6":{"src":"');
const L15 = litw('","hlim":');
const L16 = litw(',"next":');
const L17 = litw(',"flow":');
const L18 = litw(',"tc":');
const L19 = litw(',"fragment":{"id":');
const L20 = litw(',"offset":');

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
    o.pos = L0(o.buf, o.pos);
    o.ip4(ip.src4);
    o.pos = L1(o.buf, o.pos);
    o.ip4(ip.dst4);
    o.pos = L2(o.buf, o.pos);
    o.uint(ip.ttl);
    o.pos = L3(o.buf, o.pos);
    o.uint(ip.id);
    o.pos = L4(o.buf, o.pos);
    o.bool(ip.df);
    o.pos = L5(o.buf, o.pos);
    o.bool(ip.mf);
    o.pos = L6(o.buf, o.pos);
    o.uint(ip.fragOffset);
    o.pos = L7(o.buf, o.pos);
    o.uint(ip.tos);
    o.pos = L8(o.buf, o.pos);
    o.uint(ip.proto);
    o.pos = L9(o.buf, o.pos);
    o.uint(ip.totalLen);
    o.pos = L10(o.buf, o.pos);
    o.uint(ip.hdrLen);
    o.pos = L11(o.buf, o.pos);
    o.uint(ip.optionsLen);
    o.pos = L12(o.buf, o.pos);
    o.uint(ip.checksum);
    o.pos = L13(o.buf, o.pos);
    o.bool(ip.checksumOk);
    o.byte(125);
    return;
  }
  o.pos = L14(o.buf, o.pos);
  o.ascii(ipv6ToString(buf, ip.srcOff));
  o.pos = L1(o.buf, o.pos);
  o.ascii(ipv6ToString(buf, ip.dstOff));
  o.pos = L15(o.buf, o.pos);
  o.uint(ip.ttl);
  o.pos = L16(o.buf, o.pos);
  o.uint(ip.proto);
  o.pos = L17(o.buf, o.pos);
  o.uint(ip.flowLabel);
  o.pos = L18(o.buf, o.pos);
  o.uint(ip.tos);
  o.pos = L9(o.buf, o.pos);
  o.uint(ip.totalLen);
  o.pos = L10(o.buf, o.pos);
  o.uint(ip.hdrLen);
  if (ip.isFragment) {
    o.pos = L19(o.buf, o.pos);
    o.uint(ip.id);
    o.pos = L20(o.buf, o.pos);
    o.uint(ip.fragOffset);
    o.pos = L5(o.buf, o.pos);
    o.bool(ip.mf);
    o.byte(125);
  }
  o.byte(125);
}

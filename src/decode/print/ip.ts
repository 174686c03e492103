/**
 * IPv4 / IPv6 headers: address text, the trailing `ttl 64, id 4711, flags [DF]` details of
 * the text line, and the `ipv4` / `ipv6` JSON members.
 */
import type { IpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex16, ip4 } from './fmt.js';
import type { ByteSink } from './sink.js';

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
    o.ascii('"ipv4":{"src":"');
    o.ip4(ip.src4);
    o.ascii('","dst":"');
    o.ip4(ip.dst4);
    o.ascii('","ttl":');
    o.uint(ip.ttl);
    o.ascii(',"id":');
    o.uint(ip.id);
    o.ascii(',"df":');
    o.bool(ip.df);
    o.ascii(',"mf":');
    o.bool(ip.mf);
    o.ascii(',"fragOffset":');
    o.uint(ip.fragOffset);
    o.ascii(',"tos":');
    o.uint(ip.tos);
    o.ascii(',"proto":');
    o.uint(ip.proto);
    o.ascii(',"len":');
    o.uint(ip.totalLen);
    o.ascii(',"hdrLen":');
    o.uint(ip.hdrLen);
    o.ascii(',"optionsLen":');
    o.uint(ip.optionsLen);
    o.ascii(',"checksum":');
    o.uint(ip.checksum);
    o.ascii(',"checksumOk":');
    o.bool(ip.checksumOk);
    o.byte(125);
    return;
  }
  o.ascii('"ipv6":{"src":"');
  o.ascii(ipv6ToString(buf, ip.srcOff));
  o.ascii('","dst":"');
  o.ascii(ipv6ToString(buf, ip.dstOff));
  o.ascii('","hlim":');
  o.uint(ip.ttl);
  o.ascii(',"next":');
  o.uint(ip.proto);
  o.ascii(',"flow":');
  o.uint(ip.flowLabel);
  o.ascii(',"tc":');
  o.uint(ip.tos);
  o.ascii(',"len":');
  o.uint(ip.totalLen);
  o.ascii(',"hdrLen":');
  o.uint(ip.hdrLen);
  if (ip.isFragment) {
    o.ascii(',"fragment":{"id":');
    o.uint(ip.id);
    o.ascii(',"offset":');
    o.uint(ip.fragOffset);
    o.ascii(',"mf":');
    o.bool(ip.mf);
    o.byte(125);
  }
  o.byte(125);
}

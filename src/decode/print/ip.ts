/**
 * IPv4 / IPv6 headers: address text, the trailing `ttl 64, id 4711, flags [DF]` details of
 * the text line, and the `ipv4` / `ipv6` JSON members.
 */
import type { IpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex16, ip4 } from './fmt.js';

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

export function ipJson(ip: IpView, buf: Uint8Array): string {
  if (ip.version === 4) {
    return (
      '"ipv4":{"src":"' + ip4(ip.src4) + '","dst":"' + ip4(ip.dst4) + '","ttl":' + ip.ttl + ',"id":' + ip.id + ',"df":' + ip.df +
      ',"mf":' + ip.mf + ',"fragOffset":' + ip.fragOffset + ',"tos":' + ip.tos + ',"proto":' + ip.proto + ',"len":' + ip.totalLen +
      ',"hdrLen":' + ip.hdrLen + ',"optionsLen":' + ip.optionsLen + ',"checksum":' + ip.checksum + ',"checksumOk":' + ip.checksumOk + '}'
    );
  }
  let s =
    '"ipv6":{"src":"' + ipv6ToString(buf, ip.srcOff) + '","dst":"' + ipv6ToString(buf, ip.dstOff) + '","hlim":' + ip.ttl +
    ',"next":' + ip.proto + ',"flow":' + ip.flowLabel + ',"tc":' + ip.tos + ',"len":' + ip.totalLen + ',"hdrLen":' + ip.hdrLen;
  if (ip.isFragment) s += ',"fragment":{"id":' + ip.id + ',"offset":' + ip.fragOffset + ',"mf":' + ip.mf + '}';
  return s + '}';
}

/** DPVS's UOA (decode/proto/uoa.ts): `uoa ADDR:PORT [ipo|opp]` and its JSON object. */
import { ipv6ToString } from '../addr.js';
import { UoaMode, type UoaView } from '../packet.js';
import { ip4At } from './fmt.js';
import { litw, type ByteSink } from './sink.js';

const L0 = litw(',"uoa":{"mode":"');
const L1 = litw('","code":');
const L2 = litw(',"len":');
const L3 = litw(',"port":');
const L4 = litw(',"addr":');
const L5 = litw(',"shim":{"version":');
const L6 = litw(',"rsvd":');
const L7 = litw(',"proto":');
const NULLS = litw('","code":null,"len":null,"port":null,"addr":null');

function modeName(u: UoaView): string {
  return u.mode === UoaMode.IPO ? 'ipo' : 'opp';
}

/** The client the option names: `198.51.100.7:40123`, `[2001:db8::7]:40123`, or what was there. */
export function uoaClientText(u: UoaView, buf: Uint8Array): string {
  if (u.optOff < 0) return 'none';
  if (u.family === 4) return ip4At(buf, u.addrOff) + ':' + u.port;
  if (u.family === 6) return '[' + ipv6ToString(buf, u.addrOff) + ']:' + u.port;
  return 'len ' + u.len;
}

/** `uoa ADDR:PORT [ipo]`, with the shim's fields when they are not what DPVS writes. */
export function uoaText(u: UoaView, buf: Uint8Array): string {
  let s = 'uoa ' + uoaClientText(u, buf) + ' [' + modeName(u);
  if (u.mode === UoaMode.OPP && (u.shimVersion < 1 || u.shimVersion > 2 || u.shimRsvd !== 0)) {
    s += ' version ' + u.shimVersion + ' rsvd ' + u.shimRsvd;
  }
  return s + ']';
}

export function uoaJson(o: ByteSink, u: UoaView, buf: Uint8Array): void {
  o.pos = L0(o.buf, o.pos);
  o.ascii(modeName(u));
  if (u.optOff < 0) {
    o.pos = NULLS(o.buf, o.pos);
  } else {
    o.pos = L1(o.buf, o.pos);
    o.uint(u.code);
    o.pos = L2(o.buf, o.pos);
    o.uint(u.len);
    o.pos = L3(o.buf, o.pos);
    o.uint(u.port);
    o.pos = L4(o.buf, o.pos);
    if (u.family === 0) {
      o.ascii('null');
    } else {
      o.byte(34);
      if (u.family === 6) o.ascii(ipv6ToString(buf, u.addrOff));
      else o.ip4At(buf, u.addrOff);
      o.byte(34);
    }
  }
  if (u.mode === UoaMode.OPP) {
    o.pos = L5(o.buf, o.pos);
    o.uint(u.shimVersion);
    o.pos = L6(o.buf, o.pos);
    o.uint(u.shimRsvd);
    o.pos = L7(o.buf, o.pos);
    o.uint(u.shimProto);
    o.pos = L2(o.buf, o.pos);
    o.uint(u.shimLen);
    o.byte(125);
  }
  o.byte(125);
}

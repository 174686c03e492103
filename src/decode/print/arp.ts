/** ARP and RARP, worded like tcpdump -nn: `Request who-has A tell B`, `Reply A is-at MAC`,
 *  `Reverse Request who-is MAC tell MAC`, `Reverse Reply MAC at A` (tcpdump words by the
 *  operation, so RARP ops carried as ARP read the same). */
import type { ArpView, Packet } from '../packet.js';
import { ip4, mac } from './fmt.js';
import { litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('{"htype":');
const L1 = litw(',"ptype":');
const L2 = litw(',"hlen":');
const L3 = litw(',"plen":');
const L4 = litw(',"op":');
const L5 = litw(',"sha":"');
const L6 = litw('","spa":"');
const L7 = litw('","tha":"');
const L8 = litw('","tpa":"');
const L9 = litw('","gratuitous":');
const L10 = litw(',"probe":');
const L11 = litw(',"rarp":true');

function isZero(buf: Uint8Array, off: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[off + i] !== 0) return false;
  return true;
}

/** `a` is the frame's ARP or that of an Ethernet frame an encapsulation level carries. */
export function arpText(p: Packet, a: ArpView = p.arp): string {
  if (!(a.htype === 1 && a.ptype === 0x0800 && a.hlen === 6 && a.plen === 4) || p.truncated === 'arp') {
    return 'ARP, htype ' + a.htype + ', ptype 0x' + a.ptype.toString(16).padStart(4, '0') + ', op ' + a.op;
  }
  let s = 'ARP, ';
  if (a.op === 1) {
    s += 'Request who-has ' + ip4(a.tpa);
    if (!isZero(p.buf, a.thaOff, 6)) s += ' (' + mac(p.buf, a.thaOff) + ')';
    s += ' tell ' + ip4(a.spa);
  } else if (a.op === 2) {
    s += 'Reply ' + ip4(a.spa) + ' is-at ' + mac(p.buf, a.shaOff);
  } else if (a.op === 3) {
    s += 'Reverse Request who-is ' + mac(p.buf, a.thaOff) + ' tell ' + mac(p.buf, a.shaOff);
  } else if (a.op === 4) {
    s += 'Reverse Reply ' + mac(p.buf, a.thaOff) + ' at ' + ip4(a.tpa);
  } else {
    s += 'op ' + a.op + ' ' + ip4(a.spa) + ' (' + mac(p.buf, a.shaOff) + ') > ' + ip4(a.tpa);
  }
  if (a.probe) s += ' (probe)';
  else if (a.gratuitous) s += ' (gratuitous)';
  return s;
}

export function arpJson(o: ByteSink, p: Packet, a: ArpView = p.arp): void {
  const buf = p.buf;
  o.pos = L0(o.buf, o.pos);
  o.uint(a.htype);
  o.pos = L1(o.buf, o.pos);
  o.uint(a.ptype);
  o.pos = L2(o.buf, o.pos);
  o.uint(a.hlen);
  o.pos = L3(o.buf, o.pos);
  o.uint(a.plen);
  o.pos = L4(o.buf, o.pos);
  o.uint(a.op);
  o.pos = L5(o.buf, o.pos);
  o.hexColon(buf, a.shaOff, a.hlen);
  o.pos = L6(o.buf, o.pos);
  if (a.plen === 4) o.ip4(a.spa);
  else o.hex(buf, a.spaOff, a.plen);
  o.pos = L7(o.buf, o.pos);
  o.hexColon(buf, a.thaOff, a.hlen);
  o.pos = L8(o.buf, o.pos);
  if (a.plen === 4) o.ip4(a.tpa);
  else o.hex(buf, a.tpaOff, a.plen);
  o.pos = L9(o.buf, o.pos);
  o.bool(a.gratuitous);
  o.pos = L10(o.buf, o.pos);
  o.bool(a.probe);
  if (a.reverse) o.pos = L11(o.buf, o.pos);
  o.byte(125);
}

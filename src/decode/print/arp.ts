/** ARP, worded like tcpdump -nn: `Request who-has A tell B`, `Reply A is-at MAC`. */
import type { Packet } from '../packet.js';
import { ip4, mac } from './fmt.js';
import { lit, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = lit('{"htype":');
const L1 = lit(',"ptype":');
const L2 = lit(',"hlen":');
const L3 = lit(',"plen":');
const L4 = lit(',"op":');
const L5 = lit(',"sha":"');
const L6 = lit('","spa":"');
const L7 = lit('","tha":"');
const L8 = lit('","tpa":"');
const L9 = lit('","gratuitous":');
const L10 = lit(',"probe":');

function isZero(buf: Uint8Array, off: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[off + i] !== 0) return false;
  return true;
}

export function arpText(p: Packet): string {
  const a = p.arp;
  if (!a.isEthIpv4) {
    return 'ARP, htype ' + a.htype + ', ptype 0x' + a.ptype.toString(16).padStart(4, '0') + ', op ' + a.op;
  }
  let s = 'ARP, ';
  if (a.op === 1) {
    s += 'Request who-has ' + ip4(a.tpa);
    if (!isZero(p.buf, a.thaOff, 6)) s += ' (' + mac(p.buf, a.thaOff) + ')';
    s += ' tell ' + ip4(a.spa);
  } else if (a.op === 2) {
    s += 'Reply ' + ip4(a.spa) + ' is-at ' + mac(p.buf, a.shaOff);
  } else {
    s += 'op ' + a.op + ' ' + ip4(a.spa) + ' (' + mac(p.buf, a.shaOff) + ') > ' + ip4(a.tpa);
  }
  if (a.probe) s += ' (probe)';
  else if (a.gratuitous) s += ' (gratuitous)';
  return s;
}

export function arpJson(o: ByteSink, p: Packet): void {
  const a = p.arp;
  const buf = p.buf;
  o.lit(L0);
  o.uint(a.htype);
  o.lit(L1);
  o.uint(a.ptype);
  o.lit(L2);
  o.uint(a.hlen);
  o.lit(L3);
  o.uint(a.plen);
  o.lit(L4);
  o.uint(a.op);
  o.lit(L5);
  o.hexColon(buf, a.shaOff, a.hlen);
  o.lit(L6);
  if (a.plen === 4) o.ip4(a.spa);
  else o.hex(buf, a.spaOff, a.plen);
  o.lit(L7);
  o.hexColon(buf, a.thaOff, a.hlen);
  o.lit(L8);
  if (a.plen === 4) o.ip4(a.tpa);
  else o.hex(buf, a.tpaOff, a.plen);
  o.lit(L9);
  o.bool(a.gratuitous);
  o.lit(L10);
  o.bool(a.probe);
  o.byte(125);
}

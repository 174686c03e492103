/** ARP, worded like tcpdump -nn: `Request who-has A tell B`, `Reply A is-at MAC`. */
import type { Packet } from '../packet.js';
import { ip4, mac } from './fmt.js';
import type { ByteSink } from './sink.js';

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
  o.ascii('{"htype":');
  o.uint(a.htype);
  o.ascii(',"ptype":');
  o.uint(a.ptype);
  o.ascii(',"hlen":');
  o.uint(a.hlen);
  o.ascii(',"plen":');
  o.uint(a.plen);
  o.ascii(',"op":');
  o.uint(a.op);
  o.ascii(',"sha":"');
  o.hexColon(buf, a.shaOff, a.hlen);
  o.ascii('","spa":"');
  if (a.plen === 4) o.ip4(a.spa);
  else o.hex(buf, a.spaOff, a.plen);
  o.ascii('","tha":"');
  o.hexColon(buf, a.thaOff, a.hlen);
  o.ascii('","tpa":"');
  if (a.plen === 4) o.ip4(a.tpa);
  else o.hex(buf, a.tpaOff, a.plen);
  o.ascii('","gratuitous":');
  o.bool(a.gratuitous);
  o.ascii(',"probe":');
  o.bool(a.probe);
  o.byte(125);
}

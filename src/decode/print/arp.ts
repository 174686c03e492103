/** ARP, worded like tcpdump -nn: `Request who-has A tell B`, `Reply A is-at MAC`. */
import type { Packet } from '../packet.js';
import { hex, hexColon, ip4, mac } from './fmt.js';

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

function addr(p: Packet, off: number, len: number, kind: 'hw' | 'proto'): string {
  if (kind === 'hw') return len === 6 ? mac(p.buf, off) : hexColon(p.buf, off, len);
  return hex(p.buf, off, len);
}

export function arpJson(p: Packet): string {
  const a = p.arp;
  const sha = addr(p, a.shaOff, a.hlen, 'hw');
  const tha = addr(p, a.thaOff, a.hlen, 'hw');
  const spa = a.plen === 4 ? ip4(a.spa) : addr(p, a.spaOff, a.plen, 'proto');
  const tpa = a.plen === 4 ? ip4(a.tpa) : addr(p, a.tpaOff, a.plen, 'proto');
  return (
    '{"htype":' + a.htype + ',"ptype":' + a.ptype + ',"hlen":' + a.hlen + ',"plen":' + a.plen + ',"op":' + a.op + ',"sha":"' + sha + '","spa":"' + spa + '","tha":"' + tha +
    '","tpa":"' + tpa + '","gratuitous":' + a.gratuitous + ',"probe":' + a.probe + '}'
  );
}

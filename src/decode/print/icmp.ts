/**
 * ICMP and ICMPv6. Text follows tcpdump's wording for the common types; error messages
 * (unreachable, time exceeded, packet too big, …) print the quoted packet after
 * `quoting [ … ]` because that is what a director's PMTU and RST behaviour is judged by.
 */
import type { IcmpView } from '../packet.js';
import { hex16 } from './fmt.js';
import { litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('{"type":');
const L1 = litw(',"code":');
const L2 = litw(',"checksum":');
const L3 = litw(',"checksumOk":');
const L4 = litw(',"id":');
const L5 = litw(',"seq":');
const L6 = litw(',"mtu":');

const ICMP4_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'unreachable',
  4: 'source quench',
  5: 'redirect',
  8: 'echo request',
  9: 'router advertisement',
  10: 'router solicitation',
  11: 'time exceeded',
  12: 'parameter problem',
  13: 'time stamp request',
  14: 'time stamp reply',
};

const ICMP4_UNREACH: Record<number, string> = {
  0: 'net unreachable',
  1: 'host unreachable',
  2: 'protocol unreachable',
  3: 'port unreachable',
  4: 'need to frag',
  5: 'source route failed',
  9: 'net prohibited',
  10: 'host prohibited',
  13: 'admin prohibited',
};

const ICMP6_TYPES: Record<number, string> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  4: 'parameter problem',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  137: 'redirect',
};

export function icmpTypeName(icmp: IcmpView): string {
  const names = icmp.version === 6 ? ICMP6_TYPES : ICMP4_TYPES;
  return names[icmp.type] ?? 'type ' + icmp.type;
}

function isEcho(icmp: IcmpView): boolean {
  return icmp.version === 6 ? icmp.type === 128 || icmp.type === 129 : icmp.type === 0 || icmp.type === 8;
}

/** Text without the quoted packet (the caller appends `quoting [...]`). */
export function icmpText(icmp: IcmpView): string {
  let s = icmp.version === 6 ? 'ICMP6 ' : 'ICMP ';
  if (icmp.checksumOk === false) s += '[bad icmp' + (icmp.version === 6 ? '6' : '') + ' cksum ' + hex16(icmp.checksum) + '] ';
  s += icmpTypeName(icmp);
  if (isEcho(icmp)) return s + ', id ' + icmp.echoId + ', seq ' + icmp.echoSeq;
  if (icmp.version === 4 && icmp.type === 3) {
    s += ' - ' + (ICMP4_UNREACH[icmp.code] ?? 'code ' + icmp.code);
  } else if (icmp.code !== 0) {
    s += ', code ' + icmp.code;
  }
  if (icmp.mtu >= 0) s += ', mtu ' + icmp.mtu;
  return s;
}

/** JSON object body without the closing brace, so the caller can add `"inner"`. */
export function icmpJsonOpen(o: ByteSink, icmp: IcmpView): void {
  o.pos = L0(o.buf, o.pos);
  o.uint(icmp.type);
  o.pos = L1(o.buf, o.pos);
  o.uint(icmp.code);
  o.pos = L2(o.buf, o.pos);
  o.uint(icmp.checksum);
  o.pos = L3(o.buf, o.pos);
  o.bool(icmp.checksumOk);
  if (isEcho(icmp)) {
    o.pos = L4(o.buf, o.pos);
    o.uint(icmp.echoId);
    o.pos = L5(o.buf, o.pos);
    o.uint(icmp.echoSeq);
  }
  if (icmp.mtu >= 0) {
    o.pos = L6(o.buf, o.pos);
    o.uint(icmp.mtu);
  }
}

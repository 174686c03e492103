/**
 * One-line, tcpdump-like text of a built packet, from its layer specs and the sizes build()
 * measured. It describes what the builder wrote (forced bad values are flagged), so a fixture's
 * intent can be read in test output and in replay logs.
 */
import type { Ipv4Spec, Ipv6Spec, Layer, TcpSpec } from './types.js';
import { describeTcpOption, parseTcpFlags } from './tcp-options.js';
import { tcpFlagsText } from '../../decode/print/fmt.js';
import { DEFAULT_GUE_SPORT, DEFAULT_TCP_WINDOW, DEFAULT_TTL, PROTO_NONE_V4, PROTO_NONE_V6 } from './defaults.js';

export interface LayerSize {
  /** Header bytes of the layer. */
  hdr: number;
  /** Bytes from the start of the layer to the end of the packet. */
  total: number;
}

const SLL_PKT = ['In', 'B', 'M', 'P', 'Out'];

const hex = (v: number, w = 4): string => `0x${v.toString(16).padStart(w, '0')}`;

function ipv4Attrs(s: Ipv4Spec): string {
  const a: string[] = [];
  if (s.tos) a.push(`tos ${hex(s.tos, 2)}`);
  if ((s.ttl ?? DEFAULT_TTL) !== DEFAULT_TTL) a.push(`ttl ${s.ttl}`);
  if (s.id !== undefined) a.push(`id ${s.id}`);
  if (s.fragOffset) a.push(`offset ${s.fragOffset}`);
  const flags = [s.mf ? '+' : '', s.df ? 'DF' : ''].filter((f) => f !== '');
  if (flags.length) a.push(`flags [${flags.join(', ')}]`);
  if (s.options?.length) a.push(`options ${s.options.length}`);
  if (s.totalLength !== undefined) a.push(`tot_len ${s.totalLength}`);
  if (s.checksum !== undefined) a.push(`cksum ${hex(s.checksum)}`);
  return a.length ? ` (${a.join(', ')})` : '';
}

function ipv6Attrs(s: Ipv6Spec): string {
  const a: string[] = [];
  if (s.tc) a.push(`class ${hex(s.tc, 2)}`);
  if (s.flowLabel) a.push(`flowlabel ${hex(s.flowLabel, 5)}`);
  if ((s.hlim ?? DEFAULT_TTL) !== DEFAULT_TTL) a.push(`hlim ${s.hlim}`);
  for (const e of s.ext ?? []) {
    if (e.kind === 'fragment') a.push(`frag id ${e.id} offset ${e.offset}${e.mf ? ' +' : ''}`);
    else if (e.kind === 'routing') a.push(`routing type ${e.routingType ?? 0} segleft ${e.segmentsLeft ?? 0}`);
    else a.push(e.kind === 'hop' ? 'hbh' : 'dstopt');
  }
  if (s.payloadLength !== undefined) a.push(`plen ${s.payloadLength}`);
  return a.length ? ` (${a.join(', ')})` : '';
}

function tcpText(s: TcpSpec, payloadLen: number): string {
  const flags = parseTcpFlags(s.flags);
  let t = `Flags [${tcpFlagsText(flags)}], seq ${(s.seq ?? 0) >>> 0}`;
  if (flags & 0x010) t += `, ack ${(s.ack ?? 0) >>> 0}`;
  t += `, win ${s.window ?? DEFAULT_TCP_WINDOW}`;
  if (flags & 0x020) t += `, urg ${s.urgent ?? 0}`;
  if (s.options?.length) t += `, options [${s.options.map(describeTcpOption).join(',')}]`;
  if (s.dataOffset !== undefined) t += `, doff ${s.dataOffset}`;
  t += `, length ${payloadLen}`;
  if (s.checksum !== undefined) t += `, cksum ${hex(s.checksum)}`;
  return t;
}

const ICMP4_TEXT: Record<string, string> = {
  '0': 'echo reply',
  '8': 'echo request',
  '3/0': 'net unreachable',
  '3/1': 'host unreachable',
  '3/2': 'protocol unreachable',
  '3/3': 'port unreachable',
  '3/4': 'unreachable - need to frag',
  '3/13': 'unreachable - admin prohibited filter',
  '11/0': 'time exceeded in-transit',
  '11/1': 'ip reassembly time exceeded',
  '5/1': 'redirect host',
};
const ICMP6_TEXT: Record<string, string> = {
  '1': 'destination unreachable',
  '2': 'packet too big',
  '3': 'time exceeded in-transit',
  '4': 'parameter problem',
  '128': 'echo request',
  '129': 'echo reply',
  '135': 'neighbor solicitation',
  '136': 'neighbor advertisement',
};

export function describeLayers(layers: readonly Layer[], sizes: readonly LayerSize[], payloadLen: number): string {
  const d = (i: number): string => {
    const l = layers[i];
    if (!l) return payloadLen > 0 ? `data ${payloadLen}` : 'empty';
    const size = sizes[i]!;
    const next = layers[i + 1];
    const rest = (sep: string): string => (next ? sep + d(i + 1) : payloadLen > 0 ? `${sep}data ${payloadLen}` : '');
    switch (l.t) {
      case 'eth': {
        const head = `eth ${l.s.src} > ${l.s.dst}`;
        return next?.t === 'vlan' ? `${head} ${d(i + 1)}` : `${head}${rest(', ')}`;
      }
      case 'sll':
        return `sll ${SLL_PKT[l.s.pktType ?? 0] ?? l.s.pktType} ${l.s.addr ?? '00:00:00:00:00:00'}${rest(', ')}`;
      case 'vlan': {
        const head = `vlan ${l.s.id}${l.s.pcp ? ` p ${l.s.pcp}` : ''}${l.s.dei ? ' dei' : ''}`;
        return next?.t === 'vlan' ? `${head} ${d(i + 1)}` : `${head}${rest(', ')}`;
      }
      case 'arp': {
        const body =
          l.s.op === 1 ? `Request who-has ${l.s.tpa} tell ${l.s.spa}` : `Reply ${l.s.spa} is-at ${l.s.sha}`;
        const garp = l.s.spa === l.s.tpa ? ' (gratuitous)' : '';
        return `ARP, ${body}${garp}, length 28`;
      }
      case 'ipv4':
      case 'ipv6': {
        const tag = l.t === 'ipv4' ? `IP${ipv4Attrs(l.s)}` : `IP6${ipv6Attrs(l.s)}`;
        const ports = next && (next.t === 'tcp' || next.t === 'udp' || next.t === 'gue');
        const p = ports ? next.s : undefined;
        const src = p ? `${l.s.src}.${p.sport ?? DEFAULT_GUE_SPORT}` : l.s.src;
        const dst = p ? `${l.s.dst}.${p.dport}` : l.s.dst;
        if (!next) {
          const proto = l.t === 'ipv4' ? (l.s.proto ?? PROTO_NONE_V4) : (l.s.next ?? PROTO_NONE_V6);
          return `${tag} ${src} > ${dst}: ip-proto-${proto} ${size.total - size.hdr}`;
        }
        return `${tag} ${src} > ${dst}: ${d(i + 1)}`;
      }
      case 'tcp':
        return tcpText(l.s, size.total - size.hdr);
      case 'udp': {
        const ck = l.s.checksum === 'zero' ? ', no cksum' : l.s.checksum !== undefined ? `, cksum ${hex(l.s.checksum)}` : '';
        return `UDP, length ${size.total - size.hdr}${ck}`;
      }
      case 'gue':
        return `GUE, length ${size.total - size.hdr}${rest(': ')}`;
      case 'gre': {
        const a = [`GREv0`];
        if (l.s.key !== undefined) a.push(`key=${hex(l.s.key, 1)}`);
        if (l.s.seq !== undefined) a.push(`seq ${l.s.seq}`);
        if (l.s.checksum !== undefined && l.s.checksum !== false) a.push('csum');
        a.push(`length ${size.total}`);
        return `${a.join(', ')}${rest(': ')}`;
      }
      case 'icmp':
      case 'icmpv6': {
        const s = l.s;
        const table = l.t === 'icmp' ? ICMP4_TEXT : ICMP6_TEXT;
        const name = table[`${s.type}/${s.code}`] ?? table[`${s.type}`] ?? `type ${s.type} code ${s.code}`;
        const a = [`${l.t === 'icmp' ? 'ICMP' : 'ICMP6'} ${name}`];
        if (s.nd) a.push(`${s.type === 135 ? 'who has' : 'tgt is'} ${s.nd.target}`);
        if (s.id !== undefined || s.type === 0 || s.type === 8 || s.type === 128 || s.type === 129) a.push(`id ${s.id ?? 0}, seq ${s.seq ?? 0}`);
        if (s.mtu !== undefined) a.push(`mtu ${s.mtu}`);
        a.push(`length ${size.total}`);
        if (s.checksum !== undefined) a.push(`cksum ${hex(s.checksum)}`);
        const quoted = !s.quote && next ? `: ${d(i + 1)}` : s.quote ? `: quote ${Math.min(s.quote.length, s.quoteLen ?? Infinity)}` : '';
        return a.join(', ') + quoted;
      }
    }
  };
  return d(0);
}

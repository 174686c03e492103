/**
 * What a FullNAT director did to UDP, read from the captures by tshark (filters, header fields,
 * checksum verdicts) and from the raw bytes tshark hands out — never by lvsaudit's decoder: the
 * independent oracle for the DPVS lab's UDP case and its fixtures (UOA, uoa_mode ipo and opp).
 */
import { execFileSync } from 'node:child_process';

/** One IPv4 packet of a capture as tshark reads it. */
export interface IpPacket {
  t: number;
  src: string;
  dst: string;
  proto: number;
  /** Header length in bytes (ihl × 4). */
  hdrLen: number;
  totalLen: number;
  ttl: number;
  id: string;
  /** tshark's checksum verdicts with validation on: '1' good, '0' bad, '' none. */
  ipChecksum: string;
  udpChecksum: string;
  /** The IP header and what follows it, as hex (from the frame's own bytes). */
  ipHex: string;
  sport: number | null;
  dport: number | null;
  icmpType: number | null;
  icmpCode: number | null;
}

type Layers = Record<string, Record<string, unknown> | unknown>;

function field(layer: unknown, name: string): string {
  if (layer === null || typeof layer !== 'object') return '';
  const v = (layer as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : '';
}

/** IPv4 packets of `file` matching `filter` (Ethernet captures), in capture order. */
export function ipPackets(file: string, filter: string): IpPacket[] {
  const args = ['-n', '-r', file, '-Y', filter, '-T', 'json', '-x', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const docs = JSON.parse(out.trim() === '' ? '[]' : out) as Array<{ _source: { layers: Layers } }>;
  return docs.map(({ _source: { layers: l } }) => {
    const raw = (l['frame_raw'] as [string])[0];
    const ip = l['ip'];
    const udp = l['udp'];
    const icmp = l['icmp'];
    const num = (s: string): number | null => (s === '' ? null : Number(s));
    return {
      t: Number(field(l['frame'], 'frame.time_epoch')),
      src: field(ip, 'ip.src'),
      dst: field(ip, 'ip.dst'),
      proto: Number(field(ip, 'ip.proto')),
      hdrLen: Number(field(ip, 'ip.hdr_len')),
      totalLen: Number(field(ip, 'ip.len')),
      ttl: Number(field(ip, 'ip.ttl')),
      id: field(ip, 'ip.id'),
      ipChecksum: field(ip, 'ip.checksum.status'),
      udpChecksum: field(udp, 'udp.checksum.status'),
      ipHex: raw.slice(28),
      sport: num(field(udp, 'udp.srcport')),
      dport: num(field(udp, 'udp.dstport')),
      icmpType: num(field(icmp, 'icmp.type')),
      icmpCode: num(field(icmp, 'icmp.code')),
    };
  });
}

/** `ip:port` of a client as UOA writes it: port (2 bytes), then the IPv4 address (4 bytes). */
export function uoaBytes(ip: string, port: number): string {
  return port.toString(16).padStart(4, '0') + ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');
}

/** The UOA a datagram towards a real server carries, decoded from its raw bytes; null without. */
export interface UoaSeen {
  /** ipo: the IP option; opp: DPVS's protocol 248 header. */
  form: 'ipo' | 'opp';
  /** The bytes of the option (ipo) or the opp header (opp), hex. */
  bytes: string;
  client: string;
  port: number;
  /** The datagram's UDP source port (the director's local port). */
  lport: number;
}

/** Reads UOA off one packet's bytes: an 8-byte IP option of type 31, or an opp header. */
export function uoaOf(p: IpPacket): UoaSeen | null {
  const h = p.ipHex;
  const client = (x: string): string => [0, 2, 4, 6].map((i) => Number.parseInt(x.slice(i, i + 2), 16)).join('.');
  if (p.proto === 17 && p.hdrLen === 28 && h.slice(40, 44) === '1f08') {
    const o = h.slice(40, 56);
    return { form: 'ipo', bytes: o, port: Number.parseInt(o.slice(4, 8), 16), client: client(o.slice(8, 16)), lport: Number.parseInt(h.slice(56, 60), 16) };
  }
  if (p.proto === 248 && p.hdrLen === 20) {
    const o = h.slice(40, 64);
    const len = Number.parseInt(o.slice(4, 8), 16);
    const inner = o.slice(8);
    if (len !== 12 || inner.slice(0, 4) !== '1f08') return null;
    return { form: 'opp', bytes: o, port: Number.parseInt(inner.slice(4, 8), 16), client: client(inner.slice(8, 16)), lport: Number.parseInt(h.slice(64, 68), 16) };
  }
  return null;
}

/** Where the lab's UDP service lives (plan.ts), as the oracle needs it. */
export interface UdpPlan {
  vip: string;
  vport: number;
  lip: string;
  rport: number;
  rips: Record<string, string>;
}

/** What happened to one client flow (one local port) through the director, datagram by datagram. */
export interface UdpFlow {
  rs: string;
  /** The director's local port towards the real server. */
  lport: number;
  /** The client's address and port, from the UOA of the flow's first datagram. */
  client: string;
  cport: number;
  /** Per datagram towards the real server, in order: the UOA form it carries (null: none). */
  uoa: Array<'ipo' | 'opp' | null>;
  /** The UOA bytes of each datagram that carries it. */
  uoaBytes: string[];
  hdrLen: number[];
  /** Total length at the real server minus at the client, per datagram. */
  growth: number[];
  /** Per datagram: TTL, IP ID and DF as the client sent them. */
  ttlKept: boolean[];
  idKept: boolean[];
  ipChecksum: string[];
  /** UDP checksum verdict per datagram that is UDP at the real server. */
  udpChecksum: string[];
  /** ICMP protocol unreachable the real server sent back for this flow's datagrams. */
  protocolUnreachable: number;
  /** Replies at the client: their source (VIP:vport expected) and count. */
  replySources: string[];
}

/** Every client UDP flow through the director, read at the real servers and the client. */
export function udpFlows(captures: Record<string, string>, plan: UdpPlan): UdpFlow[] {
  const client = ipPackets(captures.client!, `ip.dst == ${plan.vip} && udp.dstport == ${plan.vport}`);
  const replies = ipPackets(captures.client!, `ip.src == ${plan.vip} && udp`);
  const flows: UdpFlow[] = [];
  for (const [rs, rip] of Object.entries(plan.rips)) {
    const all = ipPackets(captures[rs]!, `ip.src == ${plan.lip} && ip.dst == ${rip} && !icmp`);
    const icmp = ipPackets(captures[rs]!, `ip.src == ${rip} && icmp.type == 3 && icmp.code == 2`);
    const byLport = new Map<number, IpPacket[]>();
    for (const p of all) {
      const lport = p.sport ?? uoaOf(p)?.lport;
      if (lport === undefined || (p.proto === 17 && p.dport !== plan.rport)) continue;
      byLport.set(lport, [...(byLport.get(lport) ?? []), p]);
    }
    for (const [lport, ps] of byLport) {
      const first = uoaOf(ps[0]!);
      const cport = first?.port ?? -1;
      const sent = client.filter((p) => p.sport === cport && p.src === first?.client);
      flows.push({
        rs,
        lport,
        client: first?.client ?? '',
        cport,
        uoa: ps.map((p) => uoaOf(p)?.form ?? null),
        uoaBytes: ps.map((p) => uoaOf(p)?.bytes).filter((b): b is string => b !== undefined),
        hdrLen: ps.map((p) => p.hdrLen),
        growth: ps.map((p, i) => p.totalLen - (sent[i]?.totalLen ?? NaN)),
        ttlKept: ps.map((p, i) => p.ttl === sent[i]?.ttl),
        idKept: ps.map((p, i) => p.id === sent[i]?.id),
        ipChecksum: ps.map((p) => p.ipChecksum),
        udpChecksum: ps.filter((p) => p.proto === 17).map((p) => p.udpChecksum),
        // The ICMP error quotes the datagram's header, and with it the UOA that names the flow.
        protocolUnreachable: first ? icmp.filter((p) => p.ipHex.includes('1f08' + uoaBytes(first.client, cport))).length : 0,
        replySources: replies.filter((p) => p.dst === first?.client && p.dport === cport).map((p) => `${p.src}:${p.sport}`),
      });
    }
  }
  return flows;
}

/**
 * What every flow must show with `uoa_mode` mode and `uoa_max_trail` trail: the first `trail`
 * datagrams carry the client's address and port (and nothing else differs from the client's
 * datagram but the addresses, ports and that header), the rest are plain; ipo datagrams are all
 * answered from VIP:vport, opp ones die at a stock real server with ICMP protocol unreachable.
 */
export function expectedFlow(f: UdpFlow, mode: 'ipo' | 'opp', trail: number, datagrams: number, plan: UdpPlan): UdpFlow {
  const n = Array.from({ length: datagrams }, (_, i) => i);
  const carries = (i: number): boolean => i < trail;
  const opt = '1f08' + uoaBytes(f.client, f.cport);
  return {
    rs: f.rs,
    lport: f.lport,
    client: f.client,
    cport: f.cport,
    uoa: n.map((i) => (carries(i) ? mode : null)),
    uoaBytes: n.filter(carries).map(() => (mode === 'ipo' ? opt : '1011000c' + opt)),
    hdrLen: n.map((i) => (carries(i) && mode === 'ipo' ? 28 : 20)),
    growth: n.map((i) => (carries(i) ? (mode === 'ipo' ? 8 : 12) : 0)),
    ttlKept: n.map(() => true),
    idKept: n.map(() => true),
    ipChecksum: n.map(() => '1'),
    udpChecksum: n.filter((i) => mode === 'ipo' || !carries(i)).map(() => '1'),
    protocolUnreachable: mode === 'opp' ? Math.min(trail, datagrams) : 0,
    replySources: n.filter((i) => mode === 'ipo' || !carries(i)).map(() => `${plan.vip}:${plan.vport}`),
  };
}

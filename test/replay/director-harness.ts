/**
 * Test harness for the reference director: a service config in ipvsadm-save text, client and
 * RS frames built with the packet builder, and a checksum oracle written here (not the
 * project's) so expected values are computed independently of the code under test.
 */
import { PacketBuilder, type TcpOption } from '../../src/replay/builder/index.js';
import { ReferenceDirector, type DirectorOutput, type DirectorProfile } from '../../src/replay/director/index.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { decodeBytes } from '../../src/decode/decoder.js';
import type { Packet } from '../../src/decode/packet.js';

export const CIP = '198.51.100.7';
export const VIP = '192.0.2.10';
export const DIP = '10.0.0.1';
export const LIP = '10.0.0.100';
export const RIP1 = '10.0.0.11';
export const RIP2 = '10.0.0.12';
export const MAC = {
  client: '02:00:00:00:00:07',
  dir: '02:00:00:00:0d:01',
  dirRs: '02:00:00:00:0d:02',
  rs1: '02:00:00:00:00:11',
  rs2: '02:00:00:00:00:12',
};

export function director(conf: string, profile: DirectorProfile = 'linux', faults: string[] = [], mtu?: number): ReferenceDirector {
  return new ReferenceDirector({
    services: parseServiceConfig(conf, 'test.conf'),
    profile,
    macs: { director: MAC.dir, directorRs: MAC.dirRs, realServers: { [RIP1]: MAC.rs1, [RIP2]: MAC.rs2 } },
    directorIps: { dip: DIP, lips: [LIP] },
    faults,
    ...(mtu ? { mtu } : {}),
    seed: 42,
  });
}

export const natConf = (sched = 'rr', extra = '', w1 = 1, w2 = 1): string =>
  `-A -t ${VIP}:80 -s ${sched}${extra}\n-a -t ${VIP}:80 -r ${RIP1}:8080 -m -w ${w1}\n-a -t ${VIP}:80 -r ${RIP2}:8080 -m -w ${w2}\n`;
export const drConf = (sw = '-g'): string => `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r ${RIP1}:80 ${sw} -w 1\n-a -t ${VIP}:80 -r ${RIP2}:80 ${sw} -w 1\n`;
export const fnatConf = (): string => `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r ${RIP1}:8080 -b -w 1\n-a -t ${VIP}:80 -r ${RIP2}:8080 -b -w 1\n-P -t ${VIP}:80 -z ${LIP}\n`;

export interface Seg {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags: string;
  ttl?: number;
  id?: number;
  df?: boolean;
  tos?: number;
  options?: TcpOption[];
  payload?: Buffer | string;
  checksum?: number;
}

/** Client → VIP frame. */
export function fromClient(s: Seg): Buffer {
  const b = PacketBuilder.eth({ src: MAC.client, dst: MAC.dir })
    .ipv4({ src: s.src ?? CIP, dst: s.dst ?? VIP, ttl: s.ttl ?? 64, id: s.id ?? 0x1234, df: s.df ?? true, tos: s.tos ?? 0 })
    .tcp({
      sport: s.sport ?? 40000,
      dport: s.dport ?? 80,
      seq: s.seq ?? 1000,
      ack: s.ack ?? 0,
      flags: s.flags,
      options: s.options ?? [],
      ...(s.checksum !== undefined ? { checksum: s.checksum } : {}),
    });
  if (s.payload !== undefined) b.payload(s.payload);
  return b.build();
}

/** RS → director frame (NAT: to CIP; FullNAT: to LIP). */
export function fromRs(s: Seg & { src: string; dst: string; rsMac?: string }): Buffer {
  const b = PacketBuilder.eth({ src: s.rsMac ?? MAC.rs1, dst: MAC.dirRs })
    .ipv4({ src: s.src, dst: s.dst, ttl: s.ttl ?? 64, id: s.id ?? 0x4321, df: s.df ?? true })
    .tcp({ sport: s.sport ?? 8080, dport: s.dport ?? 40000, seq: s.seq ?? 5000, ack: s.ack ?? 0, flags: s.flags, options: s.options ?? [] });
  if (s.payload !== undefined) b.payload(s.payload);
  return b.build();
}

export function dec(o: DirectorOutput | Buffer): Packet {
  return decodeBytes(Buffer.isBuffer(o) ? o : o.frame, 1);
}

export function mac(b: Buffer, off: number): string {
  return [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

// ------------------------------------------------------------------ independent checksum oracle

function sum(b: Buffer, start: number, end: number, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  return acc;
}
function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

/** True when the IPv4 header at `ip` sums to 0xffff. */
export function ipv4Valid(f: Buffer, ip = 14): boolean {
  const ihl = (f[ip]! & 15) * 4;
  return fold(sum(f, ip, ip + ihl)) === 0xffff;
}

/** The TCP/UDP checksum the segment in the IPv4 packet at `ip` should carry. */
export function l4Expected(f: Buffer, ip = 14): number {
  const ihl = (f[ip]! & 15) * 4;
  const tot = f.readUInt16BE(ip + 2);
  const proto = f[ip + 9]!;
  const l4 = ip + ihl;
  const len = tot - ihl;
  const field = l4 + (proto === 6 ? 16 : 6);
  const copy = Buffer.from(f);
  copy.writeUInt16BE(0, field);
  let acc = sum(copy, ip + 12, ip + 20) + proto + len;
  acc = sum(copy, l4, l4 + len, acc);
  const c = ~fold(acc) & 0xffff;
  return proto === 17 && c === 0 ? 0xffff : c;
}

export function l4Valid(f: Buffer, ip = 14): boolean {
  const ihl = (f[ip]! & 15) * 4;
  const field = ip + ihl + (f[ip + 9] === 6 ? 16 : 6);
  return f.readUInt16BE(field) === l4Expected(f, ip);
}

/** Raw TCP option bytes of the segment in the IPv4 packet at `ip`. */
export function tcpOptionBytes(f: Buffer, ip = 14): Buffer {
  const l4 = ip + (f[ip]! & 15) * 4;
  const hl = (f[l4 + 12]! >> 4) * 4;
  return f.subarray(l4 + 20, l4 + hl);
}

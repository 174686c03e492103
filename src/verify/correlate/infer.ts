/**
 * Service inference when no configuration is given (cli.md "verify": "VIP = the address the
 * client talks to, real servers = where the director forwards"). The result is marked inferred
 * and printed, and the scheduling rules (which need weights and the scheduler) are then not
 * evaluated.
 */
import type { ForwardMethod, RealServer, Service } from '../service/model.js';
import type { LoadedPoint } from '../read/points.js';
import { inferFullnat } from './fnat-infer.js';
import { isSyn } from '../../decode/proto/tcp.js';

function topKey<T>(counts: Map<string, { n: number; v: T }>): T | null {
  let best: { n: number; v: T } | null = null;
  for (const e of counts.values()) if (!best || e.n > best.n) best = e;
  return best ? best.v : null;
}

/** Infers one service (the VIP:port most client SYNs go to); null when no SYN was captured. */
export function inferService(points: readonly LoadedPoint[], rsIpByMac: ReadonlyMap<string, string>): Service | null {
  const order = ['client', 'director', 'rs'] as const;
  let vip: { ip: string; port: number; v: 4 | 6 } | null = null;
  for (const kind of order) {
    const counts = new Map<string, { n: number; v: { ip: string; port: number; v: 4 | 6 } }>();
    for (const p of points) {
      if (p.kind !== kind) continue;
      for (const r of p.records) {
        if (!isSyn(r) || r.outer) continue;
        const k = `${r.ip.dst}|${r.dport}`;
        const e = counts.get(k);
        if (e) e.n++;
        else counts.set(k, { n: 1, v: { ip: r.ip.dst, port: r.dport, v: r.ip.v } });
      }
    }
    vip = topKey(counts);
    if (vip) break;
  }
  if (!vip) return null;
  const clients = new Set<string>();
  for (const p of points) for (const r of p.records) if (r.ip.dst === vip.ip && r.dport === vip.port) clients.add(`${r.ip.src}|${r.sport}`);
  const rs = new Map<string, RealServer>();
  const add = (ip: string, port: number, method: ForwardMethod): void => {
    if (!rs.has(ip)) rs.set(ip, { ip, port, weight: 1, method });
  };
  const dirMacs = new Set<string>();
  for (const p of points) {
    if (p.kind !== 'director') continue;
    for (const r of p.records) if (r.ip.dst === vip.ip && !r.outer && isSyn(r) && r.dstMac) dirMacs.add(r.dstMac);
  }
  for (const p of points) {
    for (const r of p.records) {
      if (!isSyn(r) || !clients.has(`${r.ip.src}|${r.sport}`)) continue;
      if (r.outer) add(r.outer.dst, vip.port, 'tun');
      else if (r.ip.dst !== vip.ip) add(r.ip.dst, r.dport, 'nat');
      else if (p.kind === 'rs' && p.rsIp) add(p.rsIp, vip.port, 'dr');
      else if (p.kind === 'director' && r.dstMac && !dirMacs.has(r.dstMac)) {
        const ip = rsIpByMac.get(r.dstMac);
        if (ip) add(ip, vip.port, 'dr');
      }
    }
  }
  let realServers = [...rs.values()];
  let localAddresses: string[] = [];
  // No client SYN left toward a RIP: a FullNAT director sends it from a local address.
  const fnat = realServers.length === 0 ? inferFullnat(points, vip.ip, vip.port) : null;
  if (fnat) ({ realServers, localAddresses } = fnat);
  const methods = new Set(realServers.map((x) => x.method));
  return {
    protocol: 'tcp',
    vip: vip.ip,
    vport: vip.port,
    family: vip.v,
    scheduler: 'unknown',
    schedFlags: [],
    persistenceTimeout: null,
    persistenceMask: null,
    method: methods.size === 1 ? [...methods][0]! : null,
    realServers,
    localAddresses,
    synproxy: false,
    ops: false,
    source: { file: '(inferred from traffic)', line: 0 },
  };
}

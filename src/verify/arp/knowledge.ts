/**
 * What the engine learns from the whole stream before judging: the VIPs (given or inferred),
 * the director MACs per VIP (given or inferred, always with the reason), and who each MAC is
 * (the non-VIP addresses it claims in ARP), so a hint can say "real server 10.0.0.11 (MAC)".
 */
import { ipv4ToString, parseIpv4 } from '../../decode/addr.js';
import type { ArpRecord, IpAgg } from './records.js';
import { macText } from './mac.js';
import type { DirectorInference, VipInfo } from './types.js';

export interface Knowledge {
  vips: VipInfo[];
  vipSet: Set<number>;
  directors: DirectorInference[];
  /** VIP → director MACs (empty set when not inferable). */
  directorsOf: Map<number, Set<number>>;
  /** Every director MAC of every VIP: a director of one VIP may legitimately claim another. */
  allDirectors: Set<number>;
  /** MAC → non-VIP IPv4 addresses it claimed as ARP sender (its own addresses). */
  ownIps: Map<number, Set<number>>;
  /** Configured RIPs. */
  realServers: Set<number>;
  /** MACs a director forwards VIP traffic to: real servers, even when their RIP is never seen. */
  forwardedTo: Set<number>;
  /** IP → MACs that sent ARP with that sender IP. */
  claimants: Map<number, Set<number>>;
  /** MACs that claimed a configured RIP. */
  rsMacs: Set<number>;
}

export interface KnowledgeInput {
  arp: readonly ArpRecord[];
  aggs: readonly IpAgg[];
  givenVips: ReadonlyMap<number, VipInfo['source']>;
  directorMacs: readonly number[];
  realServers: Set<number>;
  directorPoint: string;
  pointMacs: ReadonlyMap<string, ReadonlyMap<number, number>>;
}

/** The MAC in most unicast frames of a capture point, among `among` when given; null on a tie
 *  (a capture of only two hosts talking cannot say which one it was taken on). */
export function hostMacOf(counts: ReadonlyMap<number, number> | undefined, among?: ReadonlySet<number>): number | null {
  let best: number | null = null;
  let bestN = 0;
  let tie = false;
  for (const [mac, n] of counts ?? []) {
    if (among && !among.has(mac)) continue;
    if (n > bestN) {
      best = mac;
      bestN = n;
      tie = false;
    } else if (n === bestN) tie = true;
  }
  return tie ? null : best;
}

function add<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

export function learn(input: KnowledgeInput): Knowledge {
  const claimants = new Map<number, Set<number>>(); // IP → MACs that sent ARP with spa = IP
  for (const r of input.arp) if (!r.probe && r.spa !== 0) add(claimants, r.spa, r.sha);

  // IP → MACs that received / emitted unicast IPv4 frames to that IP; forwarders seen at the
  // director point are kept apart because that is the strongest evidence.
  const receivers = new Map<number, Set<number>>();
  const emitters = new Map<number, Set<number>>();
  const emittersAtDirector = new Map<number, Set<number>>();
  for (const a of input.aggs) {
    add(receivers, a.dst, a.dstMac);
    add(emitters, a.dst, a.srcMac);
    if (a.points.has(input.directorPoint)) add(emittersAtDirector, a.dst, a.srcMac);
  }

  // VIPs: given/config ones, plus addresses a MAC claims in ARP *and* sends IPv4 frames to —
  // a host never puts its own address on the wire as destination unless it forwards that
  // traffic, which is what a DR/TUN director does with the VIP.
  const vips: VipInfo[] = [...input.givenVips].map(([ip, source]) => ({ ip: ipv4ToString(ip), source }));
  const vipSet = new Set(input.givenVips.keys());
  if (vipSet.size === 0) {
    for (const [ip, macs] of claimants) {
      const out = emitters.get(ip);
      if (out && [...macs].some((m) => out.has(m))) {
        vipSet.add(ip);
        vips.push({ ip: ipv4ToString(ip), source: 'inferred' });
      }
    }
  }

  const ownIps = new Map<number, Set<number>>();
  for (const r of input.arp) if (!r.probe && r.spa !== 0 && !vipSet.has(r.spa)) add(ownIps, r.sha, r.spa);
  // A capture point named rs:RIP was taken on that real server: the MAC that receives the VIP
  // traffic there (DR), else the capture's host MAC, owns the RIP.
  for (const [point, counts] of input.pointMacs) {
    const m = /^rs:(\d+\.\d+\.\d+\.\d+)$/.exec(point);
    const rip = m ? parseIpv4(m[1]!) : null;
    if (rip === null) continue;
    const vipRx = new Map<number, number>();
    for (const a of input.aggs) if (vipSet.has(a.dst) && a.points.has(point)) vipRx.set(a.dstMac, (vipRx.get(a.dstMac) ?? 0) + a.frames);
    const mac = hostMacOf(vipRx) ?? hostMacOf(counts);
    if (mac !== null) add(ownIps, mac, rip);
  }
  const directorCounts = input.pointMacs.get(input.directorPoint);
  const rsMacs = new Set<number>();
  for (const [mac, ips] of ownIps) for (const ip of ips) if (input.realServers.has(ip)) rsMacs.add(mac);

  const directors: DirectorInference[] = [];
  const directorsOf = new Map<number, Set<number>>();
  const allDirectors = new Set<number>();
  for (const vip of vipSet) {
    const inf = inferDirectors(vip);
    directorsOf.set(vip, inf.macs);
    for (const m of inf.macs) allDirectors.add(m);
    directors.push({
      vip: ipv4ToString(vip),
      macs: [...inf.macs].map(macText),
      method: inf.method,
      reason: inf.reason,
    });
  }

  function inferDirectors(vip: number): { macs: Set<number>; method: DirectorInference['method']; reason: string } {
    if (input.directorMacs.length > 0) {
      return { macs: new Set(input.directorMacs), method: 'given', reason: 'given with --director-mac' };
    }
    const owners = new Set<number>([...(claimants.get(vip) ?? []), ...(receivers.get(vip) ?? [])]);
    const atDirector = [...owners].filter((m) => emittersAtDirector.get(vip)?.has(m));
    if (atDirector.length > 0) {
      return {
        macs: new Set(atDirector),
        method: 'director-capture',
        reason: `answers for / receives traffic to ${ipv4ToString(vip)} and forwards it on (seen in the ${input.directorPoint} capture)`,
      };
    }
    const directorHost = hostMacOf(directorCounts, owners);
    if (directorHost !== null) {
      return {
        macs: new Set([directorHost]),
        method: 'director-capture',
        reason: `of the MACs claiming ${ipv4ToString(vip)}, the one in most unicast frames of the ${input.directorPoint} capture (the capture's own host)`,
      };
    }
    const forwarders = [...owners].filter((m) => emitters.get(vip)?.has(m));
    if (forwarders.length > 0) {
      return {
        macs: new Set(forwarders),
        method: 'forwarding',
        reason: `answers for / receives traffic to ${ipv4ToString(vip)} and forwards it to other hosts`,
      };
    }
    const notRs = [...owners].filter((m) => !rsMacs.has(m));
    if (rsMacs.size > 0 && notRs.length === 1) {
      return {
        macs: new Set(notRs),
        method: 'not-a-real-server',
        reason: `the only MAC claiming ${ipv4ToString(vip)} that does not belong to a configured real server`,
      };
    }
    if (owners.size === 1) {
      return {
        macs: owners,
        method: 'sole-claimant',
        reason: `the only MAC that claims or receives ${ipv4ToString(vip)} (no forwarding seen: pass --director-mac to be sure)`,
      };
    }
    return {
      macs: new Set(),
      method: 'none',
      reason:
        owners.size === 0
          ? `no ARP for ${ipv4ToString(vip)} and no traffic to it`
          : `${owners.size} MACs claim ${ipv4ToString(vip)} and none is seen forwarding: pass --director-mac`,
    };
  }

  const forwardedTo = new Set<number>();
  for (const a of input.aggs) if (vipSet.has(a.dst) && allDirectors.has(a.srcMac) && !allDirectors.has(a.dstMac)) forwardedTo.add(a.dstMac);

  return { vips, vipSet, directors, directorsOf, allDirectors, ownIps, realServers: input.realServers, forwardedTo, claimants, rsMacs };
}

/** "real server 10.0.0.11 (02:..)", "host 10.0.0.9 (02:..)" or "host 02:.. (address unknown)". */
export function describeMac(k: Knowledge, mac: number): string {
  const ips = [...(k.ownIps.get(mac) ?? [])];
  const rs = ips.find((ip) => k.realServers.has(ip));
  if (rs !== undefined) return `real server ${ipv4ToString(rs)} (${macText(mac)})`;
  if (ips.length > 0) {
    const label = k.realServers.size === 0 ? 'host (likely a real server)' : 'host';
    return `${label} ${ips.map(ipv4ToString).join(', ')} (${macText(mac)})`;
  }
  if (k.forwardedTo.has(mac)) return `real server ${macText(mac)} (the director forwards VIP traffic to it; its RIP was not seen in ARP)`;
  return `host ${macText(mac)} (its own address was not seen in ARP)`;
}

/** Short name for hints: the RS address when known, else the MAC. */
export function shortName(k: Knowledge, mac: number): string {
  const ips = [...(k.ownIps.get(mac) ?? [])];
  const rs = ips.find((ip) => k.realServers.has(ip)) ?? ips[0];
  return rs !== undefined ? `${ipv4ToString(rs)} (${macText(mac)})` : macText(mac);
}

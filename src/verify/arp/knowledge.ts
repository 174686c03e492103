/**
 * What the engine learns from the whole stream before judging: the VIPs (given or inferred),
 * the director MACs per VIP (given or inferred, always with the reason), and who each MAC is
 * (the non-VIP addresses it claims in ARP), so a hint can say "real server 10.0.0.11 (MAC)".
 *
 * Roles come from the traffic when nobody names them. In DR and TUN a real server sends the
 * service's replies itself, from the VIP with its own MAC and an initial TTL, and the director
 * never does (lvs-behavior.md §2, §3): so a MAC that claims the VIP and also sends those replies
 * is a real server, and another MAC claiming the VIP is the director. A NAT director sends the
 * replies too, but forwarded (TTL one lower), so it is never taken for a real server.
 */
import type { Evidence } from '../model/findings.js';
import { isV6Key, type AddressBook } from './addr.js';
import type { ArpRecord, IpAgg, ReplyAgg } from './records.js';
import { macText } from './mac.js';
import type { DirectorInference, RoleInference, VipInfo } from './types.js';

export interface Knowledge {
  /** Address keys ↔ text (both families). */
  addrs: AddressBook;
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
  /** MACs that send a VIP's replies themselves (not forwarded): real servers of DR/TUN. */
  vipServers: Map<number, ReplyAgg[]>;
  /** Every role found, with how and how sure (printed). */
  roles: RoleInference[];
}

export interface KnowledgeInput {
  addrs: AddressBook;
  arp: readonly ArpRecord[];
  aggs: readonly IpAgg[];
  replies: readonly ReplyAgg[];
  givenVips: ReadonlyMap<number, VipInfo['source']>;
  directorMacs: readonly number[];
  directorIps: ReadonlySet<number>;
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

/** Most of its frames left the sender with an initial TTL: it sent them, nobody forwarded them. */
const sentItself = (r: ReplyAgg): boolean => r.unforwarded * 2 > r.frames;

const evidenceOf = (w: { capture: string; frame: number; point: string }, note: string): Evidence => ({
  capture: w.capture,
  frame: w.frame,
  point: w.point,
  note,
});

export function learn(input: KnowledgeInput): Knowledge {
  const text = (a: number): string => input.addrs.text(a);
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
  const vips: VipInfo[] = [...input.givenVips].map(([ip, source]) => ({ ip: text(ip), source }));
  const vipSet = new Set(input.givenVips.keys());
  if (vipSet.size === 0) {
    for (const [ip, macs] of claimants) {
      const out = emitters.get(ip);
      if (out && [...macs].some((m) => out.has(m))) {
        vipSet.add(ip);
        vips.push({ ip: text(ip), source: 'inferred' });
      }
    }
  }

  const ownIps = new Map<number, Set<number>>();
  for (const r of input.arp) if (!r.probe && r.spa !== 0 && !vipSet.has(r.spa)) add(ownIps, r.sha, r.spa);
  // A capture point named rs:RIP was taken on that real server: the MAC that receives the VIP
  // traffic there (DR), else the capture's host MAC, owns the RIP.
  for (const [point, counts] of input.pointMacs) {
    const m = /^rs:(.+)$/.exec(point);
    const rip = m ? input.addrs.parse(m[1]!) : null;
    if (rip === null) continue;
    const vipRx = new Map<number, number>();
    for (const a of input.aggs) if (vipSet.has(a.dst) && a.points.has(point)) vipRx.set(a.dstMac, (vipRx.get(a.dstMac) ?? 0) + a.frames);
    const mac = hostMacOf(vipRx) ?? hostMacOf(counts);
    if (mac !== null) add(ownIps, mac, rip);
  }
  const directorCounts = input.pointMacs.get(input.directorPoint);
  const rsMacs = new Set<number>();
  for (const [mac, ips] of ownIps) for (const ip of ips) if (input.realServers.has(ip)) rsMacs.add(mac);

  // Real servers by their replies: per VIP, the MACs sending its replies themselves.
  const vipServers = new Map<number, ReplyAgg[]>();
  const serversOf = new Map<number, Set<number>>();
  for (const r of input.replies) {
    if (!vipSet.has(r.vip) || !sentItself(r)) continue;
    const list = vipServers.get(r.srcMac);
    if (list) list.push(r);
    else vipServers.set(r.srcMac, [r]);
    add(serversOf, r.vip, r.srcMac);
  }
  const directorIpMacs = new Set<number>();
  for (const [mac, ips] of ownIps) for (const ip of ips) if (input.directorIps.has(ip)) directorIpMacs.add(mac);

  const directors: DirectorInference[] = [];
  const directorsOf = new Map<number, Set<number>>();
  const allDirectors = new Set<number>();
  for (const vip of vipSet) {
    const inf = inferDirectors(vip);
    directorsOf.set(vip, inf.macs);
    for (const m of inf.macs) allDirectors.add(m);
    directors.push({
      vip: text(vip),
      macs: [...inf.macs].map(macText),
      method: inf.method,
      reason: inf.reason,
    });
  }

  function inferDirectors(vip: number): { macs: Set<number>; method: DirectorInference['method']; reason: string } {
    if (input.directorMacs.length > 0) {
      return { macs: new Set(input.directorMacs), method: 'given', reason: 'given with --director-mac' };
    }
    if (directorIpMacs.size > 0) {
      return {
        macs: new Set(directorIpMacs),
        method: 'director-ip',
        reason: `claims ${[...input.directorIps].map(text).join(', ')} (--director-ip) in ${isV6Key(vip) ? 'neighbor discovery' : 'ARP'}`,
      };
    }
    const owners = new Set<number>([...(claimants.get(vip) ?? []), ...(receivers.get(vip) ?? [])]);
    const atDirector = [...owners].filter((m) => emittersAtDirector.get(vip)?.has(m));
    if (atDirector.length > 0) {
      return {
        macs: new Set(atDirector),
        method: 'director-capture',
        reason: `answers for / receives traffic to ${text(vip)} and forwards it on (seen in the ${input.directorPoint} capture)`,
      };
    }
    const directorHost = hostMacOf(directorCounts, owners);
    if (directorHost !== null) {
      return {
        macs: new Set([directorHost]),
        method: 'director-capture',
        reason: `of the MACs claiming ${text(vip)}, the one in most unicast frames of the ${input.directorPoint} capture (the capture's own host)`,
      };
    }
    const forwarders = [...owners].filter((m) => emitters.get(vip)?.has(m));
    if (forwarders.length > 0) {
      return {
        macs: new Set(forwarders),
        method: 'forwarding',
        reason: `answers for / receives traffic to ${text(vip)} and forwards it to other hosts`,
      };
    }
    const servers = serversOf.get(vip);
    if (servers && servers.size > 0) {
      // Only a MAC that claims the VIP in ARP: frames to the VIP also reach real servers (the
      // director's own forwarding, a switch flooding), so receiving them says nothing.
      const others = [...(claimants.get(vip) ?? [])].filter((m) => !servers.has(m) && !rsMacs.has(m));
      const ttl = isV6Key(vip) ? 'hop limit' : 'TTL';
      const serverText = [...servers].map((m) => `${macText(m)} (${ttl} ${vipServers.get(m)!.find((r) => r.vip === vip)!.firstTtl})`).join(', ');
      if (others.length > 0) {
        return {
          macs: new Set(others),
          method: 'not-the-server',
          reason:
            `${serverText} send${servers.size === 1 ? 's' : ''} the service's replies from ${text(vip)} itself, not forwarded: ` +
            `${servers.size === 1 ? 'a real server' : 'real servers'}; the other MAC${others.length === 1 ? '' : 's'} claiming ${text(vip)} ${others.length === 1 ? 'is the director' : 'are directors'}`,
        };
      }
    }
    // A MAC that only receives VIP traffic and is known by another address is the client's
    // gateway (a client behind a router sends everything to it), not a director.
    const handing = handsToRealServers(vip);
    if (handing !== null) return handing;
    // Receiving VIP traffic only counts where a client sends it (a client capture): on the real
    // servers' segment the receivers are whom the director forwards to, or a switch floods to.
    // And where the real servers get the VIP traffic from another MAC, the one the client sends
    // it to is a router between them (the director hands it on with its own MAC, §1.3).
    const clientSideReceivers = new Set<number>();
    const serverMacs = new Set<number>([...rsMacs, ...(serversOf.get(vip) ?? [])]);
    const handersToServers = new Set<number>();
    for (const a of input.aggs) {
      if (a.dst !== vip) continue;
      if (a.points.has('client')) clientSideReceivers.add(a.dstMac);
      if (serverMacs.has(a.dstMac) && !serverMacs.has(a.srcMac)) handersToServers.add(a.srcMac);
    }
    const notRs = [...owners].filter(
      (m) =>
        !rsMacs.has(m) &&
        (claimants.get(vip)?.has(m) === true ||
          (clientSideReceivers.has(m) && !ownIps.has(m) && (handersToServers.size === 0 || handersToServers.has(m)))),
    );
    if (rsMacs.size > 0 && notRs.length === 1) {
      return {
        macs: new Set(notRs),
        method: 'not-a-real-server',
        reason: `the only MAC claiming ${text(vip)} that does not belong to a configured real server`,
      };
    }
    if (owners.size === 1 && servers?.has([...owners][0]!)) {
      return {
        macs: new Set(),
        method: 'none',
        reason:
          `the only MAC claiming or receiving ${text(vip)} sends the service's replies itself: the VIP is served without a ` +
          `director here, or a real server took it over (pass --director-mac)`,
      };
    }
    const claiming = claimants.get(vip);
    if (owners.size === 1 && !claiming?.size) {
      const only = [...owners][0]!;
      return {
        macs: new Set(),
        method: 'none',
        reason:
          `traffic to ${text(vip)} goes to ${macText(only)}, which never claims it in ${isV6Key(vip) ? 'neighbor discovery' : 'ARP'}: ` +
          `a gateway, so the VIP is on another segment; its ${isV6Key(vip) ? 'neighbor discovery' : 'ARP'} can only be judged from a capture on the VIP's own segment`,
      };
    }
    if (owners.size === 1) {
      return {
        macs: owners,
        method: 'sole-claimant',
        reason: `the only MAC that claims or receives ${text(vip)} (no forwarding seen: pass --director-mac to be sure)`,
      };
    }
    return {
      macs: new Set(),
      method: 'none',
      reason:
        owners.size === 0
          ? `no ${isV6Key(vip) ? 'neighbor discovery' : 'ARP'} for ${text(vip)} and no traffic to it`
          : `${owners.size} MACs claim or receive ${text(vip)}, none is seen forwarding and none sends the service's replies itself: pass --director-mac`,
    };
  }

  /**
   * DR: on the real servers' segment the clients' traffic for the VIP reaches a real server from
   * the director's MAC (lvs-behavior.md §1.3: only the destination MAC is rewritten). A host
   * whose neighbor cache is poisoned also sends VIP traffic to a real server, from its own MAC;
   * but to the one it learnt (two while the cache flips), while the director spreads connections
   * over all of them. So a MAC counts as the director here only when it hands VIP traffic to two
   * or more known real servers and is no client: not a sender at a client capture point, and no
   * owner of the source addresses it sends from.
   */
  function handsToRealServers(vip: number): { macs: Set<number>; method: DirectorInference['method']; reason: string } | null {
    const servers = new Set<number>([...rsMacs, ...(serversOf.get(vip) ?? [])]);
    if (servers.size < 2) return null;
    const clients = new Set<number>();
    for (const a of input.aggs) {
      if (a.dst !== vip) continue;
      const own = ownIps.get(a.srcMac);
      if (a.points.has('client') || (own !== undefined && [...a.srcIps].some((ip) => own.has(ip)))) clients.add(a.srcMac);
    }
    const handed = new Map<number, Set<number>>();
    for (const a of input.aggs) {
      if (a.dst !== vip || !servers.has(a.dstMac) || servers.has(a.srcMac) || clients.has(a.srcMac)) continue;
      const to = handed.get(a.srcMac) ?? new Set<number>();
      to.add(a.dstMac);
      handed.set(a.srcMac, to);
    }
    const sure = [...handed].filter(([, to]) => to.size >= 2);
    if (sure.length === 0) return null;
    return {
      macs: new Set(sure.map(([m]) => m)),
      method: 'hands-to-real-servers',
      reason: `${sure.map(([m, to]) => `${macText(m)} sends the clients' traffic for ${text(vip)} to ${to.size} real servers`).join('; ')}, and is no client: a DR director`,
    };
  }

  const forwardedTo = new Set<number>();
  for (const a of input.aggs) if (vipSet.has(a.dst) && allDirectors.has(a.srcMac) && !allDirectors.has(a.dstMac)) forwardedTo.add(a.dstMac);

  const k: Knowledge = {
    addrs: input.addrs,
    vips,
    vipSet,
    directors,
    directorsOf,
    allDirectors,
    ownIps,
    realServers: input.realServers,
    forwardedTo,
    claimants,
    rsMacs,
    vipServers,
    roles: [],
  };
  k.roles = rolesOf(k, input);
  return k;
}

const CONFIDENCE: Record<DirectorInference['method'], RoleInference['confidence']> = {
  given: 'certain',
  'director-ip': 'certain',
  'director-capture': 'certain',
  forwarding: 'likely',
  'not-the-server': 'likely',
  'not-a-real-server': 'likely',
  'hands-to-real-servers': 'likely',
  'sole-claimant': 'guess',
  none: 'guess',
};

/** The roles table of the report: directors per VIP, real servers, routers, each with its reason. */
function rolesOf(k: Knowledge, input: KnowledgeInput): RoleInference[] {
  const text = (a: number): string => k.addrs.text(a);
  const ipsOf = (mac: number): string[] => [...(k.ownIps.get(mac) ?? [])].map(text);
  const out: RoleInference[] = [];
  const claimOf = (mac: number, ip: number): ArpRecord | undefined => input.arp.find((r) => r.sha === mac && r.spa === ip && !r.probe);
  const handedEvidence = (mac: number, vip: number): Evidence[] => {
    const a = input.aggs.find((x) => x.srcMac === mac && x.dst === vip && k.rsMacs.has(x.dstMac));
    return a ? [evidenceOf(a.first, `to ${text(vip)}, handed to ${macText(a.dstMac)}`)] : [];
  };
  for (const d of k.directors) {
    if (d.method === 'none') continue;
    const vip = k.addrs.parse(d.vip)!;
    for (const mac of k.directorsOf.get(vip) ?? []) {
      const claim = claimOf(mac, vip);
      out.push({
        mac: macText(mac),
        role: 'director',
        ips: ipsOf(mac),
        vip: d.vip,
        how: d.method === 'given' || d.method === 'director-ip' ? 'given' : d.method === 'not-a-real-server' ? 'config' : 'inferred',
        confidence: CONFIDENCE[d.method],
        reason: d.reason,
        evidence: claim ? [evidenceOf(claim, `${d.vip} is-at ${macText(mac)}`)] : handedEvidence(mac, vip),
      });
    }
  }
  const seen = new Set<number>();
  for (const mac of k.rsMacs) {
    seen.add(mac);
    const rip = [...(k.ownIps.get(mac) ?? [])].find((ip) => k.realServers.has(ip))!;
    const claim = claimOf(mac, rip);
    out.push({
      mac: macText(mac),
      role: 'real-server',
      ips: ipsOf(mac),
      how: 'config',
      confidence: 'certain',
      reason: `claims ${text(rip)}, a real server of the configuration`,
      evidence: claim ? [evidenceOf(claim, `${text(rip)} is-at ${macText(mac)}`)] : [],
    });
  }
  for (const [mac, replies] of k.vipServers) {
    if (seen.has(mac) || k.allDirectors.has(mac)) continue;
    seen.add(mac);
    const r = replies[0]!;
    out.push({
      mac: macText(mac),
      role: 'real-server',
      ips: ipsOf(mac),
      vip: text(r.vip),
      how: 'inferred',
      confidence: 'likely',
      reason: `sends the service's replies from ${text(r.vip)} itself (${replies.reduce((n, x) => n + x.frames, 0)} frames, ${isV6Key(r.vip) ? 'hop limit' : 'TTL'} ${r.firstTtl}: not forwarded)`,
      evidence: [evidenceOf(r.first, `first frame from ${text(r.vip)} sent by ${macText(mac)}`)],
    });
  }
  for (const mac of k.forwardedTo) {
    if (seen.has(mac)) continue;
    seen.add(mac);
    out.push({
      mac: macText(mac),
      role: 'real-server',
      ips: ipsOf(mac),
      how: 'inferred',
      confidence: 'likely',
      reason: 'the director forwards VIP traffic to it',
      evidence: [],
    });
  }
  // Routers: a MAC sending VIP traffic, from addresses it does not claim, to a MAC that holds
  // the VIP forwards for others (frames it sends to a real server make it a director instead).
  const routers = new Map<number, IpAgg>();
  for (const a of input.aggs) {
    if (!k.vipSet.has(a.dst) || k.allDirectors.has(a.srcMac) || seen.has(a.srcMac)) continue;
    if (!k.allDirectors.has(a.dstMac) && !k.claimants.get(a.dst)?.has(a.dstMac)) continue;
    const own = k.ownIps.get(a.srcMac);
    if (own && own.size > 0 && [...a.srcIps].some((ip) => !own.has(ip))) routers.set(a.srcMac, a);
  }
  for (const [mac, a] of routers) {
    const own = k.ownIps.get(mac)!;
    out.push({
      mac: macText(mac),
      role: 'router',
      ips: ipsOf(mac),
      how: 'inferred',
      confidence: 'likely',
      reason: `sends VIP traffic from ${[...a.srcIps].filter((ip) => !own.has(ip)).map(text).join(', ')}, addresses it does not claim`,
      evidence: [evidenceOf(a.first, `first frame to ${text(a.dst)} from ${macText(mac)}`)],
    });
  }
  return out;
}

/** "real server 10.0.0.11 (02:..)", "host 10.0.0.9 (02:..)" or "host 02:.. (address unknown)". */
export function describeMac(k: Knowledge, mac: number): string {
  const ips = [...(k.ownIps.get(mac) ?? [])];
  const rs = ips.find((ip) => k.realServers.has(ip));
  if (rs !== undefined) return `real server ${k.addrs.text(rs)} (${macText(mac)})`;
  const serves = k.vipServers.get(mac);
  if (ips.length > 0) {
    const label = serves ? 'real server' : k.realServers.size === 0 ? 'host (likely a real server)' : 'host';
    return `${label} ${ips.map((ip) => k.addrs.text(ip)).join(', ')} (${macText(mac)})`;
  }
  if (serves) return `real server ${macText(mac)} (it sends the service's replies from ${k.addrs.text(serves[0]!.vip)} itself; its own address was not seen)`;
  if (k.forwardedTo.has(mac)) return `real server ${macText(mac)} (the director forwards VIP traffic to it; its RIP was not seen in ARP)`;
  return `host ${macText(mac)} (its own address was not seen in ARP)`;
}

/** Short name for hints: the RS address when known, else the MAC. */
export function shortName(k: Knowledge, mac: number): string {
  const ips = [...(k.ownIps.get(mac) ?? [])];
  const rs = ips.find((ip) => k.realServers.has(ip)) ?? ips[0];
  return rs !== undefined ? `${k.addrs.text(rs)} (${macText(mac)})` : macText(mac);
}

/**
 * Every rule id of rules.md with the facts the engine and the reporters need: severity,
 * the capture points a rule cannot do without, and the forwarding methods it applies to.
 * The summary table lists every rule of the run's methods from here, and a rule whose points
 * are missing is reported as not evaluated with the reason (never as passed).
 *
 * `RuleId` is derived from this list, so a rule id written anywhere else (a rule function's
 * table key, a finding) that is not here does not compile; the rule functions take their
 * points from here too (judge/rules/common.ts needsOf), so the two cannot disagree.
 */
import type { ForwardMethod } from '../service/model.js';

/** How serious a finding of a rule is (the exit code hangs on 'error', cli.md). */
export type Severity = 'error' | 'warning' | 'info';

export type PointNeed = 'client' | 'director' | 'rs';

export type RuleFamily = 'capture' | 'checksum' | 'flow' | 'rewrite' | 'nat' | 'dr' | 'tun' | 'fnat' | 'arp' | 'sched';

export interface RuleSpec {
  readonly id: string;
  readonly severity: Severity;
  readonly family: RuleFamily;
  /** All of these points must be captured. */
  readonly needsAll: readonly PointNeed[];
  /** At least one of these points (besides needsAll); empty = no extra need. */
  readonly needsAny: readonly PointNeed[];
  /** Methods the rule applies to; empty = all. */
  readonly methods: readonly ForwardMethod[];
  /** Needs the configured service (not an inferred one). */
  readonly needsConfig: boolean;
  /** Which engine judges it: the connection judge, the FullNAT judge, or the ARP analysis. */
  readonly engine: 'verify' | 'arp' | 'fnat';
  readonly what: string;
}

/** One catalog row; generic in the id so that the list keeps each id as a literal type. */
const r = <Id extends string>(
  id: Id,
  severity: Severity,
  family: RuleFamily,
  needsAll: readonly PointNeed[],
  needsAny: readonly PointNeed[],
  methods: readonly ForwardMethod[],
  what: string,
  opts: { needsConfig?: boolean; engine?: RuleSpec['engine'] } = {},
): RuleSpec & { readonly id: Id } => ({
  id,
  severity,
  family,
  needsAll,
  needsAny,
  methods,
  needsConfig: opts.needsConfig ?? false,
  engine: opts.engine ?? 'verify',
  what,
});

const NDT: readonly ForwardMethod[] = ['nat', 'dr', 'tun'];
/** FullNAT keeps TTL and IP fields too, its rules judge option removal (judge/rules/fullnat.ts), and
 *  the scheduling rules run on its connections as on the others. */
const NDTF: readonly ForwardMethod[] = [...NDT, 'fullnat'];
/** The FullNAT engine pairs the client-side leg (client or director ingress) with the LIP leg:
 *  real-server captures alone show only the LIP side, so nothing of FullNAT can be judged. */
const FNAT_POINTS: readonly PointNeed[] = ['client', 'director'];

export const RULES = [
  r('capture.truncated-file', 'warning', 'capture', [], [], [], 'capture file ends inside a record'),
  r('capture.malformed', 'warning', 'capture', [], [], [], 'malformed header in a packet'),
  r('capture.clock-offset', 'info', 'capture', [], [], [], 'clock offset of each capture against the client capture'),
  r('capture.checksum-offload', 'info', 'capture', [], [], [], 'packets whose TCP/UDP checksum is the partial sum TX offload leaves (judged where final)'),
  r('capture.segmentation-offload', 'info', 'capture', [], [], [], 'TSO/GSO super-segments or GRO-merged packets in a capture (paired by sequence range)'),
  r('capture.gaps', 'warning', 'capture', [], [], [], 'packets a capture missed although the flow shows they were delivered'),
  r('capture.snaplen', 'info', 'capture', [], [], [], 'packets cut by the snap length: payload and L4 checksum rules not evaluated for them'),
  r('checksum.ip', 'error', 'checksum', [], [], [], 'bad IPv4 header checksum on a received/forwarded packet'),
  r('checksum.l4', 'error', 'checksum', [], [], [], 'bad TCP/UDP checksum on a received/forwarded packet'),
  r('checksum.offload-likely', 'info', 'checksum', [], [], [], 'bad checksum on a packet the capturing host sent (TX offload)'),
  r('flow.not-forwarded', 'error', 'flow', ['director'], [], [], 'packet for the VIP reached the director and was not forwarded'),
  r('flow.lost-in-transit', 'warning', 'flow', ['director'], ['rs', 'client'], [], 'forwarded copy never reached the next capture point'),
  r('flow.bypassed-director', 'error', 'flow', ['director', 'rs'], [], [], 'packet to the VIP reached a real server without passing the director'),
  r('flow.unexpected-rst', 'warning', 'flow', [], ['client', 'rs'], [], 'RST on one leg that the other leg did not send'),
  r('flow.syn-retransmit', 'warning', 'flow', [], ['director', 'rs'], [], 'client retransmitted a SYN that the director dropped (or that was forwarded and never answered)'),
  r('rewrite.ttl', 'error', 'rewrite', ['director'], [], NDTF, 'TTL change across the director differs from the profile'),
  r('rewrite.ip-fields', 'error', 'rewrite', [], [], NDTF, 'IP ID, DF/MF or TOS changed on a forwarded packet'),
  r('rewrite.payload', 'error', 'rewrite', [], [], [], 'L4 payload bytes differ across points'),
  r('rewrite.tcp-fields', 'error', 'rewrite', [], [], NDTF, 'TCP window/options changed where the method keeps them'),
  r('nat.dst', 'error', 'nat', [], ['director', 'rs'], ['nat'], 'forwarded destination is not RIP:rport of a configured real server, or source changed'),
  r('nat.reply-src', 'error', 'nat', ['director'], [], ['nat'], 'reply leaves the director without source rewritten to VIP:vport'),
  r('nat.reply-bypass', 'error', 'nat', [], ['rs', 'director'], ['nat', 'fullnat'], 'real-server reply does not go back through the director'),
  r('nat.rip-leak', 'error', 'nat', ['client'], [], ['nat'], 'client capture shows a packet from a RIP'),
  r('dr.l3-modified', 'error', 'dr', ['director'], [], ['dr'], 'something besides MACs, TTL and IP checksum changed across the director'),
  r('dr.dst-mac', 'error', 'dr', ['director', 'rs'], [], ['dr'], 'egress destination MAC is not the scheduled real server'),
  r('dr.reply-src', 'error', 'dr', [], ['rs', 'client'], ['dr'], 'real-server reply source is not VIP:vport'),
  r('dr.reply-via-director', 'warning', 'dr', ['rs', 'director'], [], ['dr'], 'real-server replies are sent to the director MAC'),
  r('dr.vip-not-bound', 'error', 'dr', [], ['rs', 'client'], ['dr'], 'real server answers a forwarded SYN with RST/ICMP'),
  r('tun.outer', 'error', 'tun', [], ['director', 'rs'], ['tun'], 'outer tunnel header wrong (dst, protocol, TTL, DF)'),
  r('tun.inner', 'error', 'tun', ['director'], [], ['tun'], 'inner packet changed beyond TTL -1 and its checksum'),
  r('tun.mtu', 'error', 'tun', ['director'], [], ['tun'], 'DF packet larger than MTU - tunnel overhead was forwarded'),
  r('fnat.src', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'FullNAT source not a local address / LIP:lport reused', { engine: 'fnat' }),
  r('fnat.seq-delta', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'FullNAT seq delta not constant', { engine: 'fnat' }),
  r('fnat.toa-missing', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'TOA missing', { engine: 'fnat' }),
  r('fnat.toa-mismatch', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'TOA address differs from client', { engine: 'fnat' }),
  r('fnat.toa-placement', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'TOA placement', { engine: 'fnat' }),
  r('fnat.toa-format', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'TOA format', { engine: 'fnat' }),
  r('fnat.toa-no-room', 'warning', 'fnat', [], FNAT_POINTS, ['fullnat'], 'TOA legitimately absent', { engine: 'fnat' }),
  r('fnat.mss-adjust', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'SYN-ACK MSS not adjusted', { engine: 'fnat' }),
  r('fnat.ts-not-removed', 'warning', 'fnat', [], FNAT_POINTS, ['fullnat'], 'timestamp option not stripped', { engine: 'fnat' }),
  r('fnat.mtu', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'TOA segment exceeds path MTU', { engine: 'fnat' }),
  r('fnat.uoa-missing', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'UDP: UOA missing on one of the first 3 datagrams (dpvs)', { engine: 'fnat' }),
  r('fnat.uoa-mismatch', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'UDP: UOA address or port differs from the client', { engine: 'fnat' }),
  r('fnat.uoa-format', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'UDP: UOA option or shim not in DPVS format', { engine: 'fnat' }),
  r('fnat.uoa-count', 'warning', 'fnat', [], FNAT_POINTS, ['fullnat'], 'UDP: UOA on more datagrams than uoa_max_trail (dpvs)', { engine: 'fnat' }),
  r('fnat.uoa-rejected', 'error', 'fnat', [], FNAT_POINTS, ['fullnat'], 'UDP: a real server refused a datagram carrying UOA in protocol 248 (no uoa module)', { engine: 'fnat' }),
  r('arp.vip-conflict', 'error', 'arp', [], [], [], 'VIP claimed by two or more MACs, not a failover', { engine: 'arp' }),
  r('arp.vip-answered-by-rs', 'error', 'arp', [], [], [], 'ARP reply for the VIP from a non-director', { engine: 'arp' }),
  r('arp.vip-announced-by-rs', 'error', 'arp', [], [], [], 'ARP request with sender VIP from a non-director', { engine: 'arp' }),
  r('arp.vip-garp-by-non-director', 'error', 'arp', [], [], [], 'gratuitous ARP for the VIP from a non-director', { engine: 'arp' }),
  r('arp.client-poisoned', 'error', 'arp', [], [], [], 'client sends VIP traffic to a non-director MAC', { engine: 'arp' }),
  r('arp.flip-flop', 'warning', 'arp', [], [], [], 'IP alternates between two MACs', { engine: 'arp' }),
  r('arp.changed-mac', 'info', 'arp', [], [], [], 'IP moved to a new MAC', { engine: 'arp' }),
  r('arp.unsolicited-reply', 'warning', 'arp', [], [], [], 'ARP reply answering no request', { engine: 'arp' }),
  r('arp.sender-mac-mismatch', 'warning', 'arp', [], [], [], 'ARP sender MAC differs from Ethernet source', { engine: 'arp' }),
  r('arp.unanswered', 'warning', 'arp', [], [], [], 'who-has without reply', { engine: 'arp' }),
  r('arp.garp-burst', 'info', 'arp', [], [], [], 'GARP timeline per VIP', { engine: 'arp' }),
  r('sched.unknown-rs', 'error', 'sched', [], ['director', 'rs'], NDTF, 'connection forwarded to an address that is not a configured real server', { needsConfig: true }),
  r('sched.weight0', 'error', 'sched', [], ['director', 'rs'], NDTF, 'new connection to a weight-0 real server', { needsConfig: true }),
  r('sched.persistence', 'error', 'sched', [], ['director', 'rs'], NDTF, 'one client sent to two real servers within the persistence timeout', { needsConfig: true }),
  r('sched.distribution', 'warning', 'sched', ['director'], [], NDTF, 'new-connection order inconsistent with the scheduler', { needsConfig: true }),
] as const satisfies readonly RuleSpec[];

/** A rule id of the catalog. */
export type RuleId = (typeof RULES)[number]['id'];

export const RULE_BY_ID: ReadonlyMap<string, RuleSpec> = new Map(RULES.map((x) => [x.id, x]));

/** The catalog entry of a rule id (every RuleId has one). */
export function ruleSpec(id: RuleId): RuleSpec {
  return RULE_BY_ID.get(id)!;
}

/** True when `id` is a rule of the catalog (ids that come from the user, e.g. --ignore). */
export function isRuleId(id: string): id is RuleId {
  return RULE_BY_ID.has(id);
}

/** Severity of a rule id. */
export function severityOf(id: RuleId): Severity {
  return ruleSpec(id).severity;
}

/** Why a rule cannot run with these points/config/methods, or null when it can. */
export function missingReason(
  rule: RuleSpec,
  have: ReadonlySet<PointNeed>,
  methods: ReadonlySet<ForwardMethod>,
  configured: boolean,
): string | null {
  if (rule.methods.length > 0 && methods.size > 0 && !rule.methods.some((m) => methods.has(m))) {
    return `applies to ${rule.methods.join('/')}; the service uses ${[...methods].join('/')}`;
  }
  const missing = rule.needsAll.filter((p) => !have.has(p));
  if (missing.length > 0) return `needs the ${missing.join(' and ')} capture (not given)`;
  if (rule.needsAny.length > 0 && !rule.needsAny.some((p) => have.has(p))) {
    return `needs a ${rule.needsAny.join(' or ')} capture (none given)`;
  }
  if (rule.needsConfig && !configured) return 'needs the service configuration (--config or flags); the service was inferred';
  return null;
}

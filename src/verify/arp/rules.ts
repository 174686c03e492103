/**
 * One small function per ARP rule of rules.md. Each reads the time-ordered ARP records (and,
 * for `arp.client-poisoned`, the IPv4 aggregates) plus what was learnt (VIPs, directors, who
 * each MAC is) and returns findings with evidence (capture, frame, point) and a hint.
 */
import { formatTimestamp } from '../../decode/frame.js';
import type { Evidence, Finding } from '../model/findings.js';
import type { RuleId } from '../model/catalog.js';
import { arpAnnounceHint, arpIgnoreHint, conflictHint, garpHint, poisonedHint } from './hints.js';
import { describeMac, shortName, type Knowledge } from './knowledge.js';
import { afterClaim, CLAIM_WINDOW_NS, judgeClaim, type ClaimHistory } from './conflict.js';
import { macText } from './mac.js';
import { garpForm, type ArpRecord, type GarpForm, type IpAgg, type Where } from './records.js';

export interface RuleInput {
  /** ARP records in time order. */
  arp: readonly ArpRecord[];
  aggs: readonly IpAgg[];
  k: Knowledge;
  /** Reply window in ns. */
  windowNs: number;
  captureStart: ReadonlyMap<string, number>;
  captureEnd: ReadonlyMap<string, number>;
  /** Per capture: MACs it saw unicast frames delivered to by hosts other than its own. */
  unicastSeen: ReadonlyMap<string, ReadonlySet<number>>;
}

/** Evidence frames listed per finding; the message gives the full count. */
const MAX_EVIDENCE = 8;
/** Captures from different points have unsynchronised clocks: allow this much disorder. */
const SKEW_NS = 500e6;
/** GARPs further apart than this start a new burst (keepalived repeats its burst after 5 s). */
const BURST_GAP_NS = 2e9;

export function ev(w: Where, note?: string): Evidence {
  return note === undefined
    ? { capture: w.capture, frame: w.frame, point: w.point }
    : { capture: w.capture, frame: w.frame, point: w.point, note };
}

function groupBy<T>(items: Iterable<T>, key: (t: T) => string | null): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    if (k === null) continue;
    const list = m.get(k);
    if (list) list.push(t);
    else m.set(k, [t]);
  }
  return m;
}

const onVlan = (vlan: string): string => (vlan === '' ? '' : ` on VLAN ${vlan}`);
const ts = (w: Where): string => formatTimestamp(w.tsSec, w.tsNsec);
const plural = (n: number, word: string): string =>
  `${n} ${n === 1 ? word : word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`}`;

function directorText(k: Knowledge, vip: number): string {
  const d = k.directorsOf.get(vip);
  return d && d.size > 0 ? [...d].map(macText).join(', ') : 'unknown';
}

/** True when the VIP's directors are known and `mac` is none of them (nor any other director). */
function isNonDirector(k: Knowledge, vip: number, mac: number): boolean {
  const d = k.directorsOf.get(vip);
  return d !== undefined && d.size > 0 && !k.allDirectors.has(mac);
}

/** "who-has" of ARP, "neighbor solicitation for" of IPv6. */
const askWord = (r: ArpRecord): string => (r.ndp ? 'neighbor solicitation for' : 'who-has');
const askedWord = (r: ArpRecord): string => (r.ndp ? 'neighbor solicitations for' : 'who-has');
const protoWord = (r: ArpRecord): string => (r.ndp ? 'neighbor discovery' : 'ARP');

/** The request a reply answers: same VLAN, asked for the reply's sender, by its target. */
function answers(req: ArpRecord, rep: ArpRecord, windowNs: number): boolean {
  return (
    req.op === 1 &&
    rep.op === 2 &&
    req.vlan === rep.vlan &&
    req.tpa === rep.spa &&
    (req.spa === rep.tpa || req.sha === rep.tha) &&
    req.tsNs <= rep.tsNs + SKEW_NS &&
    rep.tsNs - req.tsNs <= windowNs
  );
}

function requestFor(input: RuleInput, rep: ArpRecord): ArpRecord | undefined {
  let best: ArpRecord | undefined;
  for (const r of input.arp) {
    if (r.tsNs > rep.tsNs + SKEW_NS) break;
    if (answers(r, rep, input.windowNs)) best = r;
  }
  return best;
}

/** arp.vip-answered-by-rs: ARP reply with sender IP = VIP from a non-director MAC. */
export function vipAnsweredByRs(input: RuleInput): Finding<RuleId>[] {
  const { k } = input;
  const groups = groupBy(input.arp, (r) =>
    r.op === 2 && !r.gratuitous && k.vipSet.has(r.spa) && isNonDirector(k, r.spa, r.sha) ? `${r.vlan}|${r.spa}|${r.sha}` : null,
  );
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const vip = input.k.addrs.text(first.spa);
    const evidence: Evidence[] = [];
    for (const rep of list.slice(0, MAX_EVIDENCE / 2)) {
      const req = requestFor(input, rep);
      if (req) evidence.push(ev(req, `${askWord(req)} ${vip} ${req.ndp ? 'from' : 'tell'} ${input.k.addrs.text(req.spa)}`));
      evidence.push(ev(rep, `${vip} is-at ${macText(rep.sha)} (not a director)`));
    }
    return {
      rule: 'arp.vip-answered-by-rs',
      severity: 'error',
      message:
        `${describeMac(k, first.sha)} answered ${askedWord(first)} ${vip}${onVlan(first.vlan)} ` +
        `(${plural(list.length, first.ndp ? 'advertisement' : 'reply')}, first at ${ts(first)}); the director is ${directorText(k, first.spa)}`,
      hint: arpIgnoreHint(shortName(k, first.sha), vip, first.ndp),
      evidence,
    };
  });
}

/** arp.vip-announced-by-rs: ARP request with sender IP = VIP (not gratuitous) from a non-director. */
export function vipAnnouncedByRs(input: RuleInput): Finding<RuleId>[] {
  const { k } = input;
  const groups = groupBy(input.arp, (r) =>
    r.op === 1 && !r.gratuitous && k.vipSet.has(r.spa) && isNonDirector(k, r.spa, r.sha) ? `${r.vlan}|${r.spa}|${r.sha}` : null,
  );
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const vip = input.k.addrs.text(first.spa);
    const targets = [...new Set(list.map((r) => r.tpa))].map((a) => input.k.addrs.text(a));
    return {
      rule: 'arp.vip-announced-by-rs',
      severity: 'error',
      message:
        `${describeMac(k, first.sha)} sent ${askWord(first)} ${targets.join(', ')} with ${first.ndp ? 'source' : 'sender'} address ${vip}${onVlan(first.vlan)} ` +
        `(${plural(list.length, first.ndp ? 'solicitation' : 'request')}, first at ${ts(first)}): every host that receives it may cache ${vip} → ` +
        `${macText(first.sha)}; the director is ${directorText(k, first.spa)}`,
      hint: arpAnnounceHint(shortName(k, first.sha), vip, first.ndp),
      evidence: list
        .slice(0, MAX_EVIDENCE)
        .map((r) => ev(r, `${askWord(r)} ${input.k.addrs.text(r.tpa)} ${r.ndp ? 'from' : 'tell'} ${vip} from ${macText(r.sha)}`)),
    };
  });
}

/** The form of a gratuitous announcement as printed: an unsolicited advertisement for IPv6. */
const formText = (r: ArpRecord): string => (r.ndp ? 'unsolicited neighbor advertisement' : FORM_TEXT[garpForm(r)]);

const FORM_TEXT: Record<GarpForm, string> = {
  keepalived: 'request, tha ff:ff:ff:ff:ff:ff (keepalived form)',
  kernel: 'request, tha 00:00:00:00:00:00 (kernel form)',
  reply: 'reply (arping -A form)',
  request: 'request',
};

/** arp.vip-garp-by-non-director: gratuitous ARP (either form) for a VIP from a non-director. */
export function vipGarpByNonDirector(input: RuleInput): Finding<RuleId>[] {
  const { k } = input;
  const groups = groupBy(input.arp, (r) =>
    r.gratuitous && k.vipSet.has(r.spa) && isNonDirector(k, r.spa, r.sha) ? `${r.vlan}|${r.spa}|${r.sha}` : null,
  );
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const vip = input.k.addrs.text(first.spa);
    const forms = [...new Set(list.map(formText))];
    const what = first.ndp ? 'unsolicited neighbor advertisements' : 'gratuitous ARP';
    return {
      rule: 'arp.vip-garp-by-non-director',
      severity: 'error',
      message:
        `${describeMac(k, first.sha)} sent ${what} for ${vip}${onVlan(first.vlan)} ` +
        `(${plural(list.length, 'packet')}, ${forms.join('; ')}, first at ${ts(first)}); the director is ${directorText(k, first.spa)}`,
      hint: garpHint(shortName(k, first.sha), vip, first.ndp),
      evidence: list.slice(0, MAX_EVIDENCE).map((r) => ev(r, `${first.ndp ? 'unsolicited advertisement' : 'gratuitous ARP'} ${vip} is-at ${macText(r.sha)}`)),
    };
  });
}

/** Who a claimant is, for the conflict message: its role when known, else its MAC. */
function claimantText(k: Knowledge, vip: number, mac: number): string {
  if (k.directorsOf.get(vip)?.has(mac)) return `director ${macText(mac)}`;
  if (k.allDirectors.has(mac)) return `director (of another VIP) ${macText(mac)}`;
  if (k.rsMacs.has(mac) || k.vipServers.has(mac) || k.forwardedTo.has(mac)) return describeMac(k, mac);
  const ips = [...(k.ownIps.get(mac) ?? [])];
  return ips.length > 0 ? `${ips.map((ip) => k.addrs.text(ip)).join(', ')} (${macText(mac)})` : macText(mac);
}

/**
 * arp.vip-conflict: two or more MACs claim one VIP on one link, and it is not a failover. A
 * conflict is a who-has answered by more than one MAC, claims that go back to a MAC that
 * claimed before, or a claim by another MAC within CLAIM_WINDOW_NS of the owner's last one
 * without a gratuitous ARP (as `arp --watch` judges it); one move to a new MAC (a failover
 * announced by gratuitous ARP, a NIC change long after) is `arp.changed-mac`. It needs no role: whoever the claimants are, hosts on the link follow
 * whichever spoke last and a person must look.
 */
export function vipConflict(input: RuleInput): Finding<RuleId>[] {
  const { k } = input;
  const out: Finding<RuleId>[] = [];
  const text = (a: number): string => k.addrs.text(a);
  const claims = groupBy(input.arp, (r) => (!r.probe && r.spa !== 0 && k.vipSet.has(r.spa) ? `${r.vlan}|${r.spa}` : null));
  const requests = groupBy(input.arp, (r) => (r.op === 1 && k.vipSet.has(r.tpa) ? `${r.vlan}|${r.tpa}` : null));
  for (const [key, list] of claims) {
    const macs = new Map<number, { first: ArpRecord; last: ArpRecord; n: number }>();
    for (const r of list) {
      const m = macs.get(r.sha);
      if (m) {
        m.last = r;
        m.n++;
      } else macs.set(r.sha, { first: r, last: r, n: 1 });
    }
    if (macs.size < 2) continue;
    // Who-has answered by more than one MAC: each reply joined to the latest request it answers.
    const asked = requests.get(key) ?? [];
    const byRequest = new Map<ArpRecord, ArpRecord[]>();
    for (const rep of list) {
      if (rep.op !== 2 || rep.gratuitous) continue;
      let req: ArpRecord | undefined;
      for (const r of asked) {
        if (r.tsNs > rep.tsNs + SKEW_NS) break;
        if (answers(r, rep, input.windowNs)) req = r;
      }
      if (req === undefined) continue;
      const got = byRequest.get(req);
      if (got) got.push(rep);
      else byRequest.set(req, [rep]);
    }
    const doubles: Array<{ req: ArpRecord; replies: ArpRecord[] }> = [];
    for (const [req, replies] of byRequest) {
      const oneEach = [...new Map(replies.map((r) => [r.sha, r])).values()];
      if (oneEach.length >= 2) doubles.push({ req, replies: oneEach });
    }
    // Claims that return to an earlier MAC; and, as `arp --watch` judges them, claims by another
    // MAC close to the owner's last one without an announced move (conflict.ts).
    const returns: ArpRecord[] = [];
    const seen = new Set<number>([list[0]!.sha]);
    let cur = list[0]!.sha;
    let history: ClaimHistory = { owner: -1, ownerLastNs: 0, movedFrom: -1, movedNs: 0 };
    for (const r of list) {
      const claim = { mac: r.sha, tNs: r.tsNs, gratuitous: r.gratuitous };
      const verdict = judgeClaim(history, claim, CLAIM_WINDOW_NS);
      history = afterClaim(history, claim, verdict);
      if (r.sha === cur) continue;
      if (seen.has(r.sha) || verdict.conflict !== null) returns.push(r);
      seen.add(r.sha);
      cur = r.sha;
    }
    if (doubles.length === 0 && returns.length === 0) continue;
    const first = list[0]!;
    const vip = text(first.spa);
    const who = [...macs].map(
      ([mac, m]) =>
        `${claimantText(k, first.spa, mac)}: ${plural(m.n, 'claim')}, first at ${ts(m.first)} (frame ${m.first.frame}), last at ${ts(m.last)} (frame ${m.last.frame})`,
    );
    const how: string[] = [];
    if (doubles.length > 0) how.push(`${first.ndp ? plural(doubles.length, 'solicitation') : `${doubles.length} who-has`} answered by more than one MAC`);
    if (returns.length > 0) {
      how.push(`${plural(returns.length, 'unannounced claim')} by another MAC (back to an earlier one, or within ${CLAIM_WINDOW_NS / 1e9} s of the owner's last claim)`);
    }
    const evidence: Evidence[] = [...macs].map(([mac, m]) => ev(m.first, `first claim by ${macText(mac)}`));
    for (const d of doubles.slice(0, 1)) {
      evidence.push(ev(d.req, `${askWord(d.req)} ${vip}`));
      for (const r of d.replies.slice(0, 3)) evidence.push(ev(r, `${vip} is-at ${macText(r.sha)}`));
    }
    for (const r of returns) {
      if (evidence.length >= MAX_EVIDENCE + macs.size) break;
      evidence.push(ev(r, `${vip} is-at ${macText(r.sha)}, unannounced`));
    }
    out.push({
      rule: 'arp.vip-conflict',
      severity: 'error',
      message: `VIP ${vip}${onVlan(first.vlan)} is claimed by ${macs.size} MACs in ${protoWord(first)} (${how.join('; ')}) — ${who.join('; ')}`,
      hint: conflictHint(vip, first.ndp),
      evidence,
    });
  }
  return out;
}

function causeOf(r: ArpRecord | undefined): 'reply' | 'request' | 'garp' | 'unknown' {
  if (!r) return 'unknown';
  if (r.gratuitous) return 'garp';
  return r.op === 2 ? 'reply' : 'request';
}

/** The ARP packet that taught `agg`'s sender that the VIP is at agg.dstMac: the latest claim
 *  before the first misdirected frame, preferring one addressed to that sender. */
function teacher(input: RuleInput, agg: IpAgg): ArpRecord | undefined {
  let any: ArpRecord | undefined;
  let targeted: ArpRecord | undefined;
  let later: ArpRecord | undefined;
  for (const r of input.arp) {
    if (r.vlan !== agg.vlan || r.spa !== agg.dst || r.sha !== agg.dstMac || r.probe) continue;
    if (r.tsNs > agg.first.tsNs + SKEW_NS) {
      later ??= r;
      continue;
    }
    any = r;
    if (r.ethDst === agg.srcMac || r.tha === agg.srcMac || agg.srcIps.has(r.tpa)) targeted = r;
  }
  return targeted ?? any ?? later;
}

/** The host whose ARP cache is poisoned: the client itself, or the router that forwards for it. */
function victimText(k: Knowledge, agg: IpAgg): string {
  const own = k.ownIps.get(agg.srcMac) ?? new Set<number>();
  const behind = [...agg.srcIps].filter((ip) => !own.has(ip));
  if (behind.length === 0 || (own.size === 0 && agg.srcIps.size === 1)) {
    return `client ${[...agg.srcIps].map((ip) => k.addrs.text(ip)).join(', ')} (${macText(agg.srcMac)})`;
  }
  const ownText = own.size > 0 ? `${[...own].map((ip) => k.addrs.text(ip)).join(', ')} ` : '';
  return `router ${ownText}(${macText(agg.srcMac)}) forwarding for ${behind.map((ip) => k.addrs.text(ip)).join(', ')}`;
}

/** arp.client-poisoned: a client or router sends VIP traffic to a MAC that is not a director. */
export function clientPoisoned(input: RuleInput): Finding<RuleId>[] {
  const { k } = input;
  const out: Finding<RuleId>[] = [];
  for (const agg of input.aggs) {
    if (!k.vipSet.has(agg.dst) || !isNonDirector(k, agg.dst, agg.dstMac)) continue;
    // Frames a director forwards to a real server carry the VIP as destination too: not a bypass.
    if (k.allDirectors.has(agg.srcMac)) continue;
    // Only a MAC known to hold the VIP (it claimed it, the director forwards to it, or it owns a
    // configured RIP) is a bypass; anything else is a routed hop seen on another segment (a client
    // capture sends VIP traffic to its gateway).
    const suspect =
      k.claimants.get(agg.dst)?.has(agg.dstMac) || k.forwardedTo.has(agg.dstMac) || k.rsMacs.has(agg.dstMac) || k.vipServers.has(agg.dstMac);
    if (!suspect) continue;
    const vip = input.k.addrs.text(agg.dst);
    const cause = teacher(input, agg);
    const victim = victimText(k, agg);
    const evidence: Evidence[] = [];
    if (cause) {
      const kind = cause.ndp
        ? cause.gratuitous
          ? 'unsolicited neighbor advertisement'
          : cause.op === 2
            ? 'neighbor advertisement'
            : 'neighbor solicitation'
        : cause.gratuitous
          ? 'gratuitous ARP'
          : cause.op === 2
            ? 'ARP reply'
            : 'ARP request';
      evidence.push(ev(cause, `${kind} that taught ${vip} → ${macText(cause.sha)}`));
    }
    evidence.push(ev(agg.first, `first frame to ${vip} sent to ${macText(agg.dstMac)}`));
    const conns = [...agg.conns.values()].filter((c) => c.first.frame !== agg.first.frame || c.first.capture !== agg.first.capture);
    for (const c of conns.slice(0, MAX_EVIDENCE - evidence.length)) {
      evidence.push(
        ev(c.first, `${c.proto === 6 ? 'tcp' : 'udp'} ${input.k.addrs.text(c.src)}:${c.sport} → ${vip}:${c.dport} bypassed the director`),
      );
    }
    const inConns = agg.connCount > 0 ? ` in ${agg.connCountCapped ? 'at least ' : ''}${plural(agg.connCount, 'connection')}` : '';
    const because = cause
      ? `; it learnt that MAC from frame ${cause.frame} of ${cause.capture}`
      : '; the ARP packet that taught it was not captured';
    out.push({
      rule: 'arp.client-poisoned',
      severity: 'error',
      message:
        `${victim} sends traffic for ${vip}${onVlan(agg.vlan)} to ${describeMac(k, agg.dstMac)}, not to the director ` +
        `(${directorText(k, agg.dst)}): ${plural(agg.frames, 'frame')}${inConns} bypassed the director${because}`,
      hint: poisonedHint(causeOf(cause), shortName(k, agg.dstMac), vip, victim, agg.dst >= 0x1_0000_0000),
      evidence,
    });
  }
  return out;
}

interface Transition {
  ip: number;
  vlan: string;
  from: number;
  to: ArpRecord;
  back: boolean;
}

/** MAC changes per (VLAN, IP) among ARP senders: new MAC → changed, earlier MAC → flip. */
function transitions(input: RuleInput): Map<string, Transition[]> {
  const claims = groupBy(input.arp, (r) => (r.probe || r.spa === 0 ? null : `${r.vlan}|${r.spa}`));
  const out = new Map<string, Transition[]>();
  for (const [key, list] of claims) {
    const seen = new Set<number>([list[0]!.sha]);
    let cur = list[0]!.sha;
    const t: Transition[] = [];
    for (const r of list) {
      if (r.sha === cur) continue;
      t.push({ ip: r.spa, vlan: r.vlan, from: cur, to: r, back: seen.has(r.sha) });
      seen.add(r.sha);
      cur = r.sha;
    }
    if (t.length > 0) out.set(key, t);
  }
  return out;
}

/** arp.flip-flop: an IP's MAC goes back to a MAC it had before (arpwatch "flip flop"). */
export function flipFlop(input: RuleInput): Finding<RuleId>[] {
  const out: Finding<RuleId>[] = [];
  for (const list of transitions(input).values()) {
    const flips = list.filter((t) => t.back);
    if (flips.length === 0) continue;
    const t0 = list[0]!;
    const macs = new Set<number>([t0.from, ...list.map((t) => t.to.sha)]);
    const vip = input.k.vipSet.has(t0.ip) ? ' (a VIP)' : '';
    out.push({
      rule: 'arp.flip-flop',
      severity: 'warning',
      message:
        `${input.k.addrs.text(t0.ip)}${vip}${onVlan(t0.vlan)} alternates between ${[...macs].map(macText).join(' and ')}: ` +
        `${plural(list.length, 'change')}, ${flips.length} back to an earlier MAC, first at ${ts(list[0]!.to)}`,
      hint:
        `Two hosts claim ${input.k.addrs.text(t0.ip)}; caches on this segment follow whichever spoke last. ` +
        (vip ? 'For a VIP, the non-director is a real server answering or announcing it: see the arp.vip-* findings.' : 'Find the duplicate address.'),
      evidence: list.slice(0, MAX_EVIDENCE).map((t) => ev(t.to, `${macText(t.from)} → ${macText(t.to.sha)}`)),
    });
  }
  return out;
}

/** arp.changed-mac: an IP moved to a MAC it never had before; with a GARP burst from the new MAC
 *  it is the VRRP failover pattern. */
export function changedMac(input: RuleInput): Finding<RuleId>[] {
  const out: Finding<RuleId>[] = [];
  for (const list of transitions(input).values()) {
    for (const t of list) {
      if (t.back) continue;
      const garps = input.arp.filter(
        (r) =>
          r.gratuitous &&
          r.spa === t.ip &&
          r.vlan === t.vlan &&
          r.sha === t.to.sha &&
          r.point === t.to.point &&
          Math.abs(r.tsNs - t.to.tsNs) <= BURST_GAP_NS,
      );
      const garp = t.to.ndp ? 'unsolicited neighbor advertisement' : 'gratuitous ARP';
      const withBurst =
        garps.length >= 2
          ? `, announced by a burst of ${garps.length} ${garp}s from the new MAC: the VRRP failover pattern`
          : garps.length === 1
            ? `, announced by one ${garp}`
            : `, with no ${garp}`;
      out.push({
        rule: 'arp.changed-mac',
        severity: 'info',
        message:
          `${input.k.addrs.text(t.ip)}${onVlan(t.vlan)} moved from ${macText(t.from)} to ${macText(t.to.sha)} at ${ts(t.to)}${withBurst}`,
        hint:
          garps.length >= 2
            ? 'Expected at a director failover (keepalived sends a GARP burst as new master); no action needed if a failover happened then.'
            : 'If no failover or NIC change happened then, another host claims this address.',
        evidence: [ev(t.to, `first ${t.to.ndp ? 'neighbor discovery packet' : 'ARP'} from the new MAC ${macText(t.to.sha)}`), ...garps.slice(0, 3).map((g) => ev(g, garp))],
      });
    }
  }
  return out;
}

/** arp.unsolicited-reply: a (non-gratuitous) ARP reply that answers no request seen. */
export function unsolicitedReply(input: RuleInput): Finding<RuleId>[] {
  const requests = groupBy(input.arp, (r) => (r.op === 1 ? `${r.vlan}|${r.tpa}` : null));
  const groups = groupBy(input.arp, (rep) => {
    if (rep.op !== 2 || rep.gratuitous) return null;
    // A reply right after the capture started may answer a request sent just before it.
    const start = input.captureStart.get(rep.capture) ?? 0;
    if (rep.tsNs - start < input.windowNs) return null;
    const asked = requests.get(`${rep.vlan}|${rep.spa}`) ?? [];
    return asked.some((req) => answers(req, rep, input.windowNs)) ? null : `${rep.vlan}|${rep.spa}|${rep.sha}`;
  });
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    return {
      rule: 'arp.unsolicited-reply',
      severity: 'warning',
      message:
        `${macText(first.sha)} sent ${plural(list.length, 'ARP reply')} "${input.k.addrs.text(first.spa)} is-at ${macText(first.sha)}" ` +
        `to ${input.k.addrs.text(first.tpa)}${onVlan(first.vlan)} that answer no request seen (first at ${ts(first)})`,
      hint:
        'Unsolicited replies rewrite caches of hosts that accept them (ARP spoofing, or a misconfigured HA script); ' +
        'if the sender is not the owner of the address, find the software sending them.',
      evidence: list.slice(0, MAX_EVIDENCE).map((r) => ev(r, 'reply without request')),
    };
  });
}

/** arp.sender-mac-mismatch: ARP sender hardware address differs from the link-layer source. */
export function senderMacMismatch(input: RuleInput): Finding<RuleId>[] {
  const groups = groupBy(input.arp, (r) =>
    r.ethSrc !== null && r.ethSrc !== r.sha ? `${r.vlan}|${r.ethSrc}|${r.sha}` : null,
  );
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    return {
      rule: 'arp.sender-mac-mismatch',
      severity: 'warning',
      message:
        `${plural(list.length, 'ARP packet')} from link-layer source ${macText(first.ethSrc!)} carry sender MAC ` +
        `${macText(first.sha)} (sender IP ${input.k.addrs.text(first.spa)})${onVlan(first.vlan)}, first at ${ts(first)}`,
      hint:
        'Receivers cache the ARP sender MAC, not the Ethernet source: frames then go to a MAC that did not send the ARP. ' +
        'Legitimate for a proxy or some VRRP virtual-MAC setups; otherwise spoofing or a bridging bug.',
      evidence: list.slice(0, MAX_EVIDENCE).map((r) => ev(r, `eth src ${macText(r.ethSrc!)}, arp sha ${macText(r.sha)}`)),
    };
  });
}

/** arp.unanswered: who-has that got no reply, judged only where the capture could see it. */
export function unanswered(input: RuleInput): Finding<RuleId>[] {
  const replies = groupBy(input.arp, (r) => (r.op === 2 ? `${r.vlan}|${r.spa}` : null));
  const groups = groupBy(input.arp, (req) => {
    if (req.op !== 1 || req.gratuitous || req.probe) return null;
    // Too close to the end of its capture: a reply may have come after the capture stopped.
    if ((input.captureEnd.get(req.capture) ?? 0) - req.tsNs < input.windowNs) return null;
    // A capture that never sees unicast frames other hosts send the asker cannot see the
    // (unicast) reply: a real server's capture sees its own frames to the router, not the
    // director's reply to it.
    if (![req, ...req.copies].some((w) => input.unicastSeen.get(w.capture)?.has(req.sha))) return null;
    const got = replies.get(`${req.vlan}|${req.tpa}`) ?? [];
    return got.some((rep) => answers(req, rep, input.windowNs)) ? null : `${req.vlan}|${req.tpa}|${req.sha}`;
  });
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const last = list[list.length - 1]!;
    const target = input.k.addrs.text(first.tpa);
    const isRs = input.k.realServers.has(first.tpa);
    const span = ((last.tsNs - first.tsNs) / 1e9).toFixed(1);
    return {
      rule: 'arp.unanswered',
      severity: 'warning',
      message:
        `who-has ${target}${isRs ? ' (a configured real server)' : ''} tell ${input.k.addrs.text(first.spa)} (${macText(first.sha)})` +
        `${onVlan(first.vlan)} got no reply: ${plural(list.length, 'request')} over ${span} s from ${ts(first)}`,
      hint: isRs
        ? `Real server ${target} is down, or not on this L2 segment/VLAN: DR needs the director and the real servers on one link.`
        : `${target} is down or not on this segment/VLAN (a wrong gateway or a missing real server).`,
      evidence: list.slice(0, MAX_EVIDENCE).map((r) => ev(r, `who-has ${target}, no reply`)),
    };
  });
}

/** arp.garp-burst: GARP timeline per (VLAN, IP, MAC): bursts with count, spacing and form. */
export function garpBurst(input: RuleInput): Finding<RuleId>[] {
  const out: Finding<RuleId>[] = [];
  const groups = groupBy(input.arp, (r) => (r.gratuitous ? `${r.vlan}|${r.spa}|${r.sha}` : null));
  for (const all of groups.values()) {
    // The same GARP captured at several points must not count twice: use the capture that saw most.
    const byCapture = groupBy(all, (r) => r.capture);
    const list = [...byCapture.values()].sort((a, b) => b.length - a.length)[0]!;
    const bursts: ArpRecord[][] = [];
    for (const r of list) {
      const cur = bursts[bursts.length - 1];
      if (cur && r.tsNs - cur[cur.length - 1]!.tsNs <= BURST_GAP_NS) cur.push(r);
      else bursts.push([r]);
    }
    const first = list[0]!;
    const ip = input.k.addrs.text(first.spa);
    const text = bursts.map((b) => {
      const gaps = b.slice(1).map((r, i) => (r.tsNs - b[i]!.tsNs) / 1e6);
      const spacing = gaps.length ? `, spacing ${Math.min(...gaps).toFixed(0)}–${Math.max(...gaps).toFixed(0)} ms` : '';
      const forms = [...new Set(b.map(formText))].join('; ');
      return `${ts(b[0]!)} ${b.length}× ${forms}${spacing}`;
    });
    out.push({
      rule: 'arp.garp-burst',
      severity: 'info',
      message:
        `gratuitous ARP for ${ip}${input.k.vipSet.has(first.spa) ? ' (VIP)' : ''} from ${macText(first.sha)}${onVlan(first.vlan)}: ` +
        `${plural(bursts.length, 'burst')} — ${text.join('; ')}`,
      hint: 'keepalived sends 5 GARPs per VIP on becoming VRRP master and repeats after garp_master_delay (5 s) (lvs-behavior.md §4).',
      evidence: bursts.slice(0, MAX_EVIDENCE).map((b) => ev(b[0]!, `burst of ${b.length}`)),
    });
  }
  return out;
}

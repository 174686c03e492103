/**
 * Scheduling rules (rules.md "Scheduling"; lvs-behavior.md §1.10, §1.11). They need the
 * configured service: which real servers exist, their weights, the scheduler and persistence.
 * A connection counts as a scheduling decision when its SYN passed the director (or, without a
 * director capture, when it reached a real server). They judge the decisions of the whole run
 * in order, once every connection is judged: one walk over the decisions calls each rule's
 * function, in table order.
 */
import { parseIpv4 } from '../../../decode/addr.js';
import type { Connection } from '../../model/connection.js';
import type { EngineContext } from '../../correlate/context.js';
import type { PacketRef } from '../../model/record.js';
import type { RealServer } from '../../service/model.js';
import type { RuleId } from '../../model/catalog.js';
import type { FindingSink } from '../sink.js';
import { needsOf, type RuleModule, type RuleNeeds } from './common.js';

function firstSyn(c: Connection): PacketRef | undefined {
  return c.synAtDirector ?? c.synRecord ?? undefined;
}

function forwardedSyn(c: Connection): PacketRef | undefined {
  return c.fwdSynRecord ?? undefined;
}

/** Client network under the persistence mask (IPv4 dotted mask; IPv6 prefix length). */
function clientNet(ctx: EngineContext, ip: string): string {
  const mask = ctx.service.persistenceMask;
  if (!mask) return ip;
  if (!ip.includes(':')) {
    const a = parseIpv4(ip);
    const m = parseIpv4(mask);
    if (a === null || m === null) return ip;
    return `${(a & m) >>> 0}/${mask}`;
  }
  // IPv6: compare the first N bits of the expanded address.
  const n = Number(mask);
  const hex = expand6(ip);
  let bits = '';
  for (const h of hex) bits += parseInt(h, 16).toString(2).padStart(4, '0');
  return `${bits.slice(0, n)}/${n}`;
}

function expand6(ip: string): string {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = new Array(8 - h.length - t.length).fill('0');
  return [...h, ...(tail !== undefined ? fill : []), ...t].map((w) => w.padStart(4, '0')).join('');
}

/** The weighted round-robin cycle of the kernel's ip_vs_wrr (interleaved, list order). */
export function wrrCycle(weights: readonly number[]): number[] {
  const idx = weights.map((w, i) => (w > 0 ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 0) return [];
  const ws = idx.map((i) => weights[i]!);
  const gcd = ws.reduce((a, b) => {
    let x = a;
    let y = b;
    while (y) [x, y] = [y, x % y];
    return x;
  });
  const max = Math.max(...ws);
  const total = ws.reduce((a, b) => a + b, 0) / gcd;
  const out: number[] = [];
  let cw = max;
  while (out.length < total) {
    for (let k = 0; k < idx.length && out.length < total; k++) if (ws[k]! >= cw) out.push(idx[k]!);
    cw -= gcd;
    if (cw <= 0) cw = max;
  }
  return out;
}

/** True when `seq` is a contiguous window of the infinite repetition of `cycle`. */
export function fitsCycle(seq: readonly number[], cycle: readonly number[]): boolean {
  if (cycle.length === 0) return seq.length === 0;
  for (let start = 0; start < cycle.length; start++) {
    let ok = true;
    for (let i = 0; i < seq.length && ok; i++) ok = seq[i] === cycle[(start + i) % cycle.length];
    if (ok) return true;
  }
  return false;
}

/** Persistence template: the real server a client network was sent to, and its last activity. */
interface Template {
  rip: string;
  lastT: number;
  conn: Connection;
}

/** Where the walk over the decisions stands. */
export class SchedView {
  ctx!: EngineContext;
  /** Every judged connection, in decision order (verify.ts decisionOrder). */
  conns: readonly Connection[] = [];
  decisions: Connection[] = [];
  /** Decisions a rule flagged: sched.distribution leaves them out. */
  readonly flagged = new Set<Connection>();
  /** Persistence templates by client network. */
  readonly templates = new Map<string, Template>();
  timeoutNs = 0;
  /** The decision judged, and what the rules read of it. */
  c!: Connection;
  rip = '';
  rs: RealServer | undefined;
  ev: PacketRef[] = [];
  net = '';
  tpl: Template | undefined;
  synT = 0;
  tplAlive = false;
  /** Set by a rule when the decision needs no further judging. */
  done = false;

  open(ctx: EngineContext, conns: readonly Connection[]): void {
    this.ctx = ctx;
    this.conns = conns;
    this.decisions = conns.filter((c) => c.backend !== null && c.isn !== null && (c.scheduled || ctx.directorIdx < 0));
    this.flagged.clear();
    this.templates.clear();
    this.timeoutNs = (ctx.service.persistenceTimeout ?? 0) * 1e9;
  }

  at(c: Connection): void {
    this.c = c;
    this.done = false;
    this.rip = c.backend!;
    this.rs = this.ctx.rsByIp.get(this.rip);
    const syn = forwardedSyn(c) ?? firstSyn(c);
    this.ev = [firstSyn(c), syn].filter((x, i, a): x is PacketRef => x !== undefined && a.indexOf(x) === i);
    if (!this.rs) return;
    const s = this.ctx.service;
    this.net = clientNet(this.ctx, c.client);
    this.tpl = s.persistenceTimeout !== null ? this.templates.get(this.net) : undefined;
    this.synT = c.synT ?? c.lastT;
    this.tplAlive = this.tpl !== undefined && this.synT - this.tpl.lastT <= this.timeoutNs;
  }
}

/** What one scheduling rule does: at each decision, and after all of them. */
export interface SchedSteps {
  decision?(v: SchedView, sink: FindingSink): void;
  end?(v: SchedView, sink: FindingSink): void;
}

/** sched.unknown-rs: a connection forwarded to an address that is no configured real server. */
function unknownRs(v: SchedView, sink: FindingSink): void {
  sink.check('sched.unknown-rs');
  if (v.rs) return;
  const s = v.ctx.service;
  v.flagged.add(v.c);
  v.done = true;
  sink.add(
    'sched.unknown-rs',
    v.c,
    `the connection was forwarded to ${v.rip}, which is not a real server of ${s.vip}:${s.vport}`,
    'the director runs a different configuration than the one given (compare ipvsadm -Sn on the director), or a stale connection entry points at a removed server',
    v.ev,
  );
}

/** sched.persistence: a client network stays with its real server within the timeout. Keeps
 *  the templates the other rules read. */
function persistence(v: SchedView, sink: FindingSink): void {
  const s = v.ctx.service;
  if (s.persistenceTimeout === null) return;
  const { c, rip, tpl, tplAlive } = v;
  sink.check('sched.persistence');
  if (tplAlive && tpl!.rip !== rip) {
    v.flagged.add(c);
    const prev = firstSyn(tpl!.conn);
    sink.add(
      'sched.persistence',
      c,
      `client ${c.client} was sent to ${rip} although its connection ${((v.synT - tpl!.lastT) / 1e9).toFixed(1)} s earlier went to ${tpl!.rip} (persistence ${s.persistenceTimeout} s${s.persistenceMask ? `, mask ${s.persistenceMask}` : ''})`,
      'the persistence template was lost: the service is not persistent on the director (ipvsadm -Ln shows "persistent"), the timeout/mask differ, or several directors without connection sync serve the VIP',
      prev ? [prev, ...v.ev] : v.ev,
    );
  }
  // The template as the director keeps it: a new one, or the same server's refreshed. The
  // view keeps the template as it was before, which weight0 reads.
  const cur = v.templates.get(v.net);
  if (!tplAlive || !cur) v.templates.set(v.net, { rip, lastT: c.lastT, conn: c });
  else if (cur.rip === rip) cur.lastT = Math.max(cur.lastT, c.lastT);
  else v.templates.set(v.net, { rip, lastT: c.lastT, conn: c });
}

/** sched.weight0: no new connection to a quiesced (weight 0) real server. */
function weight0(v: SchedView, sink: FindingSink): void {
  const { c, rip, rs, tpl, tplAlive } = v;
  sink.check('sched.weight0');
  // Persistence templates to a quiesced server stay valid (lvs-behavior.md §1.10).
  if (rs!.weight !== 0 || (tplAlive && tpl!.rip === rip)) return;
  v.flagged.add(c);
  sink.add(
    'sched.weight0',
    c,
    `a new connection went to ${rip}, which has weight 0 (quiesced)`,
    'the director does not have weight 0 for this server (ipvsadm -Ln), or the SYN hit an old connection entry; quiesced servers receive no new connections',
    v.ev,
  );
}

/**
 * sched.distribution: the order of new connections fits the scheduler. Only decisions made by
 * the scheduler itself (not template reuse, not flagged), and only when every scheduled
 * connection's server is known (a gap breaks the order check).
 */
function distribution(v: SchedView, sink: FindingSink): void {
  const { ctx, conns, decisions, flagged, timeoutNs } = v;
  const s = ctx.service;
  if (ctx.directorIdx < 0) return;
  if (conns.some((c) => c.scheduled && c.isn !== null && c.backend === null)) return;
  const sched = s.scheduler;
  const list = s.realServers;
  const picks: { c: Connection; i: number }[] = [];
  const seenNet = new Map<string, number>();
  for (const c of decisions) {
    if (flagged.has(c)) continue;
    const i = list.findIndex((r) => r.ip === c.backend);
    if (i < 0) continue;
    if (s.persistenceTimeout !== null) {
      const net = clientNet(ctx, c.client);
      const last = seenNet.get(net);
      seenNet.set(net, c.lastT);
      if (last !== undefined && (c.synT ?? 0) - last <= timeoutNs) continue;
    }
    picks.push({ c, i });
  }
  if (picks.length < 2) return;
  if (sched === 'rr' || sched === 'wrr') {
    sink.check('sched.distribution');
    const weights = list.map((r) => (sched === 'rr' ? (r.weight > 0 ? 1 : 0) : r.weight));
    const cycle = wrrCycle(weights);
    const seq = picks.map((p) => p.i);
    if (!fitsCycle(seq, cycle)) {
      const names = (xs: number[]): string => xs.map((i) => list[i]!.ip).join(', ');
      sink.add(
        'sched.distribution',
        null,
        `new connections went to ${names(seq.slice(0, 12))}${seq.length > 12 ? ', …' : ''}; ${sched} with weights ${weights.join(':')} rotates ${names(cycle)}`,
        `the director's scheduler or weights differ from the configuration (ipvsadm -Ln), or connections from other clients were not captured at the director`,
        picks.slice(0, 12).map((p) => firstSyn(p.c)).filter((x): x is PacketRef => x !== undefined),
        'distribution',
      );
    }
  } else if (sched === 'sh' || sched === 'mh' || sched === 'dh' || (sched === 'conhash' && !s.schedFlags.includes('qid'))) {
    // DPVS's conhash hashes the client's source address unless told to hash QUIC connection
    // ids (ipvsadm -s conhash sets its sip target; v1.10.2 ip_vs_conhash.c): a static mapping.
    sink.check('sched.distribution');
    const byKey = new Map<string, { c: Connection; rip: string }>();
    for (const p of picks) {
      const portKey = sched !== 'conhash' && s.schedFlags.includes(`${sched}-port`) ? `|${p.c.cport}` : '';
      const key = sched === 'dh' ? s.vip : `${p.c.client}${portKey}`;
      const prev = byKey.get(key);
      if (!prev) {
        byKey.set(key, { c: p.c, rip: p.c.backend! });
        continue;
      }
      if (prev.rip !== p.c.backend) {
        sink.add(
          'sched.distribution',
          p.c,
          `${sched} sent the same ${sched === 'dh' ? 'destination' : 'source'} ${key} to ${prev.rip} and then to ${p.c.backend}`,
          `${sched} is a static hash: the same key must map to the same server while the server set and weights are unchanged; check for weight/server changes during the capture`,
          [firstSyn(prev.c), firstSyn(p.c)].filter((x): x is PacketRef => x !== undefined),
        );
      }
    }
  }
}

/** The scheduling rules by id, in judging order (persistence before weight0: a live template
 *  to a quiesced server excuses the decision). */
export const SCHED_RULES = {
  'sched.unknown-rs': { decision: unknownRs },
  'sched.persistence': { decision: persistence },
  'sched.weight0': { decision: weight0 },
  'sched.distribution': { end: distribution },
} as const satisfies { readonly [K in RuleId]?: SchedSteps };

/** A scheduling rule as registered: its id, its points (the catalog's) and its steps. */
export interface SchedRule extends SchedSteps {
  readonly id: RuleId;
  readonly needs: RuleNeeds;
}

const SCHED: readonly SchedRule[] = (Object.keys(SCHED_RULES) as (keyof typeof SCHED_RULES)[]).map((id) => ({ id, needs: needsOf(id), ...SCHED_RULES[id] }));
const DECISION_STEPS = SCHED.flatMap((r) => (r.decision ? [r.decision] : []));
const END_STEPS = SCHED.flatMap((r) => (r.end ? [r.end] : []));

/** Run over every connection of the run at once (not per connection: verify.ts calls it last). */
export const schedRules: RuleModule = {
  family: 'sched',
  ids: SCHED.map((r) => r.id),
  run(ctx, conns, sink) {
    if (ctx.inferred) return;
    const v = new SchedView();
    v.open(ctx, conns);
    for (const c of v.decisions) {
      v.at(c);
      for (const f of DECISION_STEPS) {
        f(v, sink);
        if (v.done) break;
      }
    }
    for (const f of END_STEPS) f(v, sink);
  },
};

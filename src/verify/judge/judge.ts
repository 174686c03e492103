/**
 * Pass 2 of `verify`: every capture is read side by side in corrected time (read/feed.ts),
 * records are classified into connections (correlate/connections.ts, correlate/fnat-tracker.ts),
 * and each connection is judged by the rule modules once it has closed (a long-lived one in
 * parts while it is open: correlate/live.ts), then its packets are forgotten. What pass 2 hands back (Judged) is plain data; verify.ts runs the scheduling rules
 * over it and assembles the result.
 *
 * Two extension points let pass 2 be done otherwise with the same outcome: where the records
 * come from (OpenSource: a RecordSource giving the records and ticks LocalFeed would), and which
 * client endpoints are judged (read/feed.ts RecordSelection: parts judged apart, whose Judged
 * values are merged, give what judging all at once gives). PassTwo is how verify.ts asks for
 * pass 2; judgeHere is the plain one.
 */
import type { CaptureWarning } from '../../decode/capture/index.js';
import { formatTimestamp } from '../../decode/frame.js';
import { tcpFlagsText } from '../../decode/print/fmt.js';
import type { ArpReport } from '../arp/types.js';
import type { ConnectionLadder, LadderCopy } from '../model/result.js';
import { isFullnat, serviceAddresses, servicePorts, type ForwardMethod, type Service } from '../service/model.js';
import { ConnectionTracker, SWEEPS_PER_WINDOW } from '../correlate/connections.js';
import { partsBefore, walkEnd, walkStart, type Connection } from '../model/connection.js';
import type { EngineContext } from '../correlate/context.js';
import { DirectorAnswers } from '../read/director-answers.js';
import { FnatTracker } from '../correlate/fnat-tracker.js';
import { compareJudge, judgeKeyOf, type JudgeKey } from './order.js';
import type { ReaderSummary } from '../read/points.js';
import { RecordPool } from '../read/record.js';
import type { PacketRecord } from '../model/record.js';
import { FindingSink, connLabel, type SinkState } from './sink.js';
import { LocalFeed, type FeedPlan, type RecordSelection, type RecordSource } from '../read/feed.js';
import { ownMac, type PhaseClock, type Prepared } from '../correlate/prepare.js';
import { checksumRules } from './rules/checksum.js';
import type { RuleModule } from './rules/common.js';
import { drRules } from './rules/dr.js';
import { flowRules } from './rules/flow.js';
import { fullnatFlow, makeFullnatRules } from './rules/fullnat.js';
import { decorateFullnatLadder } from './rules/fullnat-ladder.js';
import { makeFullnatUoaRules } from './rules/fullnat-uoa.js';
import { natRules } from './rules/nat.js';
import { rewriteRules } from './rules/rewrite.js';
import { schedRules } from './rules/sched.js';
import { tunRules } from './rules/tun.js';

/**
 * Pass 2 judged closed connections sooner than the full grace (correlate/prepare.ts closeGrace),
 * and a record then came that the full grace would have judged with one of them, or the
 * director answered a packet with an ICMP error or fragmented one (rules read those at
 * judgement). Pass 2 stops; verify.ts runs pass 1 and 2 again with the full grace.
 */
export class LateCopy extends Error {
  constructor(readonly answers: boolean) {
    super(answers ? 'the director answered with an ICMP error or fragmented a packet (rules read those when they judge)' : 'a record came for a connection judged before the full grace');
  }
}

export const RULE_MODULES: readonly RuleModule[] = [flowRules, checksumRules, rewriteRules, natRules, drRules, tunRules, schedRules];

/** One service as pass 2 judged it: its findings, its connections' summaries, its counters. */
export interface JudgedService {
  sink: SinkState;
  /** Every connection pass 2 saw, judged (summaries: their packets are dropped). */
  all: Connection[];
  correlated: number;
  maxActive: number;
  maxHeld: number;
}

export interface KeyedLadder {
  key: JudgeKey;
  ladder: ConnectionLadder;
}

/** What pass 2 hands back: plain data (structured-clone safe). */
export interface Judged {
  /** In the order of `Prepared.services`. */
  services: JudgedService[];
  /** The earliest ladders in report order, at most maxLadders. */
  ladders: KeyedLadder[];
  /** A client endpoint was also a service end (ConnectionTracker.clientAtServiceEnd). */
  clientAtServiceEnd: boolean;
}

/** What a run gathers once, besides the judging (JudgeOptions.runFacts). */
export interface RunFacts {
  /** The engines, whose contexts the scheduling rules judge the connections with. */
  engines: Engine[];
  readers: ReaderSummary[];
  warnings: CaptureWarning[];
  arpReport: ArpReport;
}

/** The engine and the rules of one service in pass 2. */
export interface Engine {
  ctx: EngineContext;
  sink: FindingSink;
  tracker: ConnectionTracker | FnatTracker;
}

/** The engine context of one service (built from pass 1 alone: the same wherever pass 2 runs). */
export function makeContext(service: Service, prep: Prepared): EngineContext {
  const { inferred, points, clocks, windowNs } = prep;
  const rsByIp = new Map(service.realServers.map((r) => [r.ip, r]));
  const methods = new Set<ForwardMethod>(service.realServers.map((r) => r.method));
  if (methods.size === 0 && service.method) methods.add(service.method);
  const ctx: EngineContext = {
    service,
    inferred,
    profile: prep.input.profile,
    points,
    clocks,
    windowNs,
    rsByIp,
    methods,
    directorMacs: new Set(),
    rsIpByMac: new Map(),
    rsMacsByIp: new Map(),
    clientIdx: points.findIndex((p) => p.kind === 'client'),
    directorIdx: points.findIndex((p) => p.kind === 'director'),
    rsPointByIp: new Map(),
  };
  const vips = new Set([service.vip]);
  const learnMac = (ip: string, mac: string): void => {
    ctx.rsIpByMac.set(mac, ip);
    (ctx.rsMacsByIp.get(ip) ?? ctx.rsMacsByIp.set(ip, new Set()).get(ip)!).add(mac);
  };
  points.forEach((p, i) => {
    if (p.kind === 'rs') {
      p.ownMac = ownMac(p, vips, p.rsIp);
      if (p.rsIp) {
        ctx.rsPointByIp.set(p.rsIp, i);
        if (p.ownMac) learnMac(p.rsIp, p.ownMac);
      }
    }
    for (const [ip, macs] of p.arp) if (rsByIp.has(ip)) for (const m of macs) learnMac(ip, m);
  });
  return ctx;
}

const ROLE_NAME = { C: 'client', Di: 'director-in', De: 'director-out', R: 'rs' } as const;

function ladder(ctx: EngineContext, c: Connection, rules: string[]): ConnectionLadder {
  const t0 = c.records[0]?.t ?? 0;
  const first = c.records[0];
  const packets = c.traces
    .slice(walkStart(c), walkEnd(c))
    .sort((a, b) => a.t0 - b.t0)
    .map((t) => {
      const order = t.c2s ? ['C', 'Di', 'De', 'R'] : ['R', 'Di', 'De', 'C'];
      const copies = [...t.list].sort((a, b) => order.indexOf(a.role!) - order.indexOf(b.role!));
      let prev: PacketRecord | null = null;
      const out: LadderCopy[] = copies.map((r) => {
        const changed: string[] = [];
        if (prev) {
          if (prev.ip.src !== r.ip.src) changed.push('src');
          if (prev.ip.dst !== r.ip.dst) changed.push('dst');
          if (prev.sport !== r.sport) changed.push('sport');
          if (prev.dport !== r.dport) changed.push('dport');
          if (prev.ip.ttl !== r.ip.ttl) changed.push('ttl');
          if (prev.ip.id !== r.ip.id) changed.push('ipId');
          if (prev.srcMac !== r.srcMac) changed.push('srcMac');
          if (prev.dstMac !== r.dstMac) changed.push('dstMac');
          if ((prev.outer === null) !== (r.outer === null)) changed.push('outer');
          if (prev.hash !== r.hash) changed.push('payload');
        }
        prev = r;
        return {
          point: ctx.points[r.point]!.name,
          role: ROLE_NAME[r.role!],
          capture: r.capture,
          frame: r.frame,
          tMs: Math.round((r.t - t0) / 1e3) / 1e3,
          src: r.ip.src,
          dst: r.ip.dst,
          sport: r.sport,
          dport: r.dport,
          ttl: r.ip.ttl,
          ipId: r.ip.id,
          srcMac: r.srcMac,
          dstMac: r.dstMac,
          outer: r.outer ? { src: r.outer.src, dst: r.outer.dst, ttl: r.outer.ttl, proto: r.outer.proto } : null,
          changed,
        };
      });
      const any = t.list[0]!;
      return { direction: t.c2s ? ('c2s' as const) : ('s2c' as const), flags: any.proto === 'udp' ? '-' : tcpFlagsText(any.flags), seq: any.seq, ack: any.ack, payloadLen: any.payloadLen, copies: out };
    });
  const ns = first ? first.ts : 0;
  return {
    conn: connLabel(ctx, c),
    client: c.client,
    realServer: c.backend,
    start: formatTimestamp(Math.floor(ns / 1e9), Math.round(ns % 1e9)),
    packets,
    rules,
  };
}

/**
 * The `max` earliest ladders in report order. Connections are judged roughly in time order, so
 * once `max` are kept, a later one is built only when it sorts before the latest kept.
 */
class LadderSet {
  private list: KeyedLadder[] = [];
  /** Key of the latest kept once the set is full and sorted; null while it is not. */
  private bar: JudgeKey | null = null;
  constructor(private readonly max: number) {}

  wants(key: JudgeKey): boolean {
    return this.max > 0 && (this.bar === null || compareJudge(key, this.bar) < 0);
  }

  add(key: JudgeKey, ladder: ConnectionLadder): void {
    this.list.push({ key, ladder });
    if (this.list.length >= 2 * this.max) this.trim();
  }

  private trim(): void {
    this.list.sort((a, b) => compareJudge(a.key, b.key));
    this.list.length = Math.min(this.list.length, this.max);
    this.bar = this.max > 0 && this.list.length === this.max ? this.list[this.max - 1]!.key : null;
  }

  result(): KeyedLadder[] {
    this.trim();
    return this.list;
  }
}

/** Ladder lists judged apart, merged in report order and cut to `max`. */
export function mergeLadders(lists: readonly KeyedLadder[][], max: number): ConnectionLadder[] {
  return lists
    .flat()
    .sort((a, b) => compareJudge(a.key, b.key))
    .slice(0, max)
    .map((k) => k.ladder);
}

/** Where pass 2's records come from when not read here (LocalFeed): given the plan, and the
 *  answers and record pool the trackers use. */
export type OpenSource = (plan: FeedPlan, answers: DirectorAnswers, pool: RecordPool | null) => RecordSource;

/** What the reading side needs from pass 1 (plain data). */
export function feedPlan(prep: Prepared): FeedPlan {
  return {
    points: prep.points.map((p, i) => ({ name: p.name, kind: p.kind, files: p.files, offsetNs: prep.clocks[i]!.offsetNs })),
    windowNs: prep.windowNs,
    tickNs: prep.windowNs / SWEEPS_PER_WINDOW,
    ...(prep.input.toaKinds ? { toaKinds: prep.input.toaKinds } : {}),
    ...(prep.input.guePorts ? { guePorts: prep.input.guePorts } : {}),
    decap: prep.decap,
    services: prep.services,
    configured: prep.configured,
  };
}

export interface JudgeOptions {
  /** Also gather RunFacts (ARP analysis, capture warnings and readings); default true. */
  runFacts?: boolean;
  /** Judge only these client endpoints' records; default all. */
  selection?: RecordSelection | null;
  /** Default: read here (LocalFeed). */
  openSource?: OpenSource;
}

/** Pass 2 over `prep`, which it consumes (a second pass 2 needs pass 1 again). RunFacts are
 *  null when `runFacts` is false. */
export function judgeCaptures(prep: Prepared, opts?: JudgeOptions & { runFacts?: true }): Promise<{ judged: Judged; facts: RunFacts }>;
export function judgeCaptures(prep: Prepared, opts: JudgeOptions & { runFacts: false }): Promise<{ judged: Judged; facts: null }>;
export async function judgeCaptures(prep: Prepared, opts: JudgeOptions = {}): Promise<{ judged: Judged; facts: RunFacts | null }> {
  const runFacts = opts.runFacts !== false;
  const { input, services, points } = prep;
  const toa = { ...(input.toaKinds ? { toaKinds: input.toaKinds } : {}), ...(input.guePorts ? { guePorts: input.guePorts } : {}) };
  const maxLadders = input.maxLadders ?? 2000;
  const ladders = new LadderSet(maxLadders);
  const engines: Engine[] = [];
  // ICMP errors and fragments, shared by every service's rules (see read/director-answers.ts).
  const answers = new DirectorAnswers();
  // One NAT/DR/TUN service: its tracker is the only user of the records, so judged ones can be
  // reused (read/record.ts RecordPool). With several trackers a record may sit in more than one.
  const pool = input.reuseRecords !== false && services.length === 1 && !isFullnat(services[0]!) ? new RecordPool() : null;
  const addrs = serviceAddresses(services);
  const ports = servicePorts(services);
  const serviceEnd = (ip: string, port: number): boolean => addrs.has(ip) || ports.has(port);
  for (const service of services) {
    const ctx = makeContext(service, prep);
    ctx.answers = answers;
    const sink = new FindingSink(ctx, prep.ignore);
    if (isFullnat(service)) {
      // FullNAT changes the client address and seq: its own tracker links the two legs
      // (correlate/fnat-tracker.ts) and its rules judge them (judge/rules/fullnat.ts).
      const perConn = [fullnatFlow(flowRules), checksumRules, makeFullnatRules(toa), makeFullnatUoaRules()];
      const tracker = new FnatTracker(ctx, (c) => {
        const key = judgeKeyOf(c);
        sink.begin(key);
        sink.countConnection(c);
        for (const m of perConn) m.run(ctx, [c], sink);
        if (ladders.wants(key)) ladders.add(key, decorateFullnatLadder(ctx, c, ladder(ctx, c, []), input.toaKinds));
      });
      engines.push({ ctx, sink, tracker });
      continue;
    }
    const perConn = RULE_MODULES.filter((m) => m !== schedRules);
    const tracker = new ConnectionTracker(
      ctx,
      (c) => {
        const key = judgeKeyOf(c);
        sink.begin(key);
        sink.countConnection(c);
        for (const m of perConn) m.run(ctx, [c], sink);
        // A connection judged in parts has the ladder of its first part (the handshake).
        if (partsBefore(c) === 0 && ladders.wants(key)) ladders.add(key, ladder(ctx, c, []));
      },
      undefined,
      pool,
      serviceEnd,
      prep.closeGraceNs,
      input.partRecords,
    );
    engines.push({ ctx, sink, tracker });
  }

  // The sample is learnt from; pass 2 streams and keeps nothing per point.
  for (const p of points) {
    p.records = [];
    p.frames = 0;
    p.firstTs = Infinity;
    p.lastTs = -Infinity;
    delete p.fileSpans;
  }
  const plan = feedPlan(prep);
  const source = opts.openSource ? opts.openSource(plan, answers, pool) : new LocalFeed(plan, points, answers, { runFacts, selection: opts.selection ?? null, pool });
  const sole = pool ? (engines[0]!.tracker as ConnectionTracker) : null;
  // The trackers that judge closed connections before the full grace, and what they must not miss.
  const early = engines.flatMap((e) => (e.tracker instanceof ConnectionTracker && e.tracker.judgesEarly ? [e.tracker] : []));
  const stopIfLate = (): void => {
    if (early.length === 0) return;
    if (answers.noted > 0) throw new LateCopy(true);
    if (early.some((t) => t.lateCopy)) throw new LateCopy(false);
  };
  try {
    await source.run(
      sole
        ? (r) => {
            if (!sole.add(r)) pool!.give(r);
          }
        : (r) => {
            const owner = fnatOwner(engines, r);
            for (const e of engines) {
              if (e.tracker instanceof FnatTracker) e.tracker.offer(r, e.tracker === owner);
              else e.tracker.add(r);
            }
          },
      (now) => {
        for (const e of engines) e.tracker.sweep(now);
        stopIfLate();
      },
    );
  } finally {
    // A capture that fails to read, or a stop for the full grace, ends the run: the source
    // closes its files, not left to GC.
    await source.close();
  }
  // The last records may have come after the last sweep.
  stopIfLate();
  for (const e of engines) e.tracker.finish();
  return {
    judged: {
      services: engines.map((e) => ({
        sink: e.sink.exportState(),
        all: e.tracker.all,
        correlated: e.tracker.liveSet.correlated,
        maxActive: e.tracker.liveSet.maxActive,
        maxHeld: e.tracker.liveSet.maxHeld,
      })),
      ladders: ladders.result(),
      clientAtServiceEnd: engines.some((e) => e.tracker instanceof ConnectionTracker && e.tracker.clientAtServiceEnd),
    },
    facts: runFacts ? { engines, readers: source.readers(), warnings: source.warnings, arpReport: source.arpReport()! } : null,
  };
}

/**
 * The FullNAT tracker that owns a record of a run with several services: the one whose
 * addresses it carries most precisely (FnatTracker.claim). Two services on one LIP reach
 * different RIP:rport, so an RS leg is the service's with that real-server port, not every
 * service that has the LIP; a tie (the same real server and LIP behind two VIPs) goes to the
 * tracker already following the record's connection or leg, else to the first service.
 */
function fnatOwner(engines: readonly Engine[], r: PacketRecord): FnatTracker | null {
  let owner: FnatTracker | null = null;
  let best = 0;
  let tied = false;
  for (const e of engines) {
    if (!(e.tracker instanceof FnatTracker)) continue;
    const level = e.tracker.claim(r);
    if (level > best) {
      best = level;
      owner = e.tracker;
      tied = false;
    } else if (level === best && level > 0) tied = true;
  }
  if (!tied || owner === null || owner.follows(r)) return owner;
  for (const e of engines) if (e.tracker instanceof FnatTracker && e.tracker !== owner && e.tracker.claim(r) === best && e.tracker.follows(r)) return e.tracker;
  return owner;
}

/** Pass 2 as verify.ts asks for it, and what it gives back: the Prepared the result was judged
 *  against (pass 2 may have had to run pass 1 again), the judgement and the run's facts. */
export interface PassTwoResult {
  prep: Prepared;
  judged: Judged;
  facts: RunFacts;
}

/**
 * How verify.ts has pass 2 done. Any implementation must give the Judged that judgeHere gives
 * for the same Prepared; it may throw LateCopy as judgeHere does (verify.ts then runs pass 1
 * and 2 again with the full grace, asking the same PassTwo).
 */
export interface PassTwo {
  run(prep: Prepared, phases: PhaseClock): Promise<PassTwoResult>;
  /** Releases what it holds; called once the run ends, also after a failure. */
  close(): Promise<void>;
}

/** Pass 2 read and judged here, at once. */
export const judgeHere: PassTwo = {
  async run(prep, phases) {
    const { judged, facts } = await judgeCaptures(prep);
    phases.mark('pass 2: every capture correlated and judged');
    return { prep, judged, facts };
  },
  close: () => Promise.resolve(),
};


/**
 * `verify` as a library: read the captures of every point, correlate the copies of each packet
 * across points, run the rule families of rules.md per service, and return a VerifyResult that
 * the reporters render. The CLI (src/cli/verify.ts) only parses options and calls this.
 *
 * Two passes, then the assembly. (1) A bounded sample of every capture gives the clock offsets,
 * the director's and real servers' MACs, which capture is which real server, and the service
 * when none is configured (correlate/prepare.ts). (2) All captures are read side by side in
 * corrected time; records are classified into connections, and each connection is judged by
 * the rule modules once it has closed, then its packets are forgotten: packet memory follows
 * the live connections, not the capture size (judge/judge.ts). (3) The scheduling rules run
 * last over the per-connection summaries, which stay (about 0.5 KB per judged connection with
 * the client's endpoints and the ARP connection count: memory still grows with the number of
 * connections, slowly), and the findings, tallies and statistics are assembled.
 *
 * Pass 2 is asked of a PassTwo (judge/judge.ts): judgeHere unless the caller gives another
 * that judges the same way (the CLI passes the fastest its machine allows).
 *
 *   const result = await verify({ services, points: [{ kind: 'client', files: ['cl.pcap'] }, …],
 *                                 profile: 'linux' });
 */
import { keepStreamHeads, type KeptStreams } from '../decode/capture/index.js';
import type { Finding, NotEvaluated } from './model/findings.js';
import { hasError } from './model/findings.js';
import type { ClockOffset, PointSummary, RuleTally, SchedulingSeries, ServiceTraffic, VerifyResult } from './model/result.js';
import { serviceName } from './service/model.js';
import { RULES, missingReason, type PointNeed } from './model/catalog.js';
import type { ForwardMethod } from './service/model.js';
import type { Connection } from './model/connection.js';
import type { ReaderSummary } from './read/points.js';
import type { EngineContext } from './correlate/context.js';
import type { PacketRef } from './model/record.js';
import { AFTER_ALL, compareText } from './judge/order.js';
import { judgeCaptures } from './judge/rules/capture.js';
import { mergeNotes, type CaptureNotes } from './model/capture-notes.js';
import { FindingSink } from './judge/sink.js';
import { PhaseClock, prepare, type Prepared, type VerifyInput } from './correlate/prepare.js';
import { whyUnchecked } from './judge/rules/why-unchecked.js';
import { schedRules } from './judge/rules/sched.js';
import { judgeHere, LateCopy, mergeLadders, type Judged, type PassTwo, type RunFacts } from './judge/judge.js';

export type { VerifyInput } from './correlate/prepare.js';
export { RULE_MODULES } from './judge/judge.js';

/** One service judged. */
interface Judgement {
  ctx: EngineContext;
  sink: FindingSink;
  all: Connection[];
  correlated: number;
  maxActive: number;
  maxHeld: number;
}

/**
 * The order the scheduling rules see decisions in: SYN time (else last packet), ties by where
 * the director captured the SYN (capture file, frame: its arrival order), then by where the
 * SYN was first seen, then by client endpoint — never by the order pass 2 happened to judge
 * connections in. Each step compares a present value before an absent one, so the order is
 * total and the same whatever order the connections come in.
 */
function decisionOrder(a: Connection, b: Connection): number {
  const ta = a.synT ?? a.lastT;
  const tb = b.synT ?? b.lastT;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return compareRef(a.synAtDirector, b.synAtDirector) || compareRef(a.synRecord, b.synRecord) || compareText(a.client, b.client) || a.cport - b.cport || (a.isn ?? -1) - (b.isn ?? -1);
}

/** Packet references by point, capture file and frame; a missing one after any present one. */
function compareRef(a: PacketRef | null, b: PacketRef | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return a.point - b.point || compareText(a.capture, b.capture) || a.frame - b.frame;
}

/**
 * Pass 1, pass 2, assembly. Pass 2 first judges closed connections after a short grace; when a
 * record comes that the full grace would have judged with one of them (LateCopy), both passes
 * run again with the full grace, so the result is always the full grace's.
 */
export async function verify(input: VerifyInput, passTwo: PassTwo = judgeHere): Promise<VerifyResult> {
  const phases = new PhaseClock(input.onPhase);
  // Standard input and FIFOs: pass 1 samples their kept head, pass 2 reads it and then the rest
  // of the stream (decode/capture/stream-input.ts). A stream cannot be read a third time, so
  // pass 2 judges with the full grace at once instead of trying the short one and running
  // again (the findings are the same; the peak statistics are those of the full grace).
  let streams: KeptStreams;
  try {
    streams = keepStreamHeads(input.points.flatMap((p) => p.files));
  } catch (e) {
    await passTwo.close();
    throw e;
  }
  if (streams.size > 0) {
    input.onNote?.(`read once (${streams.inputs.map((s) => s.name).join(', ')}): pass 2 on one thread, with the full grace`);
  }
  let run: VerifyInput = streams.size > 0 ? { ...input, fullGrace: true } : input;
  try {
    for (;;) {
      const prep = await prepare(run, phases);
      phases.mark('set-up: clocks, topology, rules');
      streams.lastPass();
      try {
        const done = await passTwo.run(prep, phases);
        return assemble(done.prep, done.judged, done.facts, phases);
      } catch (e) {
        if (!(e instanceof LateCopy) || run.fullGrace === true) throw e;
        // Pass 1 again too: pass 2 consumed the points' samples.
        run.onNote?.(`pass 1 and 2 run again with the full grace: ${e.message}`);
        phases.mark('pass 2, stopped for the full grace');
        run = { ...run, fullGrace: true };
      }
    }
  } finally {
    streams.release();
    await passTwo.close();
  }
}

const isoOf = (ns: number): string => new Date(Math.floor(ns / 1e6)).toISOString();

/** Slices of the scheduling series: enough for a chart's resolution, a few numbers per real server. */
const SCHEDULING_SLICES = 120;

/** Connections per real server per slice of time, over every judged connection (the HTML chart). */
function schedulingSeries(all: ReadonlyArray<readonly Connection[]>): SchedulingSeries | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const list of all) {
    for (const c of list) {
      if (c.backend === null || c.synT === null) continue;
      if (c.synT < lo) lo = c.synT;
      if (c.synT > hi) hi = c.synT;
    }
  }
  if (lo > hi) return undefined;
  const sliceNs = Math.max(1, Math.ceil((hi - lo + 1) / SCHEDULING_SLICES));
  const perRs = new Map<string, number[]>();
  for (const list of all) {
    for (const c of list) {
      if (c.backend === null || c.synT === null) continue;
      let counts = perRs.get(c.backend);
      if (counts === undefined) perRs.set(c.backend, (counts = new Array<number>(SCHEDULING_SLICES).fill(0)));
      counts[Math.min(SCHEDULING_SLICES - 1, Math.floor((c.synT - lo) / sliceNs))]!++;
    }
  }
  return { startMs: lo / 1e6, sliceMs: sliceNs / 1e6, perRs: [...perRs].sort((a, b) => compareText(a[0], b[0])).map(([rs, counts]) => ({ rs, counts })) };
}

/**
 * Why nothing was judged, or null when something was: no service, no connection of any
 * service, or (with two points or more) no connection whose packets two points share — the
 * captures are then of other traffic or of other times, and a pass would be vacuous.
 */
/** What the point's readers read through a mirror (PointSummary.mirror), or nothing. */
function mirrorOf(readers: readonly ReaderSummary[]): Pick<PointSummary, 'mirror'> {
  const frames = readers.reduce((n, rd) => n + rd.mirrored, 0);
  const first = readers.find((rd) => rd.mirrored > 0);
  return first === undefined ? {} : { mirror: { frames, transport: first.mirrorWhat } };
}

function noData(traffic: readonly ServiceTraffic[], pointCount: number, points: readonly PointSummary[]): string | null {
  if (traffic.length === 0) return 'no service: no configuration given and no client SYN to infer it from';
  const names = traffic.map((t) => t.service).join(', ');
  if (traffic.every((t) => t.connections === 0)) {
    return `no connection of ${names} in the captures: check the service address and port (--config, --vip) and that the captures are of this service`;
  }
  if (pointCount > 1 && traffic.every((t) => t.matched === 0)) {
    const spans = points.map((p) => `${p.point} ${p.first ?? '-'} – ${p.last ?? '-'}`).join('; ');
    return `${traffic.reduce((n, t) => n + t.connections, 0)} connection(s) of ${names}, but no packet of them was seen at two capture points: the captures do not cover the same traffic (spans: ${spans})`;
  }
  return null;
}

/** Runs the scheduling rules over every judged connection, and assembles the result. */
function assemble(prep: Prepared, done: Judged, facts: RunFacts, phases: PhaseClock): VerifyResult {
  const { input, points, clocks, refIdx, services, inferred, ignore, configured } = prep;
  const profile = input.profile;
  const notEvaluated: NotEvaluated[] = [];
  const judged: Judgement[] = facts.engines.map((e, i) => {
    const { sink: state, all, correlated, maxActive, maxHeld } = done.services[i]!;
    const sink = new FindingSink(e.ctx, ignore);
    sink.absorb(state);
    // Findings that depend on facts about every connection, now that all are judged.
    sink.resolve();
    const inOrder = [...all].sort(decisionOrder);
    sink.begin(AFTER_ALL);
    schedRules.run(e.ctx, inOrder, sink);
    return { ctx: e.ctx, sink, all: inOrder, correlated, maxActive, maxHeld };
  });

  const notes: CaptureNotes = {};
  for (const { sink } of judged) mergeNotes(notes, sink.notes);
  const captures = judgeCaptures({ readers: facts.readers, points, warnings: facts.warnings, clocks, refIdx, ignore, notes });
  const findings: Finding[] = captures.findings;
  const clockOffsets: ClockOffset[] = captures.clockOffsets;

  // ARP findings (verify/arp).
  const arpReport = facts.arpReport;
  for (const f of arpReport.findings) if (!ignore.has(f.rule)) findings.push(f);
  for (const { sink } of judged) findings.push(...sink.findings());
  const sinkCtxs = judged;
  const connections = mergeLadders([done.ladders], input.maxLadders ?? 2000);
  for (const l of connections) l.rules = [...new Set(findings.filter((f) => f.conn === l.conn).map((f) => f.rule))];

  // Tally and not-evaluated, from the catalog.
  const have = new Set<PointNeed>(points.map((p) => p.kind));
  const methods = new Set<ForwardMethod>(services.flatMap((s) => s.realServers.map((r) => r.method)));
  const rules: RuleTally[] = [];
  const arpNotEval = new Map(arpReport.notEvaluated.map((n) => [n.rule, n.reason]));
  for (const rule of RULES) {
    if (rule.engine === 'fnat' && !methods.has('fullnat')) continue;
    if (ignore.has(rule.id)) continue;
    const failed = findings.filter((f) => f.rule === rule.id).length;
    if (rule.engine === 'arp') {
      const reason = arpNotEval.get(rule.id);
      if (reason) notEvaluated.push({ rule: rule.id, reason });
      rules.push({ rule: rule.id, status: reason ? 'not-evaluated' : failed > 0 ? 'fail' : 'pass', checked: arpReport.stats.arpPackets, failed });
      continue;
    }
    let reason: string | null = missingReason(rule, have, methods, configured);
    if (!reason && services.length === 0) reason = 'no service: no configuration given and no client SYN to infer it from';
    const checked = sinkCtxs.reduce((n, s) => n + (s.sink.checked(rule.id)), 0);
    // Failed checks as counted by the engine (findings are folded per connection and per rule).
    const failedChecks = sinkCtxs.reduce((n, s) => n + s.sink.failedCount(rule.id), 0);
    if (!reason && checked === 0 && failed === 0 && rule.family !== 'capture' && rule.id !== 'checksum.offload-likely') {
      const why = judged.map((j) => whyUnchecked(rule.id, j.ctx, j.all)).find((w) => w !== null);
      reason = `nothing to check: ${why ?? 'no packet or connection the rule applies to was correlated'}`;
    }
    if (reason && failed === 0) {
      notEvaluated.push({ rule: rule.id, reason });
      rules.push({ rule: rule.id, status: 'not-evaluated', checked: 0, failed: 0 });
    } else {
      rules.push({ rule: rule.id, status: failed > 0 ? (rule.severity === 'info' ? 'pass' : 'fail') : 'pass', checked, failed: Math.max(failed, failedChecks) });
    }
  }

  const pointSummaries: PointSummary[] = points.map((p, i) => {
    const off = clocks[i]?.offsetNs ?? 0;
    const empty = !(p.firstTs <= p.lastTs);
    return {
      point: p.name,
      captures: p.files,
      frames: p.frames,
      clockOffsetMs: i === refIdx ? 0 : clocks[i]!.pairs > 0 ? clocks[i]!.offsetNs / 1e6 : null,
      first: empty ? null : isoOf(p.firstTs - off),
      last: empty ? null : isoOf(p.lastTs - off),
      ...mirrorOf(facts.readers.filter((rd) => rd.point === i)),
    };
  });

  const connCount = judged.reduce((n, e) => n + e.all.length, 0);
  const traffic: ServiceTraffic[] = judged.map(({ ctx, sink }) => ({
    service: serviceName(ctx.service),
    connections: sink.judgedConnections,
    matched: sink.matchedConnections,
  }));
  const noDataReason = hasError(findings) ? null : noData(traffic, points.length, pointSummaries);

  const scheduling = schedulingSeries(judged.map((j) => j.all));
  phases.mark('scheduling rules, tallies');
  const serviceOut = services.length === 1 ? services[0] : services;
  return {
    verdict: hasError(findings) ? 'fail' : noDataReason !== null ? 'no-data' : 'pass',
    ...(noDataReason !== null ? { noDataReason } : {}),
    traffic,
    service: serviceOut ?? null,
    serviceInferred: inferred,
    profile,
    points: pointSummaries,
    findings,
    notEvaluated,
    rules,
    stats: {
      frames: points.reduce((n, p) => n + p.frames, 0),
      packetsCorrelated: judged.reduce((n, e) => n + e.correlated, 0),
      connections: connCount,
      maxLiveConnections: judged.reduce((n, e) => Math.max(n, e.maxActive), 0),
      maxLivePackets: judged.reduce((n, e) => Math.max(n, e.maxHeld), 0),
      services: services.length,
      errors: findings.filter((f) => f.severity === 'error').length,
      warnings: findings.filter((f) => f.severity === 'warning').length,
    },
    connections,
    clockOffsets,
    // Who the ARP analysis took for whom: only when there was ARP or neighbor discovery to read.
    ...(arpReport.stats.arpPackets > 0 ? { arp: { directors: arpReport.directors, roles: arpReport.roles } } : {}),
    ...(arpReport.timeline.length > 0 ? { arpTimeline: arpReport.timeline } : {}),
    ...(scheduling !== undefined ? { scheduling } : {}),
  };
}

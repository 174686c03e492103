/**
 * `verify` as a library: read the captures of every point, correlate the copies of each packet
 * across points, run the rule families of rules.md per service, and return a VerifyResult that
 * the reporters render. The CLI (src/cli/verify.ts) only parses options and calls this.
 *
 * Two passes. (1) A bounded sample of every capture gives the clock offsets, the director's and
 * real servers' MACs, which capture is which real server, and the service when none is
 * configured (prepare.ts). (2) All captures are read side by side in corrected time; records
 * are classified into connections, and each connection is judged by the rule modules once it
 * has closed, then its packets are forgotten: packet memory follows the live connections, not
 * the capture size (share.ts). Pass 2 of a big NAT/DR/TUN run is split by client endpoint over
 * threads (parallel/index.ts); the shares are merged here, in an order that does not depend on
 * the split (engine/judge-order.ts). Scheduling rules run last over the per-connection
 * summaries of all shares, which stay (about 0.5 KB per judged connection with the client's
 * endpoints and the ARP connection count: memory still grows with the number of connections,
 * slowly).
 *
 *   const result = await verify({ services, points: [{ kind: 'client', files: ['cl.pcap'] }, …],
 *                                 profile: 'linux' });
 */
import type { Finding, NotEvaluated } from './model/findings.js';
import { hasError } from './model/findings.js';
import type { ClockOffset, PointSummary, RuleTally, VerifyResult } from './model/result.js';
import { RULES, missingReason, type PointNeed } from './model/catalog.js';
import type { ForwardMethod } from './service/model.js';
import type { Connection } from './model/connection.js';
import type { EngineContext } from './correlate/context.js';
import type { PacketRef } from './model/record.js';
import { AFTER_ALL, compareText } from './judge/order.js';
import { captureFindings } from './read/points.js';
import { WHOLE } from './parallel/partition.js';
import { FindingSink } from './judge/sink.js';
import { received, splitPlan, startHelpers, type Helper } from './parallel/index.js';
import { canSplit, fingerprint, PhaseClock, prepare, type Prepared, type VerifyInput } from './correlate/prepare.js';
import { schedRules } from './judge/rules/sched.js';
import { LateCopy, mergeLadders, runShare, type MainExtras, type OpenSource, type ShareResult } from './judge/judge.js';
import { Feeder, FeederFailed, feederPlan } from './parallel/feeder.js';

export type { VerifyInput } from './correlate/prepare.js';
export { RULE_MODULES } from './judge/judge.js';

/** One service judged over all shares. */
interface Judged {
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
 * SYN was first seen, then by client endpoint — never by which share or thread saw a
 * connection first. Each step compares a present value before an absent one, so the order is
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

/** Shares 1.. from the helpers; a helper that failed or disagrees is run here instead. */
async function helperShares(input: VerifyInput, print: string, helpers: readonly Helper[], debug: (line: string) => void): Promise<ShareResult[]> {
  const out: ShareResult[] = [];
  for (const h of helpers) {
    const r = await h.result;
    if (r.ok && r.fingerprint === print) {
      out.push(received(r.share));
      continue;
    }
    if (!r.ok && r.late !== undefined) throw new LateCopy(r.late === 'answers');
    debug(`share ${h.spec.index} of ${h.spec.of} run on the main thread: ${r.ok ? 'its first pass disagreed' : r.reason}`);
    // Pass 1 again: the main share consumed the points' samples.
    const again = await prepare(input);
    out.push((await runShare(again, h.spec, false)).share);
  }
  return out;
}

/** What a split run cannot reproduce, found out while it ran (null: nothing). */
function unreproducible(main: MainExtras, shares: readonly ShareResult[]): string | null {
  // The order a stepped-back file's records merge in depends on which a thread keeps.
  const stepped = main.readers.find((r) => r.steppedBack);
  if (stepped) return `timestamps in ${stepped.file} step back by more than the window`;
  if (shares.some((s) => s.clientAtServiceEnd)) return 'a client of the VIP sends from a service address or port (ConnectionTracker.clientAtServiceEnd)';
  return null;
}

export async function verify(input: VerifyInput): Promise<VerifyResult> {
  const phases = new PhaseClock(input.onPhase);
  const debug = process.env.LVSAUDIT_PARALLEL_DEBUG ? (line: string): void => void process.stderr.write(`lvsaudit: verify: ${line}\n`) : (): void => {};
  let run = input;
  for (;;) {
    try {
      return await firstTry(run, phases, debug);
    } catch (e) {
      // Pass 1 again too, each time: pass 2 consumed the points' samples (and helpers prepare
      // their own).
      if (e instanceof LateCopy && run.fullGrace !== true) {
        debug(`pass 1 and 2 run again with the full grace: ${e.message}`);
        phases.mark('pass 2, stopped for the full grace');
        run = { ...run, fullGrace: true };
      } else if (e instanceof FeederFailed && run.feeder !== false) {
        debug(`pass 1 and 2 run again without a feeder thread: ${e.message}`);
        phases.mark('pass 2, stopped: the feeder thread failed');
        run = { ...run, feeder: false };
      } else {
        throw e;
      }
    }
  }
}

/** Pass 2 with the grace prepare() chose, split when the plan says so; LateCopy escapes. */
async function firstTry(input: VerifyInput, phases: PhaseClock, debug: (line: string) => void): Promise<VerifyResult> {
  const plan = splitPlan(input);
  // Helpers and the feeder start first: their thread start (and a helper's own pass 1) overlap
  // the main thread's pass 1.
  const helpers = plan.of > 1 ? startHelpers(input, plan.of) : [];
  const feed = plan.of > 1 ? { use: false, why: 'pass 2 is split by connection' } : feederPlan(input);
  const feeder = feed.use ? Feeder.start() : null;
  try {
    const prep = await prepare(input, phases);
    const split = helpers.length > 0 && canSplit(prep);
    debug(split ? `pass 2 split in ${plan.of} shares (${plan.why})` : `pass 2 on one thread: ${helpers.length > 0 ? 'the service cannot be split by client' : plan.why}`);
    if (!split) await Promise.all(helpers.map((h) => h.stop()));
    // Before pass 2, which consumes the points' samples.
    const print = split ? fingerprint(prep) : '';
    phases.mark('set-up: clocks, topology, rules');
    debug(feeder ? `pass 2 reads on a feeder thread (${feed.why})` : `pass 2 reads on the main thread: ${feed.use ? 'no thread could be started' : feed.why}`);
    const openSource: OpenSource | undefined = feeder ? (fp, answers, pool) => feeder.open(fp, prep.points, answers, pool) : undefined;
    const mine = await runShare(prep, split ? { index: 0, of: plan.of } : WHOLE, true, openSource);
    phases.mark(split ? `pass 2: share 1 of ${plan.of} correlated and judged` : 'pass 2: every capture correlated and judged');
    if (feeder) debug(`feeder thread: ${feeder.report}`);
    if (!split) return assemble(input, prep, [mine.share], mine.extras, phases);
    const shares = [mine.share, ...(await helperShares(input, print, helpers, debug))];
    phases.mark('pass 2: the other shares');
    const redo = unreproducible(mine.extras, shares);
    if (redo === null) return assemble(input, prep, shares, mine.extras, phases);
    debug(`pass 2 run again on one thread: ${redo}`);
    // Pass 1 again: pass 2 consumed the points' samples.
    const again = await prepare(input);
    const whole = await runShare(again, WHOLE, true);
    phases.mark('pass 2: again on one thread');
    return assemble(input, again, [whole.share], whole.extras, phases);
  } finally {
    feeder?.stop();
    await Promise.all(helpers.map((h) => h.stop()));
  }
}

/** Merges the shares and runs the scheduling rules and tallies. */
function assemble(input: VerifyInput, prep: Prepared, shares: readonly ShareResult[], extras: MainExtras, phases: PhaseClock): VerifyResult {
  const { points, clocks, refIdx, services, inferred, ignore, configured } = prep;
  const profile = input.profile;
  const notEvaluated: NotEvaluated[] = [];
  const judged: Judged[] = extras.engines.map((e, i) => {
    const sink = new FindingSink(e.ctx, ignore);
    let all: Connection[] = [];
    let correlated = 0;
    let maxActive = 0;
    let maxHeld = 0;
    for (const s of shares) {
      const part = s.engines[i]!;
      sink.absorb(part.sink);
      all = all.length === 0 ? part.all : all.concat(part.all);
      correlated += part.correlated;
      // Shares peak at different moments: their sum bounds the peak of a single thread.
      maxActive += part.maxActive;
      maxHeld += part.maxHeld;
    }
    // Findings that depend on facts about every connection, now that all are judged.
    sink.resolve();
    all = [...all].sort(decisionOrder);
    sink.begin(AFTER_ALL);
    schedRules.run(e.ctx, all, sink);
    return { ctx: e.ctx, sink, all, correlated, maxActive, maxHeld };
  });

  const findings: Finding[] = captureFindings(extras.readers, points, extras.warnings);
  const clockOffsets: ClockOffset[] = [];
  // capture.clock-offset: one info finding per point measured against the reference.
  points.forEach((p, i) => {
    const c = clocks[i]!;
    if (i === refIdx) return;
    const offsetMs = c.offsetNs / 1e6;
    clockOffsets.push({ point: p.name, offsetMs, spreadMs: c.spreadNs / 1e6, pairs: c.pairs, against: c.via });
    if (ignore.has('capture.clock-offset')) return;
    findings.push({
      rule: 'capture.clock-offset',
      severity: 'info',
      message:
        c.pairs > 0
          ? `${p.name} clock is ${offsetMs >= 0 ? '+' : ''}${offsetMs.toFixed(3)} ms against ${c.via} (spread ${(c.spreadNs / 1e6).toFixed(3)} ms over ${c.pairs} matched packets)`
          : `${p.name} shares no packet with the other captures: its clock offset is unknown (assumed 0)`,
      hint: c.pairs > 0 ? 'informational: timestamps of this capture are corrected by this offset before matching' : 'check that this capture covers the same time and traffic',
      evidence: p.files[0] ? [{ capture: p.files[0], frame: 1, point: p.name }] : [],
    });
  });

  // ARP findings from H6's analyzer.
  const arpReport = extras.arpReport;
  for (const f of arpReport.findings) if (!ignore.has(f.rule)) findings.push(f);
  for (const { sink } of judged) findings.push(...sink.findings());
  const sinkCtxs = judged;
  const connections = mergeLadders(shares.map((s) => s.ladders), input.maxLadders ?? 2000);
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
      reason = 'nothing to check: no packet or connection the rule applies to was correlated';
    }
    if (reason && failed === 0) {
      notEvaluated.push({ rule: rule.id, reason });
      rules.push({ rule: rule.id, status: 'not-evaluated', checked: 0, failed: 0 });
    } else {
      rules.push({ rule: rule.id, status: failed > 0 ? (rule.severity === 'info' ? 'pass' : 'fail') : 'pass', checked, failed: Math.max(failed, failedChecks) });
    }
  }

  const pointSummaries: PointSummary[] = points.map((p, i) => ({
    point: p.name,
    captures: p.files,
    frames: p.frames,
    clockOffsetMs: i === refIdx ? 0 : clocks[i]!.pairs > 0 ? clocks[i]!.offsetNs / 1e6 : null,
  }));

  const connCount = judged.reduce((n, e) => n + e.all.length, 0);

  phases.mark('scheduling rules, tallies');
  const serviceOut = services.length === 1 ? services[0] : services;
  return {
    verdict: hasError(findings) ? 'fail' : 'pass',
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
  };
}

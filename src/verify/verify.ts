/**
 * `verify` as a library: read the captures of every point, correlate the copies of each packet
 * across points, run the rule families of rules.md per service, and return a VerifyResult that
 * the reporters render. The CLI (src/cli/verify.ts) only parses options and calls this.
 *
 * Two passes. (1) A bounded sample of every capture (engine/load.ts) gives the clock offsets
 * (engine/clock.ts), the director's and real servers' MACs, which capture is which real server,
 * and the service when none is configured (engine/infer.ts). (2) All captures are read side by
 * side in corrected time (engine/stream.ts); records are classified into connections
 * (engine/connections.ts), and each connection is judged by the rule modules (rules/*.ts) once
 * it has closed, then its packets are forgotten: packet memory follows the live connections,
 * not the capture size. Scheduling rules run last over the per-connection summaries, which stay
 * (about 0.5 KB per judged connection with the client's endpoints and the ARP connection count:
 * memory still grows with the number of connections, slowly).
 *
 *   const result = await verify({ services, points: [{ kind: 'client', files: ['cl.pcap'] }, …],
 *                                 profile: 'linux' });
 */
import { formatTimestamp } from '../decode/frame.js';
import { ArpAnalyzer } from './arp/index.js';
import type { Finding, NotEvaluated } from './findings.js';
import { hasError } from './findings.js';
import type { ClockOffset, ConnectionLadder, LadderCopy, PointSummary, RuleTally, VerifyResult } from './result.js';
import { RULES, missingReason, type PointNeed } from './rules-catalog.js';
import type { ForwardMethod, Service, ServiceSet } from './service/model.js';
import { estimateClocks, referencePoint, type ClockEstimate } from './engine/clock.js';
import { ConnectionTracker, type Connection } from './engine/connections.js';
import { FnatTracker } from './engine/fnat-tracker.js';
import { fullnatFlow, makeFullnatRules } from './rules/fullnat.js';
import { decorateFullnatLadder } from './rules/fullnat-ladder.js';
import type { EngineContext, Profile } from './engine/context.js';
import { inferService } from './engine/infer.js';
import { DirectorAnswers } from './engine/director-answers.js';
import { captureFindings, noteArp, samplePoints, SAMPLE_RECORDS, type LoadedPoint, type PointInput } from './engine/load.js';
import { mergeReaders, PointReader } from './engine/stream.js';
import type { CaptureWarning } from '../decode/capture/index.js';
import { RecordPool, type PacketRecord } from './engine/record.js';
import { FindingSink, connLabel } from './engine/sink.js';
import { checksumRules } from './rules/checksum.js';
import type { RuleModule } from './rules/common.js';
import { drRules } from './rules/dr.js';
import { flowRules } from './rules/flow.js';
import { natRules } from './rules/nat.js';
import { rewriteRules } from './rules/rewrite.js';
import { schedRules } from './rules/sched.js';
import { tunRules } from './rules/tun.js';

export interface VerifyInput {
  services: ServiceSet | null;
  points: PointInput[];
  profile: Profile;
  toaKinds?: number[];
  ignore?: string[];
  /** Correlation window after clock correction (default 1000 ms). */
  windowMs?: number;
  /** Cap on connections returned for ladder diagrams (default 2000). */
  maxLadders?: number;
  /** Records per capture in the first (sampling) pass; default 20000 (tests lower it). */
  sampleRecords?: number;
  /** Reuse judged packet records (default true; false exists so tests can prove the reuse
   *  changes nothing). */
  reuseRecords?: boolean;
  /** Try a small first sample before the full one (default true; see settledBySample). */
  stagedSample?: boolean;
  /** Called at the end of each phase with its name and wall time (LVSAUDIT_VERIFY_TIMING). */
  onPhase?: (phase: string, ms: number) => void;
}

/** Reports the wall time of each phase of a run to `onPhase`, when there is one. */
class PhaseClock {
  private last = performance.now();
  constructor(private readonly onPhase: ((phase: string, ms: number) => void) | undefined) {}
  mark(phase: string): void {
    if (!this.onPhase) return;
    const now = performance.now();
    this.onPhase(phase, now - this.last);
    this.last = now;
  }
}

/** A wider second sample, when the first samples of two captures did not overlap in time. */
const WIDE_SAMPLE_FACTOR = 50;

/** Pass 1 first reads this fraction of the sample (configured NAT/DR/TUN services). */
const FIRST_STAGE_DIVISOR = 8;
/** Matched packets that pin a clock offset: the median of this many differences moves by well
 *  under the one-way latency when more are added. */
const ENOUGH_PAIRS = 256;

function isFullnat(s: Service): boolean {
  return s.realServers.length > 0 ? s.realServers.every((r) => r.method === 'fullnat') : s.method === 'fullnat';
}

/** True when point i's sample stopped at the limit (the file had more records to give). */
function sampleCut(points: readonly LoadedPoint[], i: number, refIdx: number, size: number): boolean {
  return points[i]!.records.length >= (i === refIdx ? size * 4 : size);
}

/**
 * Whether a small first sample already gives what the full one would (pass 1 is ~15 % of a big
 * run, most of it retaining the sampled records): every point's clock rests on ENOUGH_PAIRS
 * matched packets, and every real-server capture names a service address (so it can be
 * recognised) — or else neither it nor the reference had more records to give, in which case
 * the full sample would read exactly the same records.
 */
function settledBySample(points: readonly LoadedPoint[], clocks: readonly ClockEstimate[], size: number, addrs: ReadonlySet<string>): boolean {
  const refIdx = referencePoint(points);
  const more = (i: number): boolean => sampleCut(points, i, refIdx, size) || sampleCut(points, refIdx, refIdx, size);
  return points.every((p, i) => {
    if (i === refIdx) return true;
    if (clocks[i]!.pairs < ENOUGH_PAIRS && more(i)) return false;
    if (p.kind === 'rs' && !p.rsIp && more(i)) return p.records.some((r) => addrs.has(r.ip.src) || addrs.has(r.ip.dst) || (r.outer !== null && (addrs.has(r.outer.dst) || addrs.has(r.outer.src))));
    return true;
  });
}

export const RULE_MODULES: readonly RuleModule[] = [flowRules, checksumRules, rewriteRules, natRules, drRules, tunRules, schedRules];

/** Every address a service involves: a packet that names none of them is not kept. */
function serviceAddresses(set: ServiceSet): Set<string> {
  const a = new Set<string>();
  for (const s of set.services) {
    if (s.vip) a.add(s.vip);
    for (const r of s.realServers) a.add(r.ip);
    for (const l of s.localAddresses) a.add(l);
  }
  return a;
}

/** Service ports (VIP ports and RS ports): a director forwarding to an unconfigured server still
 *  uses one of them, and that packet must be kept to be reported (sched.unknown-rs). */
function servicePorts(set: ServiceSet): Set<number> {
  const ports = new Set<number>();
  for (const s of set.services) {
    if (s.vport) ports.add(s.vport);
    for (const r of s.realServers) if (r.port) ports.add(r.port);
  }
  return ports;
}

function keepFor(addrs: Set<string>, ports: Set<number>): (r: PacketRecord) => boolean {
  return (r) =>
    addrs.has(r.ip.src) ||
    addrs.has(r.ip.dst) ||
    (r.outer !== null && (addrs.has(r.outer.src) || addrs.has(r.outer.dst))) ||
    ports.has(r.sport) ||
    ports.has(r.dport);
}

/** Most frequent value of a list (ties: first seen). */
function mode(xs: readonly string[]): string | null {
  const m = new Map<string, number>();
  let best: string | null = null;
  let bestN = 0;
  for (const x of xs) {
    const n = (m.get(x) ?? 0) + 1;
    m.set(x, n);
    if (n > bestN) {
      best = x;
      bestN = n;
    }
  }
  return best;
}

/** The MAC a real-server capture's host owns: destination of what it receives for the service. */
function ownMac(p: LoadedPoint, vips: ReadonlySet<string>, rip: string | null): string | null {
  const macs: string[] = [];
  for (const r of p.records) {
    if (!r.dstMac) continue;
    if (vips.has(r.ip.dst) || (rip && (r.ip.dst === rip || r.outer?.dst === rip))) macs.push(r.dstMac);
  }
  return mode(macs);
}

/** Gives every RS capture without `IP=` its RIP: the configured RIP its packets name most, else
 *  the RIP its own MAC claims in ARP (DR captures never name the RIP in the IP header). */
function recogniseRealServers(points: LoadedPoint[], rips: ReadonlySet<string>, vips: ReadonlySet<string>): void {
  const arpAll = new Map<string, Set<string>>();
  for (const p of points) for (const [ip, macs] of p.arp) for (const m of macs) (arpAll.get(ip) ?? arpAll.set(ip, new Set()).get(ip)!).add(m);
  for (const p of points) {
    if (p.kind !== 'rs' || p.rsIp) continue;
    const named: string[] = [];
    for (const r of p.records) {
      for (const a of [r.ip.src, r.ip.dst, r.outer?.dst, r.outer?.src]) if (a && rips.has(a)) named.push(a);
    }
    let ip = mode(named);
    if (!ip) {
      const mac = ownMac(p, vips, null);
      if (mac) for (const [aip, macs] of arpAll) if (rips.has(aip) && macs.has(mac)) ip = aip;
    }
    if (ip) {
      p.rsIp = ip;
      p.name = `rs:${ip}`;
    }
  }
  // By elimination: one RS capture left unrecognised and one configured RIP without a capture.
  const unknown = points.filter((p) => p.kind === 'rs' && !p.rsIp);
  const claimed = new Set(points.map((p) => p.rsIp).filter((x): x is string => x !== null));
  const free = [...rips].filter((ip) => !claimed.has(ip));
  if (unknown.length === 1 && free.length === 1 && unknown[0]!.records.length > 0) {
    unknown[0]!.rsIp = free[0]!;
    unknown[0]!.name = `rs:${free[0]!}`;
  }
}

function makeContext(
  service: Service,
  inferred: boolean,
  profile: Profile,
  points: LoadedPoint[],
  clocks: ClockEstimate[],
  windowNs: number,
): EngineContext {
  const rsByIp = new Map(service.realServers.map((r) => [r.ip, r]));
  const methods = new Set<ForwardMethod>(service.realServers.map((r) => r.method));
  if (methods.size === 0 && service.method) methods.add(service.method);
  const ctx: EngineContext = {
    service,
    inferred,
    profile,
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

function flagText(f: number): string {
  const names: [number, string][] = [
    [0x02, 'S'],
    [0x01, 'F'],
    [0x04, 'R'],
    [0x08, 'P'],
    [0x10, '.'],
    [0x20, 'U'],
  ];
  return names.filter(([b]) => (f & b) !== 0).map(([, n]) => n).join('');
}

function ladder(ctx: EngineContext, c: Connection, rules: string[]): ConnectionLadder {
  const t0 = c.records[0]?.t ?? 0;
  const first = c.records[0];
  const packets = [...c.traces]
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
      return { direction: t.c2s ? ('c2s' as const) : ('s2c' as const), flags: flagText(any.flags), seq: any.seq, ack: any.ack, payloadLen: any.payloadLen, copies: out };
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

export async function verify(input: VerifyInput): Promise<VerifyResult> {
  const windowNs = (input.windowMs ?? 1000) * 1e6;
  const ignore = new Set(input.ignore ?? []);
  const configured = input.services !== null && input.services.services.length > 0;
  const keep = configured ? keepFor(serviceAddresses(input.services!), servicePorts(input.services!)) : undefined;
  const toa = input.toaKinds ? { toaKinds: input.toaKinds } : {};

  const phases = new PhaseClock(input.onPhase);
  // Pass 1: a bounded sample of every capture → clocks, topology, service.
  const sample = input.sampleRecords ?? SAMPLE_RECORDS;
  const sampleOpts = { ...(keep ? { keep } : {}), ...toa };
  let size = sample;
  let points: LoadedPoint[] | null = null;
  let clocks: ClockEstimate[] = [];
  if (configured && input.stagedSample !== false && !input.services!.services.some(isFullnat)) {
    // A configured NAT/DR/TUN service needs the sample only for clocks and which capture is
    // which host: a small one usually settles both (see settledBySample).
    const small = Math.max(1, Math.floor(sample / FIRST_STAGE_DIVISOR));
    const first = await samplePoints(input.points, sampleOpts, small);
    const firstClocks = estimateClocks(first);
    if (settledBySample(first, firstClocks, small, serviceAddresses(input.services!))) {
      points = first;
      clocks = firstClocks;
      size = small;
    }
  }
  if (points === null) {
    points = await samplePoints(input.points, sampleOpts, sample);
    clocks = estimateClocks(points);
  }
  phases.mark(`pass 1: sample of ${size} records per capture`);
  const refIdx = referencePoint(points);
  // Captures started at different times: their first samples may share no packet. Look further
  // (a wider sample) before giving up on a clock offset.
  const cut = (i: number): boolean => sampleCut(points!, i, refIdx, size);
  if (points.some((_, i) => i !== refIdx && clocks[i]!.pairs === 0 && (cut(i) || cut(refIdx)))) {
    points = await samplePoints(input.points, sampleOpts, sample * WIDE_SAMPLE_FACTOR);
    clocks = estimateClocks(points);
  }
  const notEvaluated: NotEvaluated[] = [];

  let services: Service[];
  let inferred = false;
  if (configured) {
    services = input.services!.services;
    recogniseRealServers(points, new Set(services.flatMap((s) => s.realServers.map((r) => r.ip))), new Set(services.map((s) => s.vip)));
  } else {
    const s = inferService(points, new Map());
    services = s ? [s] : [];
    inferred = true;
    if (s) recogniseRealServers(points, new Set(s.realServers.map((r) => r.ip)), new Set([s.vip]));
  }

  const profile = input.profile;
  const maxLadders = input.maxLadders ?? 2000;
  const connections: ConnectionLadder[] = [];
  const engines: { ctx: EngineContext; sink: FindingSink; tracker: ConnectionTracker | FnatTracker }[] = [];
  // ICMP errors and fragments, shared by every service's rules (see engine/director-answers.ts).
  const answers = new DirectorAnswers();
  // One NAT/DR/TUN service: its tracker is the only user of the records, so judged ones can be
  // reused (engine/record.ts RecordPool). With several trackers a record may sit in more than one.
  const pool = input.reuseRecords !== false && services.length === 1 && !isFullnat(services[0]!) ? new RecordPool() : null;
  for (const service of services) {
    if (isFullnat(service)) {
      // FullNAT changes the client address and seq: its own tracker links the two legs
      // (engine/fnat-tracker.ts) and its rules judge them (rules/fullnat.ts).
      const ctx = makeContext(service, inferred, profile, points, clocks, windowNs);
      const sink = new FindingSink(ctx, ignore);
      const perConn = [fullnatFlow(flowRules), checksumRules, makeFullnatRules(input.toaKinds ? { toaKinds: input.toaKinds } : {})];
      const tracker = new FnatTracker(ctx, (c) => {
        for (const m of perConn) m.run(ctx, [c], sink);
        if (connections.length < maxLadders) connections.push(decorateFullnatLadder(ctx, c, ladder(ctx, c, []), input.toaKinds));
      });
      engines.push({ ctx, sink, tracker });
      continue;
    }
    const ctx = makeContext(service, inferred, profile, points, clocks, windowNs);
    ctx.answers = answers;
    const sink = new FindingSink(ctx, ignore);
    const perConn = RULE_MODULES.filter((m) => m !== schedRules);
    const tracker = new ConnectionTracker(
      ctx,
      (c) => {
        for (const m of perConn) m.run(ctx, [c], sink);
        if (connections.length < maxLadders) connections.push(ladder(ctx, c, []));
      },
      undefined,
      pool,
    );
    engines.push({ ctx, sink, tracker });
  }

  // Pass 2: every capture side by side in corrected time; connections are judged as they close.
  for (const p of points) {
    p.records = [];
    p.firstTs = Infinity;
    p.lastTs = -Infinity;
  }
  const vipList = services.filter((s) => s.family === 4 && s.vip).map((s) => s.vip);
  const ripList = services.flatMap((s) => s.realServers.map((r) => r.ip));
  const arp = new ArpAnalyzer({ vips: vipList, realServers: ripList, directorPoint: 'director' });
  const warnings: CaptureWarning[] = [];
  const readers: PointReader[] = [];
  const anyFullnat = services.some((s) => s.method === 'fullnat' || s.realServers.some((r) => r.method === 'fullnat'));
  points.forEach((p, i) => {
    for (const file of p.files) {
      readers.push(
        new PointReader(file, i, {
          ...toa,
          ...(keep ? { keep } : {}),
          offsetNs: clocks[i]!.offsetNs,
          tcpOptions: anyFullnat,
          ...(pool ? { pool } : {}),
          onWarning: (w) => warnings.push(w),
          observe: (pkt) => {
            p.frames++;
            const ts = pkt.tsSec * 1e9 + pkt.tsNsec;
            if (ts < p.firstTs) p.firstTs = ts;
            if (ts > p.lastTs) p.lastTs = ts;
            noteArp(p, pkt);
            arp.observe(pkt, p.name);
            if (p.kind !== 'rs') answers.observe(pkt);
          },
        }),
      );
    }
  });
  phases.mark('set-up: clocks, topology, rules');
  const sole = pool ? (engines[0]!.tracker as ConnectionTracker) : null;
  await mergeReaders(
    readers,
    sole
      ? (r) => {
          if (!sole.add(r)) pool!.give(r);
        }
      : (r) => {
          for (const e of engines) e.tracker.add(r);
        },
    (now) => {
      for (const e of engines) e.tracker.sweep(now);
    },
  );
  phases.mark('pass 2: every capture correlated and judged');
  for (const e of engines) {
    e.tracker.finish();
    const all = [...e.tracker.all].sort((a, b) => (a.synT ?? a.lastT) - (b.synT ?? b.lastT));
    schedRules.run(e.ctx, all, e.sink);
  }

  const findings: Finding[] = captureFindings(readers, points, warnings);
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
  const arpReport = arp.finish();
  for (const f of arpReport.findings) if (!ignore.has(f.rule)) findings.push(f);
  for (const { sink } of engines) findings.push(...sink.findings());
  const sinkCtxs = engines;
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

  const connCount = engines.reduce((n, e) => n + e.tracker.all.length, 0);

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
      packetsCorrelated: engines.reduce((n, e) => n + e.tracker.liveSet.correlated, 0),
      connections: connCount,
      maxLiveConnections: engines.reduce((n, e) => Math.max(n, e.tracker.liveSet.maxActive), 0),
      maxLivePackets: engines.reduce((n, e) => Math.max(n, e.tracker.liveSet.maxHeld), 0),
      services: services.length,
      errors: findings.filter((f) => f.severity === 'error').length,
      warnings: findings.filter((f) => f.severity === 'warning').length,
    },
    connections,
    clockOffsets,
  };
}

/**
 * Pass 1 of `verify`: a bounded sample of every capture gives the clock offsets
 * (correlate/clock.ts), which capture is which real server, and the service when none is
 * configured (correlate/infer.ts). Everything pass 2 needs to start is in the `Prepared` it
 * returns. It is deterministic: the same input always prepares to the same `Prepared`, so pass 1
 * may be run again, or elsewhere, and agree.
 */
import type { DecapOptions } from '../../decode/packet.js';
import { isFullnat, serviceAddresses, type Service, type ServiceSet } from '../service/model.js';
import { estimateClocks, referencePoint, type ClockEstimate } from './clock.js';
import type { Profile } from './context.js';
import { fullGrace } from './connections.js';
import { inferService } from './infer.js';
import { keepForServices } from '../read/keep.js';
import type { RecordKeep } from '../read/stream.js';
import { CAPTURE_END_SLACK_NS, samplePoints, SAMPLE_RECORDS, type LoadedPoint, type PointInput } from '../read/points.js';

export interface VerifyInput {
  services: ServiceSet | null;
  points: PointInput[];
  profile: Profile;
  toaKinds?: number[];
  /** UDP destination ports decoded as GUE (`--gue-port`; default 6080). */
  guePorts?: number[];
  /** Mirror/overlay transports to look through (`--decap`): null none; absent, or `keepTo`
   *  empty with kinds 'auto', auto (the configured service addresses are added here). */
  decap?: DecapOptions | null;
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
  /** Records an open connection holds before its complete traces are judged and dropped
   *  (correlate/live.ts PART_MIN_RECORDS; tests lower it, Infinity judges every one whole). */
  partRecords?: number;
  /** Try smaller samples (STAGE_DIVISORS) before the full one (default true; see settledBySample). */
  stagedSample?: boolean;
  /** Judge closed connections only after the full grace (two windows) instead of trying a
   *  shorter one first (closeGrace); verify.ts sets it when it runs pass 2 again. */
  fullGrace?: boolean;
  /** Called at the end of each phase with its name and wall time (LVSAUDIT_VERIFY_TIMING). */
  onPhase?: (phase: string, ms: number) => void;
  /** Told, one line each, how the run went where it could have gone otherwise: a pass run
   *  again, and why (LVSAUDIT_PARALLEL_DEBUG). */
  onNote?: (line: string) => void;
}

/** Reports the wall time of each phase of a run to `onPhase`, when there is one. */
export class PhaseClock {
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

/**
 * The stages pass 1 tries before the full sample (configured NAT/DR/TUN services), as fractions
 * of it: by default 625 records per capture (2 500 for the reference), then 2 500 (10 000).
 * A speed measure, but one of pass 1 itself, on any number of threads: pass 1 runs on code not
 * yet compiled, so every sampled record costs, and a small sample usually pins the clocks and
 * the topology as well as the full one. settledBySample accepts a stage only when the full
 * sample could not tell more (test/verify/staged-sample.test.ts compares the reports), so the
 * stages change the time of a run, never its result. The second stage is for captures that
 * share less with the reference's first records: with eight real servers each sees an eighth
 * of the connections, and 625 of its records overlap fewer than 256 of the reference's 2 500.
 */
const STAGE_DIVISORS = [32, 8];
/** Matched packets that pin a clock offset: the median of this many differences moves by well
 *  under the one-way latency when more are added. */
const ENOUGH_PAIRS = 256;

/** True when point i's sample stopped at the limit (the file had more records to give). */
function sampleCut(points: readonly LoadedPoint[], i: number, refIdx: number, size: number): boolean {
  return points[i]!.records.length >= (i === refIdx ? size * 4 : size);
}

/**
 * Whether a small first sample already gives what the full one would: every point's clock rests on ENOUGH_PAIRS
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
export function ownMac(p: LoadedPoint, vips: ReadonlySet<string>, rip: string | null): string | null {
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

/** What pass 1 learnt, and the input settings pass 2 works with. */
export interface Prepared {
  input: VerifyInput;
  windowNs: number;
  ignore: Set<string>;
  configured: boolean;
  /** Which records concern the configured services (undefined: all). */
  keep: RecordKeep | undefined;
  points: LoadedPoint[];
  clocks: ClockEstimate[];
  refIdx: number;
  services: Service[];
  inferred: boolean;
  /** How long after its last packet a closed TCP connection is judged (closeGrace). */
  closeGraceNs: number;
  /** The transports every reader of the run looks through (decapFor). */
  decap: DecapOptions | null;
}

/**
 * What the run's decoders look through: `input.decap`, auto when absent. Auto keeps an overlay
 * sent to a configured VIP, RIP or local address (a VTEP load-balanced by the director is the
 * service's own traffic); with the service inferred there are none, and every overlay that
 * carries an Ethernet frame is a transport (LVS itself never sends one: its TUN methods carry IP).
 */
export function decapFor(input: VerifyInput): DecapOptions | null {
  const given = input.decap === undefined ? AUTO_DECAP : input.decap;
  if (given === null || given.kinds !== 'auto') return given;
  const services = input.services?.services ?? [];
  return { ...given, keepTo: [...new Set([...given.keepTo, ...serviceAddresses(services)])] };
}

const AUTO_DECAP: DecapOptions = { kinds: 'auto', keepTo: [], vxlanPorts: [], genevePorts: [] };

/**
 * The grace pass 2 first tries: a tenth of the window, or sixteen times the widest clock spread
 * pass 1 measured, whichever is longer (never more than the full grace). A record that comes
 * for a connection judged before the full grace would have passed stops pass 2, which runs
 * again with the full grace (ConnectionTracker.lateCopy, judge/judge.ts LateCopy, verify.ts):
 * so the report is the one of the full grace, and a too short guess costs time, never a finding.
 *
 * Rules also read how far each capture has been read when they judge (its last frame so far):
 * a check that looks CAPTURE_END_SLACK_NS back from a capture's end needs the grace above that
 * (at judgement every capture has been read to the merge time, which is a grace past the
 * connection), so it never goes below MIN_GRACE_NS.
 * LVSAUDIT_CLOSE_GRACE_MS sets it for tests: `full`, or a number of ms, below the floor too (a
 * tiny grace makes nearly every run stop and start again: the redo path).
 */
const MIN_GRACE_NS = 2 * CAPTURE_END_SLACK_NS;

function closeGrace(input: VerifyInput, windowNs: number, clocks: readonly ClockEstimate[]): number {
  const full = fullGrace(windowNs);
  const forced = process.env.LVSAUDIT_CLOSE_GRACE_MS;
  if (input.fullGrace === true || forced === 'full') return full;
  if (forced !== undefined && Number(forced) >= 0) return Math.min(full, Number(forced) * 1e6);
  const spread = clocks.reduce((m, c) => Math.max(m, c.spreadNs), 0);
  return Math.min(full, Math.max(windowNs / 10, 16 * spread, MIN_GRACE_NS));
}

/** Pass 1: a bounded sample of every capture → clocks, topology, service. */
export async function prepare(input: VerifyInput, phases: PhaseClock = new PhaseClock(undefined)): Promise<Prepared> {
  const windowNs = (input.windowMs ?? 1000) * 1e6;
  const ignore = new Set(input.ignore ?? []);
  const configured = input.services !== null && input.services.services.length > 0;
  const keep = configured ? keepForServices(input.services!.services) : undefined;
  const decap = decapFor(input);
  const toa = { ...(input.toaKinds ? { toaKinds: input.toaKinds } : {}), ...(input.guePorts ? { guePorts: input.guePorts } : {}), decap };

  const sample = input.sampleRecords ?? SAMPLE_RECORDS;
  const sampleOpts = { ...(keep ? { keep } : {}), ...toa };
  let size = sample;
  let points: LoadedPoint[] | null = null;
  let clocks: ClockEstimate[] = [];
  if (configured && input.stagedSample !== false && !input.services!.services.some(isFullnat)) {
    // A configured NAT/DR/TUN service needs the sample only for clocks and which capture is
    // which host: a small one usually settles both (see settledBySample).
    const addrs = serviceAddresses(input.services!.services);
    for (const divisor of STAGE_DIVISORS) {
      const small = Math.max(1, Math.floor(sample / divisor));
      const staged = await samplePoints(input.points, sampleOpts, small);
      const stagedClocks = estimateClocks(staged);
      if (settledBySample(staged, stagedClocks, small, addrs)) {
        points = staged;
        clocks = stagedClocks;
        size = small;
        break;
      }
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

  return { input, windowNs, ignore, configured, keep, points, clocks, refIdx, services, inferred, closeGraceNs: closeGrace(input, windowNs, clocks), decap };
}

/**
 * Capture points: the user's files grouped per point, a sampled first look at each (clock,
 * MACs, RS recognition), and the findings about the captures themselves (truncated files,
 * malformed headers), which are reported instead of aborting the run.
 */
import path from 'node:path';
import { trailingDrops } from '../../decode/capture/trailing-stats.js';
import { ipv4ToString, macToString } from '../../decode/addr.js';
import type { DecapOptions, Packet } from '../../decode/packet.js';
import type { PacketRecord } from '../model/record.js';
import { bindMac, neighbourBinding } from './ndp.js';
import { sampleFile, type PointReader, type RecordKeep } from './stream.js';

export type PointKindName = 'client' | 'director' | 'rs';

export interface PointInput {
  kind: PointKindName;
  files: string[];
  rsIp?: string;
}

export interface LoadedPoint {
  kind: PointKindName;
  /** "client", "director", "rs:10.0.0.11" (renamed once the RS is recognised). */
  name: string;
  files: string[];
  rsIp: string | null;
  /** The MAC of an RS capture's own host (learnt: destination of what it receives). */
  ownMac: string | null;
  /** Packets its pcapng files say the capture dropped (their closing statistics blocks,
   *  decode/capture/trailing-stats.ts); null when no file says. Where it is above 0, a packet
   *  missing at this point is no evidence that it did not get there. */
  statedDrops?: number | null;
  frames: number;
  /** The sample of the first pass (the main pass streams and keeps nothing per point). */
  records: PacketRecord[];
  /** Address → MACs seen at this point: ARP sender bindings (IPv4) and Neighbor Discovery
   *  link-layer options (IPv6, read/ndp.ts), keyed by address text for either family. */
  arp: Map<string, Set<string>>;
  firstTs: number;
  lastTs: number;
  /** Each file's first and last frame time, for a point of several files (read/feed.ts PointExtent). */
  fileSpans?: Float64Array;
}

export interface LoadOptions {
  /** Keeps a packet when it returns true (service addresses); undefined keeps every TCP/UDP packet. */
  keep?: RecordKeep;
  toaKinds?: number[];
  guePorts?: number[];
  decap?: DecapOptions | null;
}


/** Merges the user's point list: all client files form one point, all director files another. */
export function groupPoints(inputs: readonly PointInput[]): PointInput[] {
  const out: PointInput[] = [];
  for (const kind of ['client', 'director'] as const) {
    const files = inputs.filter((p) => p.kind === kind).flatMap((p) => p.files);
    if (files.length > 0) out.push({ kind, files });
  }
  for (const p of inputs) if (p.kind === 'rs') out.push(p.rsIp ? { kind: 'rs', files: p.files, rsIp: p.rsIp } : { kind: 'rs', files: p.files });
  return out;
}

/** Kept records per file for learning the topology and the clocks (the reference point gets
 *  more, so the others' samples find their partners even when clocks are seconds apart). */
export const SAMPLE_RECORDS = 20000;

/**
 * First pass: a bounded sample of every capture, enough to estimate clock offsets, learn the
 * director's and real servers' MACs, recognise RS captures and infer a missing service. The
 * ARP sender bindings of the sample are collected too (they name DR real servers).
 */
export async function samplePoints(inputs: readonly PointInput[], opts: LoadOptions, sample = SAMPLE_RECORDS): Promise<LoadedPoint[]> {
  const points: LoadedPoint[] = [];
  const grouped = groupPoints(inputs);
  const refKind = grouped.some((p) => p.kind === 'client') ? 'client' : 'director';
  for (const input of grouped) {
    const idx = points.length;
    const name = input.kind === 'rs' ? `rs:${input.rsIp ?? path.basename(input.files[0] ?? 'rs')}` : input.kind;
    const lp: LoadedPoint = {
      kind: input.kind,
      name,
      files: input.files,
      rsIp: input.rsIp ?? null,
      ownMac: null,
      frames: 0,
      records: [],
      arp: new Map(),
      firstTs: Infinity,
      lastTs: -Infinity,
    };
    points.push(lp);
    for (const file of input.files) {
      const d = trailingDrops(file);
      if (d !== null) lp.statedDrops = (lp.statedDrops ?? 0) + d;
    }
    const limit = input.kind === refKind ? sample * 4 : sample;
    for (const file of input.files) {
      const { records } = await sampleFile(file, idx, limit, {
        ...(opts.toaKinds ? { toaKinds: opts.toaKinds } : {}),
        ...(opts.guePorts ? { guePorts: opts.guePorts } : {}),
        decap: opts.decap ?? null,
        ...(opts.keep ? { keep: opts.keep } : {}),
        offsetNs: 0,
        // Sampled records are never judged: the FullNAT option bytes are not needed here.
        tcpOptions: false,
        observe: (p: Packet) => noteArp(lp, p),
      });
      for (const r of records) lp.records.push(r);
    }
    if (input.files.length > 1) lp.records.sort((a, b) => a.ts - b.ts);
  }
  return points;
}

/** Records the address → MAC binding a packet carries at its point: the ARP sender (IPv4 over
 *  Ethernet) or an NS/NA link-layer option (IPv6). */
export function noteArp(lp: LoadedPoint, p: Packet): void {
  if (!p.arp.present) {
    if (p.net.l4 === 'icmpv6') neighbourBinding(p, lp.arp);
    return;
  }
  if (!p.arp.isEthIpv4 || p.arp.spa === 0) return;
  bindMac(lp.arp, ipv4ToString(p.arp.spa), macToString(p.buf, p.arp.shaOff));
}

/** How the reading of one capture file in pass 2 went (a PointReader's, or as a feeder thread
 *  posts it): what the capture findings and the split check read. */
export type ReaderSummary = Pick<PointReader, 'file' | 'point' | 'frames' | 'truncated' | 'drops' | 'malformedCount' | 'malformedFrames' | 'malformedWhat' | 'steppedBack' | 'mirrored' | 'mirrorWhat'>;

/**
 * A client packet within this much of the director capture's last frame may have left after
 * tcpdump stopped (judge/rules/flow.ts): its missing forwarded copy proves nothing.
 * correlate/prepare.ts keeps the short grace above it, so the capture's last frame as known at
 * judgement is the same as at the end of the run for every packet this test could concern.
 */
export const CAPTURE_END_SLACK_NS = 1e6;

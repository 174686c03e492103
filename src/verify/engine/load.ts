/**
 * Reads every capture of every point once, through the shared read → decode loop, and keeps a
 * compact record of the packets that concern the service (see record.ts). Capture problems
 * become findings (truncated file, malformed headers) instead of aborting the run, and ARP
 * sender bindings are collected on the way (they tell a DR real server's RIP from its MAC).
 */
import path from 'node:path';
import { forEachPacket } from '../../decode/stream.js';
import { ipv4ToString, macToString } from '../../decode/addr.js';
import type { Packet } from '../../decode/packet.js';
import type { Finding } from '../findings.js';
import { extractRecord, type PacketRecord } from './record.js';

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
  frames: number;
  records: PacketRecord[];
  /** ARP sender IP → MACs seen at this point. */
  arp: Map<string, Set<string>>;
  firstTs: number;
  lastTs: number;
}

export interface LoadOptions {
  /** Keeps a packet when it returns true (service addresses); undefined keeps every TCP/UDP packet. */
  keep?: (r: PacketRecord) => boolean;
  toaKinds?: number[];
  /** Also handed every decoded packet (ARP analysis). */
  observe?: (p: Packet, pointName: string) => void;
}

export interface LoadResult {
  points: LoadedPoint[];
  findings: Finding[];
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

export async function loadPoints(inputs: readonly PointInput[], opts: LoadOptions): Promise<LoadResult> {
  const findings: Finding[] = [];
  const points: LoadedPoint[] = [];
  for (const input of groupPoints(inputs)) {
    const idx = points.length;
    const name =
      input.kind === 'rs' ? `rs:${input.rsIp ?? path.basename(input.files[0] ?? 'rs')}` : input.kind;
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
      const malformed: number[] = [];
      let malformedCount = 0;
      let malformedWhat = '';
      const summary = await forEachPacket(
        file,
        (p) => {
          lp.frames++;
          const ts = p.tsSec * 1e9 + p.tsNsec;
          if (ts < lp.firstTs) lp.firstTs = ts;
          if (ts > lp.lastTs) lp.lastTs = ts;
          if (p.malformed.present) {
            malformedCount++;
            if (malformed.length < 10) malformed.push(p.frame);
            if (!malformedWhat) malformedWhat = `${p.malformed.layer} at byte ${p.malformed.offset}: ${p.malformed.reason}`;
          }
          if (p.arp.present && p.arp.isEthIpv4 && p.arp.spa !== 0) {
            const ip = ipv4ToString(p.arp.spa);
            let set = lp.arp.get(ip);
            if (!set) lp.arp.set(ip, (set = new Set()));
            set.add(macToString(p.buf, p.arp.shaOff));
          }
          opts.observe?.(p, lp.name);
          const rec = extractRecord(p, idx);
          if (rec && (!opts.keep || opts.keep(rec))) lp.records.push(rec);
        },
        {
          decode: opts.toaKinds ? { toaKinds: opts.toaKinds } : {},
          onWarning: (w) => {
            findings.push({
              rule: 'capture.truncated-file',
              severity: 'warning',
              message: `${w.file}: ${w.message} (byte ${w.offset}); everything before it is analysed`,
              hint: 'the capture was cut while being written (tcpdump killed, disk full); re-capture or accept the loss',
              evidence: [{ capture: w.file, frame: lp.frames, point: lp.name }],
            });
          },
        },
      );
      if (summary.truncated && !findings.some((f) => f.rule === 'capture.truncated-file' && f.evidence[0]?.capture === file)) {
        findings.push({
          rule: 'capture.truncated-file',
          severity: 'warning',
          message: `${file}: the file ends inside a record; everything before it is analysed`,
          hint: 'the capture was cut while being written; re-capture or accept the loss',
          evidence: [{ capture: file, frame: summary.frames, point: lp.name }],
        });
      }
      if (malformedCount > 0) {
        findings.push({
          rule: 'capture.malformed',
          severity: 'warning',
          message: `${file}: ${malformedCount} packet(s) with a malformed header (first: ${malformedWhat})`,
          hint: 'the packets are kept with what decoded; check the capture link type and snap length',
          evidence: malformed.map((frame) => ({ capture: file, frame, point: lp.name })),
        });
      }
    }
    // Files of one point are merged: order by capture time (several NICs of one host share a clock).
    if (input.files.length > 1) lp.records.sort((a, b) => a.ts - b.ts);
  }
  return { points, findings };
}

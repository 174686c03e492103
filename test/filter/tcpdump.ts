/**
 * Running FILTER expressions through tcpdump and through lvsaudit over the same frames.
 *
 * Captures are merged, per link type, into one classic pcap whose every record carries its
 * frame number as the timestamp's seconds: one tcpdump process per (expression, link type)
 * then says which frames it keeps (`tcpdump -r MERGED -w OUT EXPR`, OUT's timestamps), and
 * lvsaudit reads the very same merged file. Input files are only read.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CaptureError, readCaptureBuffer } from '../../src/decode/capture/index.js';
import { Decoder } from '../../src/decode/decoder.js';
import { compileFilter } from '../../src/decode/filter.js';

/** Link types merged (those lvsaudit decodes). */
export const MERGED_LINK_TYPES = [1, 113, 276, 101, 0, 228, 229] as const;
const SNAPLEN = 262144;

export function listCaptures(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listCaptures(full));
    else if (/\.(pcap|pcapng|cap)(\.gz)?$/i.test(name)) out.push(full);
  }
  return out;
}

export interface Merged {
  linkType: number;
  file: string;
  frames: number;
}

/** Writes one merged pcap per link type into `dir`; at most `perFile` frames of each capture. */
export function mergeCaptures(files: readonly string[], dir: string, perFile: number): Merged[] {
  const chunks = new Map<number, Buffer[]>();
  const counts = new Map<number, number>();
  for (const file of files) {
    let taken = 0;
    try {
      readCaptureBuffer(readFileSync(file), file, (f) => {
        if (taken >= perFile || !(MERGED_LINK_TYPES as readonly number[]).includes(f.linkType)) return;
        if (f.caplen === 0 || f.caplen > SNAPLEN || f.caplen > f.len) return;
        taken++;
        const n = (counts.get(f.linkType) ?? 0) + 1;
        counts.set(f.linkType, n);
        const rec = Buffer.alloc(16 + f.caplen);
        rec.writeUInt32LE(n, 0);
        rec.writeUInt32LE(0, 4);
        rec.writeUInt32LE(f.caplen, 8);
        rec.writeUInt32LE(f.len, 12);
        f.buf.copy(rec, 16, f.off, f.off + f.caplen);
        let list = chunks.get(f.linkType);
        if (list === undefined) chunks.set(f.linkType, (list = []));
        list.push(rec);
      });
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
    }
  }
  const out: Merged[] = [];
  for (const [linkType, list] of chunks) {
    const hdr = Buffer.alloc(24);
    hdr.writeUInt32LE(0xa1b2c3d4, 0);
    hdr.writeUInt16LE(2, 4);
    hdr.writeUInt16LE(4, 6);
    hdr.writeUInt32LE(SNAPLEN, 16);
    hdr.writeUInt32LE(linkType, 20);
    const file = path.join(dir, `merged-${linkType}.pcap`);
    writeFileSync(file, Buffer.concat([hdr, ...list]));
    out.push({ linkType, file, frames: list.length });
  }
  return out.sort((a, b) => a.linkType - b.linkType);
}

/** Frame numbers tcpdump keeps, or the error line when it refuses the expression. */
export function tcpdumpKeeps(merged: string, expr: string, scratch: string): Set<number> | string {
  const out = path.join(scratch, 'kept.pcap');
  const r = spawnSync('tcpdump', ['-r', merged, '-w', out, '--', expr], { encoding: 'utf8' });
  // libpcap refuses an expression it proves false for the link type: that is "keeps nothing".
  if (r.status !== 0 && r.stderr.includes('expression rejects all packets')) return new Set();
  if (r.status !== 0) return (r.stderr.split('\n').find((l) => l.startsWith('tcpdump:')) ?? r.stderr).trim();
  const b = readFileSync(out);
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const kept = new Set<number>();
  for (let o = 24; o + 16 <= b.length; ) {
    const sec = le ? b.readUInt32LE(o) : b.readUInt32BE(o);
    const incl = le ? b.readUInt32LE(o + 8) : b.readUInt32BE(o + 8);
    kept.add(sec);
    o += 16 + incl;
  }
  return kept;
}

/** What lvsaudit decides for every frame of a merged file. */
export interface OurFrame {
  frame: number;
  tunnel: boolean;
  vlanTags: number;
  /** Cut by the snaplen or malformed: a filter may read past its end (see \`differences\`). */
  cut: boolean;
  keep: boolean[];
}

export function ourVerdicts(merged: string, exprs: readonly string[]): OurFrame[] {
  const filters = exprs.map((e) => compileFilter(e));
  const d = new Decoder();
  const out: OurFrame[] = [];
  readCaptureBuffer(readFileSync(merged), merged, (f) => {
    const p = d.decode(f);
    out.push({ frame: f.tsSec, tunnel: p.depth > 0, vlanTags: p.vlan.count, cut: p.truncated !== null || p.malformed.present, keep: filters.map((m) => m(p)) });
  });
  return out;
}

/**
 * Frames where lvsaudit differs from tcpdump on purpose are left out of the comparison
 * (docs/cli.md): tunnelled packets (our words also match the inner packet), and VLAN-tagged
 * frames (our words look past the tags) unless the expression is one whose meaning is the
 * same in both with one tag (it begins with `vlan`).
 */
export function compared(f: OurFrame, expr: string): boolean {
  if (f.tunnel) return false;
  if (f.vlanTags === 0) return true;
  return f.vlanTags === 1 && /^\s*vlan\b/.test(expr) && !/\bor\b/.test(expr);
}

export function tempDir(): { dir: string; done: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-filter-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Differences for one expression on one merged file, as readable lines (empty when equal).
 * `skipCut` leaves out cut and malformed frames: where a filter reads past a frame's end,
 * tcpdump's answer depends on the order its optimizer gave the tests (`a or b` may test `b`
 * first), ours on the order written; random expressions meet that, the table does not.
 */
export function differences(expr: string, m: Merged, ours: readonly OurFrame[], index: number, scratch: string, skipCut = false): string[] | string {
  const theirs = tcpdumpKeeps(m.file, expr, scratch);
  if (typeof theirs === 'string') return theirs;
  const diffs: string[] = [];
  for (const f of ours) {
    if (!compared(f, expr) || (skipCut && f.cut)) continue;
    const mine = f.keep[index]!;
    if (mine !== theirs.has(f.frame)) diffs.push(`linktype ${m.linkType} frame ${f.frame}: lvsaudit ${mine ? 'keeps' : 'drops'}, tcpdump ${mine ? 'drops' : 'keeps'}`);
  }
  return diffs;
}

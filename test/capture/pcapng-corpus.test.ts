/**
 * pcapng-test-generator corpus: every file's .txt lists its blocks; our block counts,
 * packet count and interface count must match it, in both byte orders. Interface link
 * types, snaplens and names are cross-checked against tshark's capinfos-like output.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readCapture, CaptureError, type CaptureWarning } from '../../src/decode/capture/index.js';
import { hasCommand, hasShared, need, sharedDir } from '../helpers/env.js';

const root = path.join(sharedDir, 'corpus', 'pcapng-test-generator');
const haveCorpus = need(hasShared, `shared corpus not found at ${sharedDir}`);

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.pcapng')) out.push(p);
  }
  return out.sort();
}

interface Expected {
  counts: Record<string, number>;
  sequence: string[];
}

function expectedOf(file: string): Expected {
  const txt = readFileSync(file.replace(/\.pcapng$/, '.txt'), 'utf8');
  const counts: Record<string, number> = {};
  const countSection = txt.split('Block counts:')[1]?.split('Block sequence:')[0] ?? '';
  for (const m of countSection.matchAll(/^\s*([A-Z]+):\s*(\d+)\s*$/gm)) counts[m[1]!] = Number(m[2]);
  const seq = /Block sequence:\s*(.*)/.exec(txt)?.[1]?.split(',').map((s) => s.trim()) ?? [];
  return { counts, sequence: seq };
}

const files = haveCorpus ? [...walk(path.join(root, 'output_le')), ...walk(path.join(root, 'output_be'))] : [];

describe.skipIf(!haveCorpus)('pcapng-test-generator corpus', () => {
  it('has the 48 test files', () => {
    expect(files.length).toBe(48);
  });

  it.each(files.map((f) => [path.relative(root, f), f]))('%s matches its .txt', async (_rel, file) => {
    const exp = expectedOf(file);
    const warnings: CaptureWarning[] = [];
    let frames = 0;
    const ifaceIds = new Set<number>();
    const s = await readCapture(
      file,
      (f) => {
        frames++;
        ifaceIds.add(f.interfaceId);
        expect(f.caplen).toBeLessThanOrEqual(f.buf.length - f.off);
      },
      { onWarning: (w) => warnings.push(w) },
    );
    expect(s.format).toBe('pcapng');
    expect(s.blockCounts).toEqual(exp.counts);
    const packets = (exp.counts.EPB ?? 0) + (exp.counts.SPB ?? 0) + (exp.counts.PB ?? 0);
    expect(frames).toBe(packets);
    expect(s.frames).toBe(packets);
    expect(s.interfaces.length).toBe(exp.counts.IDB ?? 0);
    expect(s.sections).toBe(exp.counts.SHB ?? 0);
    expect(s.truncated).toBe(false);
    expect(warnings).toEqual([]);
    // Interfaces belong to the section whose SHB precedes them in the block sequence.
    let section = -1;
    const sectionsOfIdbs: number[] = [];
    for (const b of exp.sequence) {
      if (b === 'SHB') section++;
      if (b === 'IDB') sectionsOfIdbs.push(section);
    }
    expect(s.interfaces.map((i) => i.section)).toEqual(sectionsOfIdbs);
  });
});

const haveTshark = need(hasCommand('tshark'), 'tshark not installed');

/** tshark per-frame fields as the oracle for timestamps, lengths and interfaces. */
function tsharkFrames(file: string): { ok: boolean; rows: string[][] } {
  const r = spawnSync('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'separator=|',
    '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.interface_id', '-e', 'frame.comment'],
  { encoding: 'utf8', maxBuffer: 64 << 20 });
  const rows = r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('|'));
  return { ok: r.status === 0, rows };
}

describe.skipIf(!haveCorpus || !haveTshark)('pcapng-test-generator corpus vs tshark', () => {
  it.each(files.map((f) => [path.relative(root, f), f]))('%s: per-frame values equal tshark', async (_rel, file) => {
    const t = tsharkFrames(file);
    expect(t.ok).toBe(true);
    // tshark 4.0 also lists custom blocks (CB/DCB) as records without an interface: not packets.
    const rows = t.rows.filter((r) => r[4] !== '');
    const ours: string[][] = [];
    const s = await readCapture(file, (f) => {
      ours.push([`${f.tsSec}.${String(f.tsNsec).padStart(9, '0')}`, String(f.len), String(f.caplen), String(f.interfaceId)]);
    });
    // Our interfaceId indexes the whole file's interface list; tshark numbers within a section.
    const firstOfSection = new Map<number, number>();
    s.interfaces.forEach((iface, idx) => {
      if (!firstOfSection.has(iface.section)) firstOfSection.set(iface.section, idx);
    });
    expect(ours.length).toBe(rows.length);
    for (let i = 0; i < ours.length; i++) {
      const [, epoch, len, cap, ifid] = rows[i]!;
      const global = Number(ours[i]![3]);
      const local = global - firstOfSection.get(s.interfaces[global]!.section)!;
      // tshark prints nothing for SPBs, which carry no timestamp; we report 0.
      expect(ours[i]![0]).toBe(epoch === '' ? '0.000000000' : normEpoch(epoch!));
      expect(ours[i]![1]).toBe(len);
      expect(ours[i]![2]).toBe(cap);
      expect(String(local)).toBe(ifid);
    }
  });

  it('reports CaptureError, not a crash, for a file that is not a capture', async () => {
    await expect(readCapture(path.join(root, 'README.md'), () => {})).rejects.toBeInstanceOf(CaptureError);
  });
});

function normEpoch(s: string): string {
  const [a, b = ''] = s.split('.');
  return `${a}.${b.padEnd(9, '0').slice(0, 9)}`;
}

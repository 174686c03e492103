/**
 * `lvsaudit arp` over a collector's captures: ARP (and every other frame) mirrored inside
 * ERSPAN II/III, VXLAN or Geneve reads as the mirrored segment's, so each ARP fixture wrapped in
 * any of them gives the report of the fixture as captured (findings with their evidence frames,
 * the VIPs' directors, the roles). `--decap none` is the control: the wrapped capture then holds
 * no ARP at all.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runArpOffline, type ArpCliOptions } from '../../src/cli/arp.js';
import type { ArpReport } from '../../src/verify/arp/index.js';
import { isEthernetPcap, WRAP_KINDS, wrapPcap } from '../helpers/capture-wrap.js';
import { repoRoot } from '../helpers/env.js';

const arpDir = path.join(repoRoot, 'fixtures', 'arp');
const scratch = mkdtempSync(path.join(tmpdir(), 'lvsaudit-arp-wrap-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface ArpCase {
  name: string;
  dir: string;
  /** [file name, point] in the order the CLI is given them. */
  captures: [string, string][];
  opts: ArpCliOptions;
}

function cases(): ArpCase[] {
  const out: ArpCase[] = readdirSync(arpDir)
    .filter((f) => f.endsWith('.pcap'))
    .sort()
    .map((f) => ({ name: f, dir: arpDir, captures: [[f, 'client']], opts: {} }));
  const kernel = path.join(arpDir, 'kernel');
  for (const n of readdirSync(kernel).sort()) {
    const dir = path.join(kernel, n);
    const files = readdirSync(dir).filter((f) => f.endsWith('.pcap')).sort();
    out.push({ name: `kernel/${n}`, dir, captures: files.map((f) => [f, f.replace(/\.pcap$/, '')]), opts: { config: [path.join(dir, 'service.conf')] } });
  }
  return out;
}

/** The report with the capture directory taken out of every text. */
function reportOf(r: ArpReport, dir: string): unknown {
  return JSON.parse(JSON.stringify({ findings: r.findings, directors: r.directors, roles: r.roles, vips: r.vips }).split(dir + path.sep).join(''));
}

function run(dir: string, c: ArpCase, decap?: string[]): Promise<ArpReport> {
  const args = c.captures.map(([f, point]) => `${point}=${path.join(dir, f)}`);
  return runArpOffline(args, { ...c.opts, quiet: true, ...(decap ? { decap } : {}) });
}

let runNo = 0;

describe('arp reads ARP through a mirror as the mirrored segment', () => {
  const all = cases();

  it('finds the ARP fixtures, Ethernet captures all', () => {
    expect(all.length).toBeGreaterThan(12);
    for (const c of all) for (const [f] of c.captures) expect(isEthernetPcap(readFileSync(path.join(c.dir, f)))).toBe(true);
  });

  it.each(all.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const base = reportOf(await run(c.dir, c), c.dir);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...WRAP_KINDS), { minLength: c.captures.length, maxLength: c.captures.length }),
        async (kinds) => {
          const out = path.join(scratch, String(runNo++));
          mkdirSync(out);
          c.captures.forEach(([f], i) => writeFileSync(path.join(out, f), wrapPcap(readFileSync(path.join(c.dir, f)), kinds[i]!, { session: 40 + i, from: '198.18.0.2', to: '198.18.0.1' })));
          expect(reportOf(await run(out, c), out)).toEqual(base);
        },
      ),
      { numRuns: 2, seed: c.name.length * 104729 },
    );
  });

  it('--decap none: the wrapped capture shows no ARP', async () => {
    const c = all.find((x) => x.name === 'vip-answered-by-rs.pcap')!;
    const out = path.join(scratch, String(runNo++));
    mkdirSync(out);
    writeFileSync(path.join(out, c.captures[0]![0]), wrapPcap(readFileSync(path.join(c.dir, c.captures[0]![0])), 'erspan2', { session: 1, from: '198.18.0.2', to: '198.18.0.1' }));
    const off = await run(out, c, ['none']);
    expect(off.stats.arpPackets).toBe(0);
    expect(off.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const on = await run(out, c);
    expect(on.stats.arpPackets).toBeGreaterThan(0);
    expect(on.findings.map((f) => f.rule)).toContain('arp.vip-answered-by-rs');
  });
});

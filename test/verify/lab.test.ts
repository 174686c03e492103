/**
 * verify on the real-kernel captures of fixtures/lab (network namespaces, nftables directors;
 * made by scripts/lab-fixtures.mjs). The independent oracle is the real Linux stack: each
 * scenario's README says what the kernel did and which rules that breaks. NAT scenarios are
 * checked with both director forms: the `-i any` LINUX_SLL2 file and one file per interface.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify } from '../../src/verify/verify.js';
import { repoRoot } from './fixture-util.js';

const labDir = path.join(repoRoot, 'fixtures', 'lab');
const index = existsSync(path.join(labDir, 'README.md')) ? readFileSync(path.join(labDir, 'README.md'), 'utf8') : '';

interface LabRow {
  name: string;
  mode: string;
  profile: 'linux' | 'linux-legacy';
  rules: string[];
}

/** The index table's rows, read by its header's column names (so a column added to the index
 *  does not shift what the test reads). */
function tableRows(text: string): Array<Record<string, string>> {
  const lines = text.split('\n').filter((l) => l.startsWith('|'));
  const cells = (l: string): string[] => l.split('|').slice(1, -1).map((c) => c.trim());
  const header = lines[0] ? cells(lines[0]) : [];
  return lines.slice(2).map((l) => Object.fromEntries(cells(l).map((c, i) => [header[i] ?? String(i), c])));
}

const rows: LabRow[] = tableRows(index).map((row) => ({
  name: /^\[([\w-]+)\]/.exec(row.scenario ?? '')?.[1] ?? '',
  mode: row.mode ?? '',
  profile: row.profile as LabRow['profile'],
  rules: (row.rules ?? '').split(',').map((s) => s.trim()).filter(Boolean),
}));

/**
 * Where verify reports more than the lab README lists, and why that is the truth of the capture:
 * with arp_ignore=0 the RS answers who-has VIP, the router caches the RS MAC and sends the client's
 * packets straight to rs1 — the README's own text says the traffic bypasses the director.
 */
const EXTRA: Record<string, string[]> = {
  'arp-ignore0': ['arp.client-poisoned', 'flow.bypassed-director'],
};

const RIPS = ['10.0.0.11', '10.0.0.12'];

async function runLab(row: LabRow, directorFiles: string[], rsIp: boolean) {
  const d = path.join(labDir, row.name);
  const conf = path.join(d, 'service.conf');
  return verify({
    services: parseServiceConfig(readFileSync(conf, 'utf8'), conf),
    profile: row.profile,
    points: [
      { kind: 'client', files: [path.join(d, 'client.pcap')] },
      { kind: 'director', files: directorFiles.map((f) => path.join(d, f)) },
      ...[1, 2].map((k) => ({ kind: 'rs' as const, files: [path.join(d, `rs${k}.pcap`)], ...(rsIp ? { rsIp: RIPS[k - 1]! } : {}) })),
    ],
  });
}

describe.skipIf(index === '')('real-kernel lab captures', () => {
  it('reads every scenario of the index', () => {
    expect(rows.length).toBeGreaterThan(5);
    for (const r of rows) expect(r.name, JSON.stringify(r)).not.toBe('');
  });

  it('the lab index lists NAT and DR scenarios', () => {
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining(['nat', 'dr']));
  });

  for (const row of rows) {
    const d = path.join(labDir, row.name);
    const forms: [string, string[]][] = [['director.pcap', ['director.pcap']]];
    if (existsSync(path.join(d, 'director-eth0.pcap'))) forms.push(['director-eth0/eth1', ['director-eth0.pcap', 'director-eth1.pcap']]);
    // A scenario directory being regenerated (no service.conf yet) is skipped, not failed.
    const complete = ['service.conf', 'client.pcap', 'rs1.pcap', 'rs2.pcap', 'director.pcap'].every((f) => existsSync(path.join(d, f)));
    for (const [label, files] of forms) {
      it.skipIf(!complete)(`${row.name} (${row.mode}, ${row.profile}, ${label}): reports exactly ${row.rules.join(', ') || 'nothing'}`, async () => {
        const r = await runLab(row, files, true);
        const got = [...new Set(r.findings.filter((f) => f.severity !== 'info').map((f) => f.rule))].sort();
        const want = [...new Set([...row.rules, ...(EXTRA[row.name] ?? [])])].sort();
        expect(got).toEqual(want);
        const errors = r.findings.filter((f) => f.severity === 'error');
        expect(r.verdict).toBe(errors.length > 0 ? 'fail' : 'pass');
        if (row.rules.length === 0) expect(r.verdict).toBe('pass');
      });
    }
  }

  it('RS captures are recognised without IP= where their packets or ARP name the RIP', async () => {
    const nat = rows.find((r) => r.name === 'nat')!;
    const r = await runLab(nat, ['director.pcap'], false);
    expect(r.points.map((p) => p.point).sort()).toEqual(['client', 'director', 'rs:10.0.0.11', 'rs:10.0.0.12']);
    expect(r.verdict).toBe('pass');
    const dr = rows.find((x) => x.name === 'dr')!;
    const r2 = await runLab(dr, ['director.pcap'], false);
    expect(r2.verdict).toBe('pass');
  });

  it('the -i any director capture correlates both legs (SLL2 direction tells ingress from egress)', async () => {
    const nat = rows.find((r) => r.name === 'nat')!;
    const r = await runLab(nat, ['director.pcap'], true);
    const c = r.connections![0]!;
    const syn = c.packets.find((p) => p.flags === 'S')!;
    expect(syn.copies.map((x) => x.role)).toEqual(['client', 'director-in', 'director-out', 'rs']);
    // Real kernel forwarding: TTL 64 → 63 across the director, destination VIP → RIP.
    expect(syn.copies[1]!.ttl - syn.copies[2]!.ttl).toBe(1);
    expect(RIPS).toContain(syn.copies[2]!.dst);
    expect(r.rules.find((t) => t.rule === 'rewrite.ttl')).toMatchObject({ status: 'pass' });
  });
});

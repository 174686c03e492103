/**
 * FullNAT conformance (rules.md "FullNAT"; lvs-behavior.md §2, §3): the reference director's
 * capture sets (fixtures/replay/fullnat-*, H10) and the generated sets of
 * scripts/make-fullnat-fixtures.mjs (fixtures/fullnat/*) under their profile and the other one,
 * the text ladder of a FullNAT connection, `lvsaudit decode`'s TOA text, and the generated
 * fixtures' bytes checked once with tshark (TOA bytes where the generator put them, checksums).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { renderLadder } from '../../src/verify/report/ladder.js';
import { hasCommand, isCI, repoRoot } from '../helpers/env.js';
import { distReady, runDecode } from '../differential/cli.js';

const need = (cond: boolean, reason: string): boolean => {
  if (!cond && isCI) throw new Error(reason);
  if (!cond) console.log(`skip: ${reason}`);
  return cond;
};
const hasTshark = hasCommand('tshark');

const replayDir = path.join(repoRoot, 'fixtures', 'replay');
const fnatDir = path.join(repoRoot, 'fixtures', 'fullnat');

type Point = 'client' | 'director' | 'rs';

async function run(dir: string, profile: VerifyInput['profile'], want: Point[] = ['client', 'director', 'rs'], extra: Partial<VerifyInput> = {}): Promise<VerifyResult> {
  const files = readdirSync(dir);
  const points: VerifyInput['points'] = [];
  if (want.includes('client')) points.push({ kind: 'client', files: [path.join(dir, 'client.pcap')] });
  if (want.includes('director')) points.push({ kind: 'director', files: [path.join(dir, 'director.pcap')] });
  if (want.includes('rs')) for (const f of files.filter((x) => /^rs\d\.pcap$/.test(x)).sort()) points.push({ kind: 'rs', files: [path.join(dir, f)] });
  const conf = path.join(dir, 'service.conf');
  return verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile, ...extra });
}

const rulesOf = (r: VerifyResult, sev: 'error' | 'warning'): string[] => [...new Set(r.findings.filter((f) => f.severity === sev).map((f) => f.rule))].sort();
const tally = (r: VerifyResult, id: string) => r.rules.find((x) => x.rule === id);

interface Case {
  set: string;
  profile: 'alibaba' | 'dpvs';
  errors: string[];
  /** Warnings allowed besides (the sets' options-full-syn / df-oversize scenarios: TOA legitimately skipped). */
  warnings?: string[];
}

// Reference director sets (H10). The options-full-syn scenario (40 option bytes) and the
// df-oversize one (1500-byte segment) have no room for TOA: fnat.toa-no-room, a warning.
const NO_ROOM = ['fnat.toa-no-room'];
const replayCases: Case[] = [
  { set: 'fullnat-alibaba', profile: 'alibaba', errors: [], warnings: NO_ROOM },
  { set: 'fullnat-dpvs', profile: 'dpvs', errors: [], warnings: NO_ROOM },
  { set: 'fullnat-dpvs-keepalived', profile: 'dpvs', errors: [] },
  { set: 'fullnat-alibaba-mss-not-adjusted', profile: 'alibaba', errors: ['fnat.mss-adjust'], warnings: NO_ROOM },
  { set: 'fullnat-alibaba-sack-not-shifted', profile: 'alibaba', errors: ['fnat.seq-delta'], warnings: NO_ROOM },
  { set: 'fullnat-alibaba-seq-drift', profile: 'alibaba', errors: ['fnat.seq-delta'], warnings: NO_ROOM },
  { set: 'fullnat-alibaba-toa-not-first', profile: 'alibaba', errors: ['fnat.toa-placement'], warnings: NO_ROOM },
  { set: 'fullnat-alibaba-toa-wrong-port', profile: 'alibaba', errors: ['fnat.toa-mismatch'], warnings: NO_ROOM },
  { set: 'fullnat-dpvs-lport-reuse', profile: 'dpvs', errors: ['fnat.src'] },
  { set: 'fullnat-dpvs-toa-in-syn', profile: 'dpvs', errors: ['fnat.toa-placement'] },
  // The reference director's toa-missing switch drops TOA from every packet, the SYNs included;
  // a SYN-only connection then lacks the SYN TOA the alibaba profile puts there (toa-placement).
  { set: 'fullnat-alibaba-toa-missing', profile: 'alibaba', errors: ['fnat.toa-missing', 'fnat.toa-placement'], warnings: NO_ROOM },
];

describe('FullNAT: reference director capture sets', () => {
  for (const c of replayCases) {
    it.skipIf(!existsSync(path.join(replayDir, c.set)))(`${c.set} under ${c.profile}: errors ${c.errors.join(', ') || 'none'}`, async () => {
      const r = await run(path.join(replayDir, c.set), c.profile);
      expect(rulesOf(r, 'error')).toEqual([...c.errors].sort());
      for (const w of rulesOf(r, 'warning')) expect(['fnat.ts-not-removed', ...(c.warnings ?? [])]).toContain(w);
      expect(r.verdict).toBe(c.errors.length > 0 ? 'fail' : 'pass');
      // The FullNAT rules ran (not "not evaluated").
      expect(tally(r, 'fnat.seq-delta')!.status).not.toBe('not-evaluated');
      expect(tally(r, 'fnat.toa-missing')!.status).not.toBe('not-evaluated');
      expect(r.notEvaluated.some((n) => /not evaluated by this engine/.test(n.reason))).toBe(false);
    });
  }

  it('a conformant set never fails for a missing capture point (every subset of points)', async () => {
    const all: Point[] = ['client', 'director', 'rs'];
    for (let m = 1; m < 8; m++) {
      const pick = all.filter((_, i) => m & (1 << i));
      const r = await run(path.join(replayDir, 'fullnat-dpvs'), 'dpvs', pick);
      expect(rulesOf(r, 'error'), pick.join('+')).toEqual([]);
    }
    // RS captures alone cannot be linked to a client: the FullNAT rules are not evaluated, not passed.
    const rsOnly = await run(path.join(replayDir, 'fullnat-dpvs'), 'dpvs', ['rs']);
    expect(tally(rsOnly, 'fnat.seq-delta')!.status).toBe('not-evaluated');
  });

  for (const [set, rule] of [
    ['fullnat-alibaba-seq-drift', 'fnat.seq-delta'],
    ['fullnat-alibaba-toa-wrong-port', 'fnat.toa-mismatch'],
    ['fullnat-alibaba-mss-not-adjusted', 'fnat.mss-adjust'],
  ] as const) {
    it(`${set}: found from the client and RS captures alone, and from the director capture alone`, async () => {
      expect(rulesOf(await run(path.join(replayDir, set), 'alibaba', ['client', 'rs']), 'error')).toEqual([rule]);
      expect(rulesOf(await run(path.join(replayDir, set), 'alibaba', ['director']), 'error')).toEqual([rule]);
    });
  }

  it('without a configuration the FullNAT service is inferred (RIPs, LIP) and judged', async () => {
    const r = await run(path.join(replayDir, 'fullnat-dpvs'), 'dpvs', undefined, { services: null });
    expect(r.serviceInferred).toBe(true);
    expect(r.service).toMatchObject({ vip: '192.0.2.10', vport: 80, method: 'fullnat', localAddresses: ['10.0.0.100'] });
    expect((r.service as { realServers: { ip: string; port: number }[] }).realServers.map((x) => `${x.ip}:${x.port}`).sort()).toEqual(['10.0.0.11:8080', '10.0.0.12:8080']);
    expect(rulesOf(r, 'error')).toEqual([]);
    expect(tally(r, 'fnat.toa-mismatch')!.checked).toBeGreaterThan(0);
    // These builder-made IPv6 captures carry flow label 0 (no mark of the SYN): the legs are recognised by the RS ISN (SYN-ACK seq) alone.
    const v6 = await run(path.join(fnatDir, 'dpvs-ipv6'), 'dpvs', undefined, { services: null });
    expect(v6.service).toMatchObject({ method: 'fullnat', localAddresses: ['fd00::100'], realServers: [{ ip: 'fd00::11', port: 8080 }] });
    expect(rulesOf(v6, 'error')).toEqual([]);
  });

  it('ts-not-removed set: only the warning, verdict pass', async () => {
    const r = await run(path.join(replayDir, 'fullnat-alibaba-ts-not-removed'), 'alibaba');
    expect(rulesOf(r, 'error')).toEqual([]);
    expect(rulesOf(r, 'warning')).toContain('fnat.ts-not-removed');
    expect(r.verdict).toBe('pass');
  });

  it('lport reuse names both connections and cites the two SYNs', async () => {
    const r = await run(path.join(replayDir, 'fullnat-dpvs-lport-reuse'), 'dpvs');
    const f = r.findings.find((x) => x.rule === 'fnat.src')!;
    expect(f.message).toMatch(/10\.0\.0\.100:5000 → 10\.0\.0\.1[12]:8080 is reused while it still serves the live connection of 198\.51\.100\.\d+:\d+/);
    expect(f.evidence.length).toBeGreaterThanOrEqual(2);
  });

  it('a capture of one profile checked under the other names the difference', async () => {
    const ali = await run(path.join(replayDir, 'fullnat-alibaba'), 'dpvs');
    // TOA in the SYN; and where alibaba skipped TOA for a full option space, dpvs would have pruned SACK.
    expect(rulesOf(ali, 'error')).toEqual(['fnat.toa-missing', 'fnat.toa-placement']);
    expect(ali.findings.filter((f) => f.rule === 'fnat.toa-placement').every((f) => /TOA on a SYN/.test(f.message))).toBe(true);
    const dp = await run(path.join(replayDir, 'fullnat-dpvs'), 'alibaba');
    // No TOA in the SYN; and where dpvs pruned SACK to fit TOA, alibaba would not have removed it.
    expect(rulesOf(dp, 'error')).toEqual(['fnat.toa-placement', 'rewrite.tcp-fields']);
    expect(dp.findings.find((f) => f.rule === 'rewrite.tcp-fields')!.message).toMatch(/removed SACK/);
    expect(dp.findings.filter((f) => f.rule === 'fnat.toa-placement').every((f) => /no TOA in the SYN/.test(f.message))).toBe(true);
  });
});

interface Expected {
  profile: 'alibaba' | 'dpvs';
  verdict: 'pass' | 'fail';
  rules: string[];
  addresses: { cip: string; vip: string; lip: string; rip: string };
}
const expectedOf = (set: string): Expected => JSON.parse(readFileSync(path.join(fnatDir, set, 'expected.json'), 'utf8')) as Expected;
// The generator's sets; sched-* and dpvs-udp-uoa-* are reference-director runs checked by
// fullnat-sched.test.ts and fullnat-uoa.test.ts.
const fnatSets = existsSync(fnatDir)
  ? readdirSync(fnatDir).filter((d) => !d.startsWith('sched-') && !d.startsWith('dpvs-udp-uoa-') && existsSync(path.join(fnatDir, d, 'expected.json'))).sort()
  : [];

describe('FullNAT: generated sets (fixtures/fullnat)', () => {
  it('all ten sets are there', () => {
    expect(fnatSets).toEqual([
      'alibaba-ipv6',
      'alibaba-options-full',
      'alibaba-toa-kind-200',
      'alibaba-toa-missing-3rd-ack',
      'alibaba-toa-other-conn',
      'alibaba-toa-over-mtu',
      'dpvs-ipv6',
      'dpvs-nat64',
      'dpvs-options-pruned',
      'dpvs-sack-pruned-needlessly',
    ]);
  });

  for (const set of fnatSets) {
    it(`${set}: verdict and exactly its rules`, async () => {
      const e = expectedOf(set);
      const r = await run(path.join(fnatDir, set), e.profile);
      const problems = [...rulesOf(r, 'error'), ...rulesOf(r, 'warning')].sort();
      expect(problems).toEqual([...e.rules].sort());
      expect(r.verdict).toBe(e.verdict);
      expect(tally(r, 'fnat.seq-delta')!.checked).toBeGreaterThan(0);
      expect(tally(r, 'fnat.mss-adjust')!.status).toBe('pass');
    });
  }

  it('TOA of another connection: names the other client and this one', async () => {
    const r = await run(path.join(fnatDir, 'alibaba-toa-other-conn'), 'alibaba');
    const f = r.findings.find((x) => x.rule === 'fnat.toa-mismatch')!;
    expect(f.conn).toBe('tcp 198.51.100.8:40002 -> 192.0.2.10:80');
    expect(f.message).toContain('toa 198.51.100.7:40001');
  });

  it('TOA missing on the 3rd ACK only: reported as the handshake-completing ACK', async () => {
    const r = await run(path.join(fnatDir, 'alibaba-toa-missing-3rd-ack'), 'alibaba');
    const f = r.findings.filter((x) => x.rule === 'fnat.toa-missing');
    expect(f).toHaveLength(1);
    expect(f[0]!.message).toMatch(/handshake-completing ACK .* RS sees 10\.0\.0\.100:5000 instead of 198\.51\.100\.7:40001/);
  });

  it('kind 200 is accepted with --toa-kind 200 (Jupiter-style)', async () => {
    const r = await run(path.join(fnatDir, 'alibaba-toa-kind-200'), 'alibaba', undefined, { toaKinds: [200] });
    expect(rulesOf(r, 'error')).toEqual([]);
  });

  it('dpvs pruning SACK where TOA fitted is reported, with the removed option named', async () => {
    const r = await run(path.join(fnatDir, 'dpvs-sack-pruned-needlessly'), 'dpvs');
    const f = r.findings.filter((x) => x.rule === 'rewrite.tcp-fields');
    expect(f).toHaveLength(1);
    expect(f[0]!.message).toMatch(/removed SACK from a client packet while inserting TOA \(3 packets/);
  });

  it('alibaba skipping TOA for a full option space is a warning only; dpvs would have pruned', async () => {
    const ali = await run(path.join(fnatDir, 'alibaba-options-full'), 'alibaba');
    expect(ali.findings.find((f) => f.rule === 'fnat.toa-no-room')!.message).toMatch(/options already use 36 of 40 bytes/);
    // The same traffic with TOA skipped is a dpvs fault: dpvs prunes SACK to make room.
    const dp = await run(path.join(fnatDir, 'alibaba-options-full'), 'dpvs');
    expect(rulesOf(dp, 'error')).toContain('fnat.toa-missing');
  });

  it('connections still correlate without the director capture (SYN-ACK link) and without the client', async () => {
    const noDir = await run(path.join(fnatDir, 'alibaba-toa-other-conn'), 'alibaba', ['client', 'rs']);
    expect(rulesOf(noDir, 'error')).toEqual(['fnat.toa-mismatch']);
    expect(tally(noDir, 'fnat.seq-delta')!.checked).toBeGreaterThan(0);
    const noClient = await run(path.join(fnatDir, 'dpvs-nat64'), 'dpvs', ['director', 'rs']);
    expect(rulesOf(noClient, 'error')).toEqual([]);
    expect(tally(noClient, 'fnat.seq-delta')!.checked).toBeGreaterThan(0);
  });

  it('ladder of a FullNAT connection: both legs side by side, seq delta and TOA', async () => {
    const r = await run(path.join(fnatDir, 'dpvs-nat64'), 'dpvs');
    const l = r.connections![0]!;
    // The generator's constants: delta 123456789, lport 5000, client [2001:db8:1::7]:40001.
    expect(l.fullnat).toEqual({ lip: '10.0.0.100', lport: 5000, rip: '10.0.0.11', rport: 8080, seqDelta: 123456789, toaAtHandshake: 'toa [2001:db8:1::7]:40001' });
    const text = renderLadder(l);
    expect(text).toContain('FullNAT 10.0.0.100:5000 → 10.0.0.11:8080, seq delta +123456789, TOA on the handshake-completing ACK: toa [2001:db8:1::7]:40001');
    expect(text).toContain('client');
    expect(text).toContain('rs:10.0.0.11');
    expect(text).toMatch(/seq 124456790/); // client seq 1000001 + delta on the RS leg
    // The SYN carries no TOA under dpvs; the 3rd ACK does.
    const syn = l.packets[0]!;
    expect(syn.copies.some((x) => x.toa)).toBe(false);
    const ack3 = l.packets.find((p) => p.direction === 'c2s' && p.flags === '.')!;
    expect(ack3.copies.find((x) => x.role === 'director-out')!.toa).toBe('toa [2001:db8:1::7]:40001');
  });
});

/** Parses TCP option hex (tshark tcp.options) into [kind, bytes] — the test's own oracle parser. */
function options(hex: string): { kind: number; bytes: Buffer }[] {
  const b = Buffer.from(hex.replace(/:/g, ''), 'hex');
  const out: { kind: number; bytes: Buffer }[] = [];
  for (let i = 0; i < b.length; ) {
    const k = b[i]!;
    if (k === 0) break;
    if (k === 1) {
      out.push({ kind: 1, bytes: b.subarray(i, i + 1) });
      i++;
      continue;
    }
    const len = b[i + 1]!;
    out.push({ kind: k, bytes: b.subarray(i, i + len) });
    i += len;
  }
  return out;
}

function tsharkRows(file: string): string[][] {
  const r = spawnSync(
    'tshark',
    ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number', '-e', 'ip.version', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.flags', '-e', 'tcp.ack_raw', '-e', 'tcp.options', '-e', 'tcp.checksum.status', '-e', 'ip.checksum.status', '-e', 'ip.len'],
    { encoding: 'utf8' },
  );
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n').map((l) => l.split('|'));
}

const toaBytes = (kind: number, addr: string, port: number): string => {
  const a = addr.includes(':') ? '20010db8000100000000000000000007' : Buffer.from(addr.split('.').map(Number)).toString('hex');
  return Buffer.concat([Buffer.from([kind, addr.includes(':') ? 20 : 8, port >> 8, port & 0xff]), Buffer.from(a, 'hex')]).toString('hex');
};

describe.skipIf(!need(hasTshark, 'tshark not installed'))('FullNAT fixtures checked with tshark', () => {
  // Where the generator put the TOA of the handshake-completing ACK toward the RS: first option, these bytes.
  const handshakeToa: Record<string, string | null> = {
    'alibaba-ipv6': toaBytes(253, '2001:db8:1::7', 40001),
    'dpvs-ipv6': toaBytes(254, '2001:db8:1::7', 40001),
    'dpvs-nat64': toaBytes(254, '2001:db8:1::7', 40001),
    'alibaba-toa-kind-200': toaBytes(200, '198.51.100.7', 40001),
    'alibaba-toa-missing-3rd-ack': null,
    'alibaba-toa-over-mtu': toaBytes(254, '198.51.100.7', 40001),
    'alibaba-options-full': toaBytes(254, '198.51.100.7', 40001),
    'dpvs-options-pruned': toaBytes(254, '198.51.100.7', 40001),
    'alibaba-toa-other-conn': toaBytes(254, '198.51.100.7', 40001),
    'dpvs-sack-pruned-needlessly': toaBytes(254, '198.51.100.7', 40001),
  };
  for (const set of Object.keys(handshakeToa)) {
    it(`${set}: checksums valid, TOA bytes first on the RS-leg 3rd ACK`, () => {
      const e = expectedOf(set);
      for (const f of ['client.pcap', 'director.pcap', 'rs1.pcap']) {
        for (const row of tsharkRows(path.join(fnatDir, set, f))) {
          expect(row[7], `${set}/${f}#${row[0]} tcp checksum`).toBe('1');
          if (row[1] === '4') expect(row[8], `${set}/${f}#${row[0]} ip checksum`).toBe('1');
        }
      }
      const rows = tsharkRows(path.join(fnatDir, set, 'director.pcap'));
      const toRs = rows.filter((r) => (r[2] || r[3]) === e.addresses.rip);
      const synAck = rows.find((r) => r[4] === '0x0012' && (r[2] || r[3]) === e.addresses.lip)!;
      expect(synAck).toBeDefined();
      const ack3 = toRs.find((r) => r[4] === '0x0010');
      expect(ack3).toBeDefined();
      const first = options(ack3![6] ?? '')[0];
      const want = handshakeToa[set];
      if (want === null) expect(first).toBeUndefined();
      else expect(first?.bytes.toString('hex')).toBe(want);
      if (set === 'dpvs-nat64') expect(ack3![1]).toBe('4'); // 20-byte TOA inside IPv4
      if (set === 'alibaba-toa-over-mtu') expect(toRs.some((r) => Number(r[9]) === 1508)).toBe(true);
      if (set === 'dpvs-options-pruned') {
        // dup ACKs toward the RS carry 1..4 SACK blocks: TOA first in all; SACK kept while it
        // fits with TOA (1..3 blocks), pruned only for 4 blocks (36 bytes + 8 > 40).
        const dup = toRs.filter((r) => r[4] === '0x0010' && options(r[6] ?? '')[0]?.kind === 254).slice(1);
        expect(dup).toHaveLength(4);
        expect(dup.map((d) => options(d[6] ?? '').filter((o) => o.kind === 5).map((o) => (o.bytes.length - 2) / 8)[0] ?? 0)).toEqual([1, 2, 3, 0]);
      }
      if (set === 'dpvs-sack-pruned-needlessly') {
        const dup = toRs.filter((r) => r[4] === '0x0010' && options(r[6] ?? '')[0]?.kind === 254).slice(1);
        expect(dup).toHaveLength(4);
        for (const d of dup) expect(options(d[6] ?? '').some((o) => o.kind === 5)).toBe(false);
        // …while the client sent SACK blocks in each of them.
        const fromClient = tsharkRows(path.join(fnatDir, set, 'client.pcap')).filter((r) => options(r[6] ?? '').some((o) => o.kind === 5));
        expect(fromClient).toHaveLength(4);
      }
    });
  }
});

describe.skipIf(!need(hasTshark, 'tshark not installed') || !need(distReady(), 'dist not built (npm run build)'))('lvsaudit decode prints the TOA', () => {
  const files = [
    path.join(replayDir, 'fullnat-alibaba', 'director.pcap'),
    path.join(fnatDir, 'dpvs-ipv6', 'director.pcap'),
    path.join(fnatDir, 'dpvs-nat64', 'rs1.pcap'),
    path.join(fnatDir, 'alibaba-ipv6', 'director.pcap'),
  ];
  for (const file of files) {
    it(`${path.relative(repoRoot, file)}: "toa CIP:CPORT" on exactly the frames that carry one (tshark oracle)`, () => {
      const d = runDecode([file]);
      expect(d.status).toBe(0);
      const lines = d.stdout.trim().split('\n');
      const rows = tsharkRows(file);
      expect(lines).toHaveLength(rows.length);
      let carrying = 0;
      rows.forEach((row, i) => {
        const toa = options(row[6] ?? '').find((o) => (o.kind === 254 || o.kind === 253) && (o.bytes.length === 8 || o.bytes.length === 20));
        const line = lines[i]!;
        if (!toa) {
          expect(line, `frame ${row[0]}`).not.toMatch(/toa /);
          return;
        }
        carrying++;
        const port = toa.bytes.readUInt16BE(2);
        const addr =
          toa.bytes.length === 8
            ? [...toa.bytes.subarray(4)].join('.')
            : `[${(toa.bytes.subarray(4).toString('hex').match(/.{4}/g) ?? []).map((h) => h.replace(/^0+(?=.)/, '')).join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]`;
        expect(line, `frame ${row[0]}`).toContain(`toa ${addr}:${port}`);
      });
      expect(carrying).toBeGreaterThan(0);
    });
  }
});

describe.skipIf(!need(distReady(), 'dist not built (npm run build)'))('FullNAT at scale (generator --bulk)', () => {
  it('6000 sequential connections: all linked, pass, memory follows the live connections', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'fnat-bulk-'));
    try {
      const g = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-fullnat-fixtures.mjs'), '--bulk', '6000', tmp], { encoding: 'utf8' });
      expect(g.status, g.stderr).toBe(0);
      const r = await run(path.join(tmp, 'bulk'), 'alibaba', undefined, { maxLadders: 5 });
      expect(rulesOf(r, 'error')).toEqual([]);
      expect(rulesOf(r, 'warning')).toEqual([]);
      expect(r.stats.connections).toBe(6000);
      expect(r.stats.packetsCorrelated).toBe(r.stats.frames);
      // Connections are judged 2 windows after they close: ~1200 live at 1.65 ms each, not 6000.
      expect(r.stats.maxLiveConnections!).toBeLessThan(2000);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.skipIf(!need(distReady(), 'dist not built (npm run build)'))('fixture generator', () => {
  it('is deterministic: a fresh run reproduces every committed byte', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'fnat-fix-'));
    try {
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-fullnat-fixtures.mjs'), tmp], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      for (const set of fnatSets) {
        for (const f of readdirSync(path.join(fnatDir, set))) {
          expect(readFileSync(path.join(tmp, set, f)).equals(readFileSync(path.join(fnatDir, set, f))), `${set}/${f}`).toBe(true);
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

/**
 * `lvsaudit replay --write/--out`: deterministic capture sets (same seed → same bytes), the
 * committed fixtures under fixtures/replay/ reproduce, the CLI contract (exit codes), and an
 * independent check of the written captures with tshark (checksums, TOA placement).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runInProcess, type CliRun } from '../helpers/cli.js';
import { registerReplay } from '../../src/cli/replay.js';
import { capturePcap, runWrite, writeCaptureSet } from '../../src/replay/replay.js';
import { FIXTURE_RECIPES } from './replay-fixtures.js';
import { hasCommand, isCI, repoRoot } from '../helpers/env.js';

const need = (cond: boolean, reason: string): boolean => {
  if (!cond && isCI) throw new Error(reason);
  if (!cond) console.log(`skip: ${reason}`);
  return cond;
};
const hasTshark = hasCommand('tshark');

function cli(args: string[]): Promise<CliRun> {
  return runInProcess(registerReplay, 'replay', args);
}

function tshark(file: string, ...args: string[]): string {
  const r = spawnSync('tshark', ['-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout;
}

describe('replay --write determinism', () => {
  it('same options and seed give byte-identical captures at every point', () => {
    for (const method of ['nat', 'tun', 'fullnat'] as const) {
      const a = runWrite({ method, seed: 7 });
      const b = runWrite({ method, seed: 7 });
      expect([...a.captures.keys()]).toEqual([...b.captures.keys()]);
      for (const [point, frames] of a.captures) {
        expect(frames.length).toBeGreaterThan(0);
        expect(capturePcap(frames).equals(capturePcap(b.captures.get(point)!))).toBe(true);
      }
    }
  });

  it('another seed gives other bytes (the seed really drives ports and ISNs)', () => {
    const a = capturePcap(runWrite({ method: 'nat', seed: 1, scenarios: ['handshake'] }).captures.get('client')!);
    const b = capturePcap(runWrite({ method: 'nat', seed: 2, scenarios: ['handshake'] }).captures.get('client')!);
    expect(a.equals(b)).toBe(false);
  });
});

describe('committed fixtures/replay sets', () => {
  const root = path.join(repoRoot, 'fixtures', 'replay');
  const update = process.env.UPDATE_REPLAY_FIXTURES === '1';
  for (const recipe of FIXTURE_RECIPES) {
    it(`${recipe.dir} reproduces from its recipe`, () => {
      const run = runWrite(recipe.opts);
      const dir = path.join(root, recipe.dir);
      if (update) {
        rmSync(dir, { recursive: true, force: true });
        writeCaptureSet(dir, run);
        writeFileSync(
          path.join(dir, 'replay.json'),
          JSON.stringify({ recipe: recipe.opts, scenarios: run.results.map((r) => ({ name: r.name, ok: r.verdict.ok, expected: r.verdict.expected, observed: r.verdict.observed })) }, null, 2) + '\n',
        );
      }
      expect(existsSync(dir), `${dir} missing: run with UPDATE_REPLAY_FIXTURES=1`).toBe(true);
      for (const [point, frames] of run.captures) {
        const committed = readFileSync(path.join(dir, `${point}.pcap`));
        expect(capturePcap(frames).equals(committed), `${recipe.dir}/${point}.pcap differs from a fresh run`).toBe(true);
      }
      expect(readFileSync(path.join(dir, 'service.conf'), 'utf8')).toBe(run.serviceConf);
      // Conformant sets: every scenario is as the client expects. Fault sets only break what the client cannot see or what the fault names.
      if (!recipe.opts.faults?.length) expect(run.results.filter((r) => !r.verdict.ok).map((r) => r.name)).toEqual([]);
    });
  }
});

describe('replay CLI', () => {
  it('--write FILE writes the client capture and exits 0 when every scenario is as expected', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'h10-replay-'));
    try {
      const file = path.join(dir, 'c.pcap');
      const r = await cli(['--write', file, '--method', 'fullnat', '--profile', 'dpvs', '--scenario', 'handshake,arp-probe']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/PASS {2}handshake/);
      expect(r.out).toMatch(/2\/2 scenarios as expected/);
      expect(readFileSync(file).readUInt32LE(0)).toBe(0xa1b23c4d);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--out DIR writes client, director (both legs and per NIC), rs1, rs2 and service.conf', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'h10-replay-'));
    try {
      const r = await cli(['--out', dir, '--method', 'fullnat', '--profile', 'alibaba', '--scenario', 'handshake', '--config-format', 'keepalived']);
      expect(r.code).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'director.pcap', 'rs1.pcap', 'rs2.pcap', 'service.conf']);
      expect(readFileSync(path.join(dir, 'service.conf'), 'utf8')).toMatch(/lb_kind FNAT[\s\S]*laddr_group_name laddr_g1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a client-visible fault makes the run exit 1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'h10-replay-'));
    try {
      const r = await cli(['--write', path.join(dir, 'c.pcap'), '--method', 'nat', '--scenario', 'ttl-1', '--fault', 'ttl-not-checked']);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/FAIL {2}ttl-1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('usage errors exit 2: unknown scenario, unknown fault, no or two targets, --iface without --vip', async () => {
    expect((await cli(['--write', '/tmp/x.pcap', '--scenario', 'nope'])).code).toBe(2);
    expect((await cli(['--write', '/tmp/x.pcap', '--fault', 'nope'])).code).toBe(2);
    expect((await cli(['--scenario', 'handshake'])).code).toBe(2);
    expect((await cli(['--write', '/tmp/x.pcap', '--iface', 'lo'])).code).toBe(2);
    expect((await cli(['--iface', 'lo'])).code).toBe(2);
    expect((await cli(['--write', '/tmp/x.pcap', '--method', 'fullnat', '--profile', 'linux'])).code).toBe(2);
  });

  it('--uoa-mode: one of ipo|opp|off, for --method fullnat --profile dpvs written runs only', async () => {
    const udp = ['--write', '/tmp/x.pcap', '--scenario', 'udp-dns'];
    const bad = await cli([...udp, '--method', 'fullnat', '--profile', 'dpvs', '--uoa-mode', 'ip']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--uoa-mode 'ip': not one of ipo, opp, off/);
    expect((await cli([...udp, '--method', 'fullnat', '--profile', 'alibaba', '--uoa-mode', 'ipo'])).code).toBe(2);
    expect((await cli([...udp, '--method', 'nat', '--uoa-mode', 'opp'])).code).toBe(2);
    expect((await cli(['--iface', 'lo', '--vip', '192.0.2.10:53', '--method', 'fullnat', '--profile', 'dpvs', '--uoa-mode', 'opp'])).code).toBe(2);
  });

  it('--list names every scenario and fault', async () => {
    const r = await cli(['--list']);
    expect(r.code).toBe(0);
    for (const s of ['handshake', 'ttl-1', 'df-oversize', 'options-full-syn', 'arp-probe']) expect(r.out).toContain(`scenario ${s}`);
    for (const f of ['toa-missing', 'seq-drift', 'drop-every-nth']) expect(r.out).toContain(`fault    ${f}`);
  });
});

describe('written captures checked by tshark (independent decoder)', () => {
  it.skipIf(!need(hasTshark, 'tshark not installed'))('conformant sets: every IPv4 header and TCP checksum tshark can verify is good', () => {
    for (const set of ['nat-linux', 'dr-linux', 'tun-linux', 'fullnat-alibaba', 'fullnat-dpvs']) {
      const dir = path.join(repoRoot, 'fixtures', 'replay', set);
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.pcap'))) {
        // ICMP errors quote a cut segment whose checksum cannot verify: leave them out (icmp filter).
        const bad = tshark(path.join(dir, f), '-Y', '(ip.checksum.status == 0 || tcp.checksum.status == 0) && !icmp');
        expect(bad.trim(), `${set}/${f}`).toBe('');
      }
    }
  });

  it.skipIf(!need(hasTshark, 'tshark not installed'))('alibaba: TOA (kind 254, len 8) is the first option of the RS-side SYN only when there is room, and of the handshake ACK', () => {
    const rows = ['rs1.pcap', 'rs2.pcap'].flatMap((f) =>
      tshark(path.join(repoRoot, 'fixtures', 'replay', 'fullnat-alibaba', f), '-Y', 'ip.src == 10.0.0.100', '-T', 'fields', '-e', 'tcp.flags', '-e', 'tcp.option_kind', '-e', 'tcp.option_len')
        .trim()
        .split('\n')
        .map((l) => l.split('\t')),
    );
    const syns = rows.filter((r) => Number(r[0]) === 0x002);
    expect(syns.length).toBeGreaterThan(2);
    const withToa = syns.filter((r) => r[1]!.split(',')[0] === '254');
    // Every SYN with ≤ 32 bytes of options carries TOA first; the 40-byte one (options-full-syn) cannot.
    expect(withToa.length).toBe(syns.length - 1);
    for (const r of withToa) expect(r[2]!.split(',')[0]).toBe('8');
    const pureAcks = rows.filter((r) => Number(r[0]) === 0x010 && (r[1] ?? '').includes('254'));
    expect(pureAcks.length).toBeGreaterThan(0);
    for (const r of pureAcks) expect(r[1]!.split(',')[0]).toBe('254');
    // No timestamp option reaches the real server in a SYN (§2.2 step 1).
    for (const r of syns) expect(r[1]!.split(',')).not.toContain('8');
  });

  it.skipIf(!need(hasTshark, 'tshark not installed'))('dpvs: no TOA in any SYN; the client sees MSS 1452 in the SYN-ACK', () => {
    const dir = path.join(repoRoot, 'fixtures', 'replay', 'fullnat-dpvs');
    const syns = ['rs1.pcap', 'rs2.pcap'].flatMap((f) => tshark(path.join(dir, f), '-Y', 'tcp.flags == 0x002', '-T', 'fields', '-e', 'tcp.option_kind').trim().split('\n'));
    expect(syns.length).toBeGreaterThan(2);
    for (const s of syns) expect(s.split(',')).not.toContain('254');
    const mss = tshark(path.join(dir, 'client.pcap'), '-Y', 'tcp.flags == 0x012', '-T', 'fields', '-e', 'tcp.options.mss_val').trim().split('\n');
    expect(new Set(mss)).toEqual(new Set(['1452']));
  });
});

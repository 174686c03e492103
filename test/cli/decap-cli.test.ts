/**
 * `--decap` as users meet it: verify over a set whose captures a collector received in ERSPAN
 * passes as the set does and says, per point, how many frames it read through which transport
 * (text and JSON); `--decap none` over the same captures is NO DATA (exit 3); a bad value is one
 * `lvsaudit:` line, exit 2, for verify and arp alike.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerArp } from '../../src/cli/arp.js';
import { registerVerify } from '../../src/cli/verify.js';
import { runInProcess } from '../helpers/cli.js';
import { wrapPcap } from '../helpers/capture-wrap.js';
import { repoRoot } from '../helpers/env.js';

const set = path.join(repoRoot, 'fixtures', 'verify', 'nat-ok');
const files = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];
const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-decap-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const f of files) writeFileSync(path.join(dir, f), wrapPcap(readFileSync(path.join(set, f)), 'erspan2', { session: 42, from: '198.18.0.2', to: '198.18.0.1' }));

const args = (d: string, ...more: string[]): string[] => [
  '--config', path.join(set, 'service.conf'),
  '--client', path.join(d, 'client.pcap'),
  '--director', path.join(d, 'director-eth0.pcap'),
  '--director', path.join(d, 'director-eth1.pcap'),
  '--rs-capture', path.join(d, 'rs1.pcap'),
  '--rs-capture', path.join(d, 'rs2.pcap'),
  ...more,
];

describe('verify --decap', () => {
  it('reads an ERSPAN-mirrored set as the set, and says so per point', async () => {
    const r = await runInProcess(registerVerify, 'verify', args(dir));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^verdict: PASS/);
    const client = readFileSync(path.join(set, 'client.pcap'));
    // Classic pcap: records after the 24-byte header, 16-byte record headers.
    let frames = 0;
    for (let o = 24; o + 16 <= client.length; o += 16 + client.readUInt32LE(o + 8)) frames++;
    expect(r.out).toContain(`point client: ${path.join(dir, 'client.pcap')} (${frames} frames, ${frames} read through ERSPAN II session 42,`);
    const json = await runInProcess(registerVerify, 'verify', args(dir, '--format', 'json'));
    const points = (JSON.parse(json.out) as { points: { point: string; frames: number; mirror?: { frames: number; transport: string } }[] }).points;
    for (const p of points) expect(p.mirror).toEqual({ frames: p.frames, transport: 'ERSPAN II session 42' });
    const plain = await runInProcess(registerVerify, 'verify', args(set, '--format', 'json'));
    for (const p of (JSON.parse(plain.out) as { points: object[] }).points) expect(p).not.toHaveProperty('mirror');
  });

  it('--decap none leaves the transport on: NO DATA', async () => {
    const r = await runInProcess(registerVerify, 'verify', args(dir, '--decap', 'none'));
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^verdict: NO DATA/);
  });

  it('--decap erspan forces the kind', async () => {
    const r = await runInProcess(registerVerify, 'verify', args(dir, '--decap', 'erspan'));
    expect(r.code).toBe(0);
    const v = await runInProcess(registerVerify, 'verify', args(dir, '--decap', 'vxlan'));
    expect(v.code).toBe(3);
  });

  it('a feeder thread and a split run read through the mirror as one thread does (the built CLI)', () => {
    const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
    const run = (env: Record<string, string>): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, [cli, 'verify', ...args(dir, '--format', 'json')], { encoding: 'utf8', env: { ...process.env, LVSAUDIT_PARALLEL_DEBUG: '1', ...env } });
    const one = run({ LVSAUDIT_THREADS: '1', LVSAUDIT_FEEDER: '0' });
    expect(one.status).toBe(0);
    expect(one.stdout).toContain('"transport": "ERSPAN II session 42"');
    const fed = run({ LVSAUDIT_THREADS: '1', LVSAUDIT_FEEDER: '1' });
    expect(fed.stderr).toContain('pass 2 reads on a feeder thread');
    expect(fed.stdout).toBe(one.stdout);
    const split = run({ LVSAUDIT_THREADS: '3', LVSAUDIT_FEEDER: '0' });
    expect(split.status).toBe(0);
    expect(split.stderr).toContain('pass 2 split in 3 shares');
    const findings = (out: string): unknown => (JSON.parse(out) as { findings: unknown }).findings;
    expect(findings(split.stdout)).toEqual(findings(one.stdout));
  });

  it.each([
    ['verify', ['gre']],
    ['verify', ['vxlan:70000']],
    ['verify', ['none', '--decap', 'erspan']],
    ['arp', ['erspan:4789']],
  ])('%s --decap %j: one lvsaudit: line, exit 2', async (command, values) => {
    const rest = command === 'verify' ? args(dir, '--decap', ...values) : ['--decap', ...values, path.join(dir, 'client.pcap')];
    const r = await runInProcess(command === 'verify' ? registerVerify : registerArp, command, rest);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^lvsaudit: --decap [^\n]+\n$/);
  });
});

/**
 * NO DATA: a run that found nothing of the service to judge must not pass. A CI gate whose
 * --vip has a typo, or whose captures are of another time, would otherwise pass forever.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { cutSpan, readPcap, writePcap } from '../helpers/capture-transform.js';
import { fixturesDir } from './fixture-util.js';
import { repoRoot } from '../helpers/env.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-nodata-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const nat = path.join(fixturesDir, 'nat-ok');
const bin = path.join(repoRoot, 'bin', 'lvsaudit.js');
const natPoints = ['--client', 'client.pcap', '--director', 'director-eth0.pcap', '--director', 'director-eth1.pcap', '--rs-capture', 'rs1.pcap', '--rs-capture', 'rs2.pcap'];

function cli(args: string[], cwd: string): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [bin, 'verify', ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout };
}

describe('NO DATA', () => {
  it('a VIP that appears nowhere in the captures: NO DATA, exit 3, in text, JSON and JUnit', () => {
    const wrong = ['--vip', '192.0.2.99:80', '--mode', 'nat', '--rs', '10.0.0.11:8080', '--rs', '10.0.0.12:8080', ...natPoints];
    const text = cli(wrong, nat);
    expect(text.status).toBe(3);
    expect(text.stdout).toMatch(/^verdict: NO DATA/);
    expect(text.stdout).toMatch(/no connection of TCP 192\.0\.2\.99:80/);
    const json = cli([...wrong, '--format', 'json'], nat);
    expect(json.status).toBe(3);
    const doc = JSON.parse(json.stdout) as { verdict: string; noDataReason: string; traffic: { connections: number }[] };
    expect(doc.verdict).toBe('no-data');
    expect(doc.traffic).toEqual([{ service: 'TCP 192.0.2.99:80', connections: 0, matched: 0 }]);
    const junit = cli([...wrong, '--format', 'junit'], nat);
    expect(junit.status).toBe(3);
    expect(junit.stdout).toMatch(/<testcase [^>]*name="no-data"><error /);
    expect(junit.stdout).toMatch(/errors="1"/);
  });

  it('the right VIP passes the same captures with its connection count', () => {
    const ok = cli(['--config', 'service.conf', ...natPoints, '--format', 'json'], nat);
    expect(ok.status).toBe(0);
    const doc = JSON.parse(ok.stdout) as { verdict: string; traffic: { connections: number; matched: number }[] };
    expect(doc.verdict).toBe('pass');
    expect(doc.traffic[0]!.connections).toBe(6);
    expect(doc.traffic[0]!.matched).toBe(6);
  });

  it('captures of different times (no packet shared): NO DATA with every point\'s span', async () => {
    // DR without the director's capture: the client's first third and the real servers' last
    // third hold different connections.
    const dr = path.join(fixturesDir, 'dr-ok');
    const dir = mkdtempSync(path.join(tmp, 'disjoint-'));
    const client = readPcap(readFileSync(path.join(dr, 'client.pcap')));
    writeFileSync(path.join(dir, 'client.pcap'), writePcap(cutSpan(client, 0, Math.floor(client.packets.length / 3))));
    for (const rs of ['rs1.pcap', 'rs2.pcap']) {
      const f = readPcap(readFileSync(path.join(dr, rs)));
      writeFileSync(path.join(dir, rs), writePcap(cutSpan(f, Math.ceil((f.packets.length * 2) / 3), f.packets.length)));
    }
    const conf = path.join(dr, 'service.conf');
    const points: VerifyInput['points'] = [
      { kind: 'client', files: [path.join(dir, 'client.pcap')] },
      { kind: 'rs', files: [path.join(dir, 'rs1.pcap')], rsIp: '10.0.0.11' },
      { kind: 'rs', files: [path.join(dir, 'rs2.pcap')], rsIp: '10.0.0.12' },
    ];
    const r = await verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile: 'linux' });
    expect(r.verdict).toBe('no-data');
    expect(r.traffic![0]!.connections).toBeGreaterThan(0);
    expect(r.traffic![0]!.matched).toBe(0);
    expect(r.noDataReason).toMatch(/no packet of them was seen at two capture points/);
    for (const p of r.points) expect(p.first! <= p.last!).toBe(true);
  });
});

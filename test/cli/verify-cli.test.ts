/**
 * `lvsaudit verify` end to end through the built CLI (bin/lvsaudit.js): exit codes 0/1/2, the
 * JSON document of cli.md, JUnit XML, the --show ladder and the --pcap-out evidence file (read
 * back by tshark, the independent reader: every evidence packet there, commented with its rule).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasCommand, need, repoRoot } from '../helpers/env.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const built = existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-verify-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function set(name: string): string[] {
  const d = path.join(repoRoot, 'fixtures', 'verify', name);
  return [
    '--config', path.join(d, 'service.conf'),
    '--client', path.join(d, 'client.pcap'),
    '--director', path.join(d, 'director-eth0.pcap'), '--director', path.join(d, 'director-eth1.pcap'),
    '--rs-capture', path.join(d, 'rs1.pcap'), '--rs-capture', path.join(d, 'rs2.pcap'),
  ];
}

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'verify', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface JsonDoc {
  tool: string;
  verdict: string;
  findings: { rule: string; severity: string; evidence: { capture: string; frame: number; point: string }[] }[];
  notEvaluated: { rule: string; reason: string }[];
  points: { point: string }[];
}

describe.skipIf(!need(built, 'dist/ not built (npm test builds it)'))('lvsaudit verify CLI', () => {
  it('conformant NAT set: exit 0, JSON verdict pass with no error finding', () => {
    const r = run([...set('nat-ok'), '--format', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as JsonDoc;
    expect(doc.tool).toBe('lvsaudit');
    expect(doc.verdict).toBe('pass');
    expect(doc.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(doc.points.map((p) => p.point).sort()).toEqual(['client', 'director', 'rs:10.0.0.11', 'rs:10.0.0.12']);
  });

  it('TTL fault: exit 1, the text report names rewrite.ttl with capture#frame evidence', () => {
    const r = run(set('fault-ttl-not-decremented'));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^verdict: FAIL/m);
    expect(r.out).toMatch(/^ERROR rewrite\.ttl/m);
    expect(r.out).toMatch(/director-eth\d\.pcap#\d+/);
  });

  it('JUnit: one testcase per rule, the broken rule carries a failure', () => {
    const r = run([...set('fault-ttl-not-decremented'), '--format', 'junit']);
    expect(r.code).toBe(1);
    expect(r.out.startsWith('<?xml')).toBe(true);
    expect(r.out).toMatch(/<testcase classname="[^"]*" name="rewrite\.ttl"><failure /);
    expect(r.out).toMatch(/<testcase classname="[^"]*" name="nat\.dst"\/>/);
    expect((r.out.match(/<failure /g) ?? []).length).toBe(1);
  });

  it('--show draws the ladder of one connection across the points', () => {
    const r = run([...set('nat-ok'), '--show', '1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^connection tcp /m);
    expect(r.out).toContain('director (in)');
    expect(r.out).toContain('Δ');
  });

  it('--show names a copy file#frame where its point has several files, #frame where it has one', () => {
    const r = run([...set('nat-ok'), '--show', '1']);
    expect(r.code).toBe(0);
    const ladder = r.out.slice(r.out.indexOf('\nconnection tcp '));
    expect(ladder).toMatch(/director-eth0\.pcap#\d+ \+/);
    expect(ladder).toMatch(/director-eth1\.pcap#\d+ \+/);
    expect(ladder).toMatch(/│ #\d+ \+/);
    expect(ladder).not.toMatch(/(client|rs\d)\.pcap#/);
  });

  it.skipIf(!need(hasCommand('tshark'), 'tshark not installed'))('--show with JSON: the ladder copies are the frames tshark shows at those numbers', () => {
    const j = run([...set('nat-ok'), '--show', '2', '--format', 'json']);
    expect(j.code).toBe(0);
    interface Copy { role: string; capture: string; frame: number; src: string; dst: string; sport: number; dport: number; ttl: number }
    const doc = JSON.parse(j.out) as { connections: { packets: { copies: Copy[] }[] }[] };
    expect(doc.connections).toHaveLength(1);
    const copies = doc.connections[0]!.packets.flatMap((p) => p.copies);
    expect(new Set(copies.map((c) => c.role))).toEqual(new Set(['client', 'director-in', 'director-out', 'rs']));
    for (const c of copies) {
      const t = spawnSync('tshark', ['-r', c.capture, '-Y', `frame.number == ${c.frame}`, '-T', 'fields', '-E', 'separator=,', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'ip.ttl'], { encoding: 'utf8' });
      expect(t.stdout.trim(), `${c.capture}#${c.frame}`).toBe([c.src, c.dst, c.sport, c.dport, c.ttl].join(','));
    }
    const none = run([...set('nat-ok'), '--format', 'json']);
    expect('connections' in (JSON.parse(none.out) as object)).toBe(false);
  });

  it.skipIf(!need(hasCommand('tshark'), 'tshark not installed'))('--pcap-out writes every evidence frame, commented with its rule (read back by tshark)', () => {
    const out = path.join(tmp, 'evidence.pcapng');
    const j = run([...set('fault-ttl-not-decremented'), '--format', 'json', '--pcap-out', out]);
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.out) as JsonDoc;
    const frames = new Set(doc.findings.flatMap((f) => f.evidence.filter((e) => e.frame > 0).map((e) => `${e.capture}#${e.frame}`)));
    const t = spawnSync('tshark', ['-r', out, '-T', 'fields', '-e', 'frame.comment'], { encoding: 'utf8' });
    expect(t.status).toBe(0);
    const comments = t.stdout.trim().split('\n');
    expect(comments.length).toBe(frames.size);
    expect(comments.some((c) => c.includes('rewrite.ttl'))).toBe(true);
  });

  it('bad input: exit 2 with one line naming the problem', () => {
    const missing = run(['--client', path.join(tmp, 'nope.pcap')]);
    expect(missing.code).toBe(2);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toContain('nope.pcap');
    const none = run([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/no capture given/);
  });
});

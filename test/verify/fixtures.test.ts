/**
 * verify on the synthetic capture sets of scripts/make-verify-fixtures.mjs: conformant NAT, DR
 * and TUN sets pass with zero error findings; every fault set fails with exactly the rule ids
 * its expected.json names (written with the generator, from lvs-behavior.md, not by verify).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RULE_BY_ID } from '../../src/verify/model/catalog.js';
import { expectedOf, fixturesDir, problemRules, repoRoot, runSet, setNames } from './fixture-util.js';

const sets = setNames();
const okSets = sets.filter((n) => !n.startsWith('fault-'));
const faultSets = sets.filter((n) => n.startsWith('fault-'));

describe('fixture generator', () => {
  it('has the conformant and fault sets the issue asks for', () => {
    expect(okSets).toEqual(expect.arrayContaining(['nat-ok', 'nat6-ok', 'dr-ok', 'tun-ok', 'nat-clock-offset']));
    const faults = faultSets.map((n) => expectedOf(n).expectedRules).flat();
    for (const rule of ['flow.syn-retransmit', 'flow.lost-in-transit', 'rewrite.payload', 'tun.mtu', 'sched.distribution', 'sched.unknown-rs', 'nat.reply-bypass', 'dr.reply-src', 'rewrite.ttl', 'rewrite.ip-fields', 'checksum.l4', 'sched.weight0', 'sched.persistence', 'flow.not-forwarded']) {
      expect(faults).toContain(rule);
    }
  });

  it('is deterministic: regenerating gives the committed bytes', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'verify-fx-'));
    try {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-verify-fixtures.mjs'), tmp], { stdio: 'ignore' });
      for (const set of sets) {
        for (const f of readdirSync(path.join(fixturesDir, set))) {
          const a = readFileSync(path.join(fixturesDir, set, f));
          const b = readFileSync(path.join(tmp, set, f));
          expect(a.equals(b), `${set}/${f}`).toBe(true);
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('conformant captures', () => {
  it.each(okSets)('%s: verdict pass, no error and no warning findings', async (name) => {
    const r = await runSet(name);
    const problems = r.findings.filter((f) => f.severity !== 'info');
    expect(problems.map((f) => `${f.rule}: ${f.message}`)).toEqual([]);
    expect(r.verdict).toBe('pass');
    expect(r.stats.connections).toBe(6);
    // Every packet of the service was placed in a connection at every point.
    const rips = expectedOf(name).addresses.rips;
    expect(r.points.map((p) => p.point).sort()).toEqual(['client', 'director', ...rips.map((ip) => `rs:${ip}`)].sort());
  });

  it('nat-ok: sender-side checksum offload is info, not an error', async () => {
    const r = await runSet('nat-ok');
    const off = r.findings.filter((f) => f.rule === 'checksum.offload-likely');
    expect(off.map((f) => f.evidence[0]!.point).sort()).toEqual(['client', 'rs:10.0.0.11', 'rs:10.0.0.12']);
    expect(off.every((f) => f.severity === 'info')).toBe(true);
    expect(r.rules.find((t) => t.rule === 'checksum.l4')).toMatchObject({ status: 'pass' });
    expect(r.rules.find((t) => t.rule === 'checksum.l4')!.checked).toBeGreaterThan(100);
  });

  it('rules of other methods are listed as not evaluated, never as passed', async () => {
    const r = await runSet('nat-ok');
    const ne = new Map(r.notEvaluated.map((n) => [n.rule, n.reason]));
    expect(ne.get('dr.reply-src')).toMatch(/applies to dr/);
    expect(ne.get('tun.outer')).toMatch(/applies to tun/);
    expect(r.rules.find((t) => t.rule === 'nat.dst')).toMatchObject({ status: 'pass' });
  });
});

describe('fault captures', () => {
  it.each(faultSets)('%s: exactly the expected rules; verdict fail when one is an error', async (name) => {
    const exp = expectedOf(name);
    const r = await runSet(name);
    expect(problemRules(r)).toEqual([...exp.expectedRules].sort());
    // Severities are those of rules.md (checked against it in catalog-sched.test.ts).
    const anyError = exp.expectedRules.some((id) => RULE_BY_ID.get(id)!.severity === 'error');
    expect(r.verdict).toBe(anyError ? 'fail' : 'pass');
    for (const f of r.findings) {
      expect(f.hint.length, f.rule).toBeGreaterThan(10);
      for (const e of f.evidence) {
        expect(e.capture).toMatch(/\.pcap$/);
        expect(e.frame).toBeGreaterThan(0);
        expect(['client', 'director', ...exp.addresses.rips.map((ip) => `rs:${ip}`)]).toContain(e.point);
      }
    }
  });

  it('a fault is judged by the profile: DR with TTL -1 fails under linux-legacy, DR without fails under linux', async () => {
    const a = await runSet('dr-ok', { profile: 'linux-legacy' });
    expect(problemRules(a)).toEqual(['rewrite.ttl']);
    const b = await runSet('dr-legacy-ok', { profile: 'linux' });
    expect(problemRules(b)).toEqual(['rewrite.ttl']);
  });

  it('--ignore drops a rule', async () => {
    const exp = expectedOf('fault-ttl-not-decremented');
    expect(exp.expectedRules).toEqual(['rewrite.ttl']);
    const { verify } = await import('../../src/verify/verify.js');
    const { parseServiceConfig } = await import('../../src/verify/service/index.js');
    const dir = path.join(fixturesDir, 'fault-ttl-not-decremented');
    const r = await verify({
      services: parseServiceConfig(readFileSync(path.join(dir, 'service.conf'), 'utf8'), 'service.conf'),
      points: [{ kind: 'director', files: [path.join(dir, 'director-eth0.pcap'), path.join(dir, 'director-eth1.pcap')] }],
      profile: 'linux',
      ignore: ['rewrite.ttl'],
    });
    expect(r.verdict).toBe('pass');
    expect(r.findings.some((f) => f.rule === 'rewrite.ttl')).toBe(false);
  });

  it('dropped at the director: evidence names the director ingress frame and the expected RS', async () => {
    const r = await runSet('fault-dropped-at-director');
    const f = r.findings.find((x) => x.rule === 'flow.not-forwarded')!;
    expect(f.message).toMatch(/to real server 10\.0\.0\.11/);
    const dir = f.evidence.find((e) => e.point === 'director')!;
    expect(path.basename(dir.capture)).toBe('director-eth0.pcap');
    expect(f.evidence.some((e) => e.point === 'client')).toBe(true);
  });

  it('weight 0 and persistence findings cite the SYNs of the connections involved', async () => {
    const w = await runSet('fault-weight0');
    const fw = w.findings.filter((x) => x.rule === 'sched.weight0');
    expect(fw).toHaveLength(1);
    expect(fw[0]!.message).toMatch(/10\.0\.0\.12.*weight 0/);
    const p = await runSet('fault-persistence');
    const fp = p.findings.filter((x) => x.rule === 'sched.persistence');
    // Connections go rs1, rs1, rs2, rs1: the 3rd breaks persistence, and the 4th goes back.
    expect(fp).toHaveLength(2);
    expect(fp[0]!.evidence.length).toBeGreaterThanOrEqual(2);
  });
});

describe('clock offsets', () => {
  it('director +3.7 s, rs1 -1.25 s, rs2 +0.82 s: still correlates, offsets reported', async () => {
    const exp = expectedOf('nat-clock-offset');
    const r = await runSet('nat-clock-offset');
    expect(r.verdict).toBe('pass');
    expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    const off = new Map(r.points.map((p) => [p.point, p.clockOffsetMs]));
    // The estimate includes the one-way latency of the synthetic wire (40 µs per hop, < 0.2 ms).
    expect(Math.abs(off.get('director')! - exp.clockOffsetMs.director)).toBeLessThan(0.2);
    expect(Math.abs(off.get('rs:10.0.0.11')! - exp.clockOffsetMs.rs1)).toBeLessThan(0.2);
    expect(Math.abs(off.get('rs:10.0.0.12')! - exp.clockOffsetMs.rs2)).toBeLessThan(0.2);
    const info = r.findings.filter((f) => f.rule === 'capture.clock-offset');
    expect(info).toHaveLength(3);
    expect(info.find((f) => f.evidence[0]!.point === 'director')!.message).toMatch(/\+3700\.0\d\d ms against client/);
    expect(r.clockOffsets?.find((c) => c.point === 'director')?.pairs).toBeGreaterThan(10);
  });

  it('a fault is still found through a 3.7 s offset (the same packets, shifted director clock)', async () => {
    // nat-clock-offset has no fault; its rules must all have been checked, not skipped.
    const r = await runSet('nat-clock-offset');
    for (const rule of ['flow.not-forwarded', 'rewrite.ttl', 'nat.dst', 'nat.reply-src', 'rewrite.ip-fields']) {
      const t = r.rules.find((x) => x.rule === rule)!;
      expect(t.status, rule).toBe('pass');
      expect(t.checked, rule).toBeGreaterThan(5);
    }
  });
});

describe('capture points', () => {
  it('client + director only: RS rules not evaluated with the reason, the rest judged', async () => {
    const r = await runSet('nat-ok', { points: ['client', 'director'] });
    expect(r.verdict).toBe('pass');
    const ne = new Map(r.notEvaluated.map((n) => [n.rule, n.reason]));
    // Judged from the director's side: every forwarded SYN's replies came back through it.
    expect(r.rules.find((t) => t.rule === 'nat.reply-bypass')).toMatchObject({ status: 'pass', checked: 6 });
    expect(ne.get('flow.bypassed-director')).toMatch(/needs the rs capture/);
    expect(r.rules.find((t) => t.rule === 'rewrite.ttl')).toMatchObject({ status: 'pass' });
  });

  it('director only: a TTL fault is still found; client rules not evaluated', async () => {
    const r = await runSet('fault-ttl-not-decremented', { points: ['director'] });
    expect(problemRules(r)).toEqual(['rewrite.ttl']);
    const ne = new Map(r.notEvaluated.map((n) => [n.rule, n.reason]));
    expect(ne.get('nat.rip-leak')).toMatch(/needs the client capture/);
  });

  it('no director: director rules not evaluated; the NAT reply bypass is still seen at RS and client', async () => {
    const r = await runSet('fault-nat-reply-bypass', { points: ['client', 'rs1', 'rs2'] });
    expect(problemRules(r)).toEqual(['nat.reply-bypass', 'nat.rip-leak']);
    const ne = new Map(r.notEvaluated.map((n) => [n.rule, n.reason]));
    expect(ne.get('rewrite.ttl')).toMatch(/needs the director capture/);
    expect(ne.get('flow.not-forwarded')).toMatch(/needs the director capture/);
  });

  it('RS captures are recognised from their addresses (NAT from IP headers, DR from ARP)', async () => {
    for (const name of ['nat-ok', 'dr-ok', 'tun-ok']) {
      const r = await runSet(name, { rsIp: false });
      expect(r.points.filter((p) => p.point.startsWith('rs:')).map((p) => p.point).sort(), name).toEqual(['rs:10.0.0.11', 'rs:10.0.0.12']);
    }
    const given = await runSet('dr-ok', { rsIp: true });
    expect(given.verdict).toBe('pass');
  });

  it('without a config the service is inferred and marked so; scheduling is not evaluated', async () => {
    const r = await runSet('nat-ok', { config: false });
    expect(r.serviceInferred).toBe(true);
    expect(r.service).toMatchObject({ vip: '192.0.2.10', vport: 80, method: 'nat' });
    const rs = (r.service as { realServers: { ip: string; port: number }[] }).realServers.map((x) => `${x.ip}:${x.port}`).sort();
    expect(rs).toEqual(['10.0.0.11:8080', '10.0.0.12:8080']);
    expect(r.verdict).toBe('pass');
    expect(r.notEvaluated.find((n) => n.rule === 'sched.weight0')?.reason).toMatch(/configuration/);
    const t = await runSet('tun-ok', { config: false });
    expect(t.service).toMatchObject({ vip: '192.0.2.10', method: 'tun' });
    expect(t.verdict).toBe('pass');
  });
});

describe('ladder data', () => {
  it('lists every copy of every packet per point with the fields that changed', async () => {
    const r = await runSet('nat-ok');
    const c = r.connections![0]!;
    expect(c.realServer).toBe('10.0.0.11');
    const syn = c.packets[0]!;
    expect(syn).toMatchObject({ direction: 'c2s', flags: 'S' });
    expect(syn.copies.map((x) => x.role)).toEqual(['client', 'director-in', 'director-out', 'rs']);
    const out = syn.copies[2]!;
    expect(out).toMatchObject({ dst: '10.0.0.11', dport: 8080, ttl: 63 });
    expect(out.changed).toEqual(expect.arrayContaining(['dst', 'dport', 'ttl', 'srcMac', 'dstMac']));
    expect(out.changed).not.toContain('ipId');
    const synAck = c.packets[1]!;
    expect(synAck.direction).toBe('s2c');
    expect(synAck.copies.map((x) => x.role)).toEqual(['rs', 'director-in', 'director-out', 'client']);
    expect(synAck.copies[2]!.changed).toEqual(expect.arrayContaining(['src', 'sport', 'ttl']));
  });
});

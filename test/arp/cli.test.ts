/**
 * `lvsaudit arp` as a user runs it: text (inference line, timeline, findings with evidence and
 * hint), JSON (the documented keys), exit codes 0/1/2/4, and the live form's argument checks.
 */
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { runArpCli } from './cli-harness.js';
import { IP, MAC } from './fixture-gen.js';
import { fixture } from './helpers.js';
import { kernelFixtureDir } from './kernel-expect.js';

describe('lvsaudit arp (offline)', () => {
  it('clean capture: exit 0, PASS, the director inference printed', async () => {
    const r = await runArpCli([fixture('clean')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^arp: PASS/);
    expect(r.out).toContain(`VIP (inferred: a host claims it and forwards traffic to it): ${IP.vip}`);
    expect(r.out).toContain(`director ${MAC.director} — inferred (forwarding)`);
    expect(r.out).toContain('ARP sender timeline');
  });

  it('RS answering for the VIP: exit 1, finding with evidence frame and sysctl hint', async () => {
    const r = await runArpCli(['--vip', IP.vip, '--director-mac', MAC.director, fixture('vip-answered-by-rs')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^arp: FAIL/);
    expect(r.out).toContain('[error] arp.vip-answered-by-rs (1)');
    expect(r.out).toContain(`vip-answered-by-rs.pcap#3 (capture) ${IP.vip} is-at ${MAC.rs1}`);
    expect(r.out).toContain('hint: On 10.0.0.11 (02:00:00:00:00:11): sysctl -w net.ipv4.conf.all.arp_ignore=1');
    expect(r.out).toMatch(/│ -\s+│ 10\.0\.0\.100 \(VIP\)\s+│ 02:00:00:00:00:11 .*NOT a director/);
  });

  it('--format json: tool, version, verdict, findings, notEvaluated, timeline', async () => {
    const r = await runArpCli(['--format', 'json', fixture('vip-announced-by-rs')]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out) as Record<string, unknown>;
    expect(doc.tool).toBe('lvsaudit');
    expect(doc.version).toBe(VERSION);
    expect(doc.verdict).toBe('fail');
    const findings = doc.findings as Array<{ rule: string; evidence: Array<{ capture: string; frame: number; point: string }> }>;
    expect(findings.map((f) => f.rule).sort()).toEqual(['arp.changed-mac', 'arp.client-poisoned', 'arp.vip-announced-by-rs', 'arp.vip-conflict']);
    expect(findings.find((f) => f.rule === 'arp.client-poisoned')!.evidence[0]).toMatchObject({ frame: 5, point: 'capture' });
    expect(doc.notEvaluated).toEqual([]);
    expect(Array.isArray(doc.timeline)).toBe(true);
    expect((doc.directors as Array<{ method: string }>)[0]!.method).toBe('forwarding');
  });

  it('--ignore drops a rule; the verdict follows what is left', async () => {
    const one = await runArpCli(['--ignore', 'arp.vip-answered-by-rs', fixture('vip-answered-by-rs')]);
    // The double answer is still a conflict.
    expect(one.code).toBe(1);
    expect(one.out).not.toContain('arp.vip-answered-by-rs');
    expect(one.out).toContain('arp.vip-conflict');
    const both = await runArpCli(['--ignore', 'arp.vip-answered-by-rs', '--ignore', 'arp.vip-conflict', fixture('vip-answered-by-rs')]);
    expect(both.code).toBe(0);
    expect(both.out).not.toContain('[error]');
  });

  it('--config + POINT=FILE: VIP and RIPs from ipvsadm-save, director from the director capture', async () => {
    const dir = kernelFixtureDir('arp-ignore0');
    const r = await runArpCli([
      '--config', `${dir}/service.conf`,
      `director=${dir}/director.pcap`, `router=${dir}/router.pcap`, `rs:10.0.0.11=${dir}/rs1.pcap`, `rs:10.0.0.12=${dir}/rs2.pcap`,
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('VIP (config): 10.0.0.100');
    expect(r.out).toContain('inferred (director-capture)');
    expect(r.out).toContain('real server 10.0.0.11 (02:1e:5a:00:04:00) answered who-has 10.0.0.100');
    expect(r.out).toMatch(/rs1\.pcap#\d+ \(rs:10\.0\.0\.11\)/);
  });

  it('usage and input errors exit 2 with one line', async () => {
    for (const args of [
      [],
      ['--vip', '10.0.0.300', fixture('clean')],
      ['--director-mac', 'zz:00', fixture('clean')],
      ['--format', 'junit', fixture('clean')],
      ['--ignore', 'arp.nope', fixture('clean')],
      ['/nonexistent/capture.pcap'],
      ['--config', '/dev/null', fixture('clean')],
      ['--iface', 'lo', fixture('clean')],
    ]) {
      const r = await runArpCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n').length, args.join(' ')).toBe(1);
    }
  });
});

describe('lvsaudit arp --live (argument checks; the probe itself runs in kernel.test.ts)', () => {
  it('needs --iface and exactly one --vip (exit 2)', async () => {
    expect((await runArpCli(['--live', '--vip', IP.vip])).code).toBe(2);
    expect((await runArpCli(['--live', '--iface', 'lo'])).code).toBe(2);
    expect((await runArpCli(['--live', '--iface', 'lo', '--vip', IP.vip, fixture('clean')])).code).toBe(2);
    expect((await runArpCli(['--live', '--iface', 'lo', '--vip', IP.vip, '--count', '50'])).code).toBe(2);
  });

  it('an interface that does not exist is an environment problem (exit 4)', async () => {
    const r = await runArpCli(['--live', '--iface', 'nosuchif9', '--vip', IP.vip, '--count', '1']);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/nosuchif9|root/);
  });

  it('an interface without a MAC (loopback) cannot be probed (exit 4)', async () => {
    const r = await runArpCli(['--live', '--iface', 'lo', '--vip', IP.vip, '--count', '1']);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/not an Ethernet interface|root/);
  });
});

/**
 * The committed real-kernel fixtures (fixtures/lab) stay consistent with their expected.json:
 * every listed capture exists and is readable by tcpdump, and the facts that make the expected
 * verdict true are in the packets (read with tshark). Runs without root.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, need, repoRoot } from '../helpers/env.js';
import { SCENARIOS, directorBypassed } from '../../src/lab/scenarios.js';
import { tcpdumpCount, tsharkCount } from './oracle.js';
import { DPVS_FIXTURE_SETS, DPVS_IPV6_FIXTURE_SETS, DPVS_IPV6_FAULT_SETS, DPVS_UDP_FIXTURE_SETS, IPV6_FIXTURE_SETS } from '../../src/lab/fixtures.js';
import { ADDR } from '../../src/lab/plan.js';
import { expectedFlow, udpFlows, type UdpPlan } from './uoa-oracle.js';
import { verifyCaptures } from '../../src/lab/sequence.js';
import { reportedRules } from '../../src/verify/report/rule-status.js';

interface Expected {
  scenario: string;
  rules: string[];
  vip: string;
  directorMacs: string[];
  realServerMacs: { rs1: string; rs2: string };
  captures: Record<string, string>;
  connections: Array<{ localPort: number; ok: boolean; body: string; error: string | null }>;
}

const root = join(repoRoot, 'fixtures/lab');
const tools = need(hasCommand('tshark'), 'tshark not installed') && need(hasCommand('tcpdump'), 'tcpdump not installed');

describe('directorBypassed', () => {
  it('flags a connection answered by the server its source-port parity does not select', () => {
    const c = (localPort: number, body: string) => ({ localPort, ok: true, body, error: null });
    expect(directorBypassed([c(40000, 'rs1'), c(40001, 'rs2')])).toBe(false);
    expect(directorBypassed([c(40000, 'rs1'), c(40001, 'rs1')])).toBe(true);
    expect(directorBypassed([{ localPort: 40001, ok: false, body: '', error: 'timeout' }])).toBe(false);
  });
});

describe.skipIf(!tools)('committed lab fixtures', () => {
  it('there is one fixture directory per scenario (and per IPv6 set)', () => {
    const dirs = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual([...SCENARIOS.map((s) => s.name), ...IPV6_FIXTURE_SETS, ...DPVS_FIXTURE_SETS, ...DPVS_IPV6_FIXTURE_SETS, ...DPVS_IPV6_FAULT_SETS, ...DPVS_UDP_FIXTURE_SETS].sort());
  });

  for (const name of DPVS_UDP_FIXTURE_SETS) {
    it(`${name}: UDP through DPVS, the client's address in UOA on the first datagrams of each flow only (tshark, raw bytes), and verify's verdict as recorded`, async () => {
      const dir = join(root, name);
      const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as {
        uoaMode: 'ipo' | 'opp';
        uoaMaxTrail: number;
        datagrams: number;
        lip: string;
        verdict: string;
        rules: string[];
        connections: Array<{ localPort: number; body: string; answered: number }>;
      };
      const captures = Object.fromEntries(['client', 'director-eth0', 'director-eth1', 'rs1', 'rs2'].map((p) => [p, join(dir, `${p}.pcap`)]));
      for (const f of Object.values(captures)) expect(tcpdumpCount(f)).toBeGreaterThan(0);
      const plan: UdpPlan = { vip: ADDR.natVip, vport: ADDR.udpPort, lip: exp.lip, rport: ADDR.udpRport, rips: { rs1: ADDR.rip1, rs2: ADDR.rip2 } };
      const flows = udpFlows(captures, plan);
      // One flow per client connection, at the real server the client says answered it.
      expect(flows.map((f) => [f.client, f.cport, f.rs]).sort()).toEqual(exp.connections.map((c) => [ADDR.client, c.localPort, c.body]).sort());
      for (const f of flows) expect(f).toEqual(expectedFlow(f, exp.uoaMode, exp.uoaMaxTrail, exp.datagrams, plan));
      // The client's own count of answers agrees with what the captures show.
      for (const c of exp.connections) expect(flows.find((f) => f.cport === c.localPort)!.replySources).toHaveLength(c.answered);
      const v = await verifyCaptures(captures, readFileSync(join(dir, 'service.conf'), 'utf8'), 'dpvs');
      expect(v.verdict).toBe(exp.verdict);
      expect([...new Set(v.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort()).toEqual(exp.rules);
      // The UOA rules, written from DPVS's source, judge what a real DPVS put on the wire: each
      // one checks datagrams and passes. What the real servers made of it is fnat.uoa-rejected's:
      // without DPVS's uoa module they refuse protocol 248 (opp) and ignore the option (ipo).
      const uoaRules = reportedRules(v).filter((r) => r.rule.startsWith('fnat.uoa-'));
      expect(uoaRules.map((r) => r.rule).sort()).toEqual(['fnat.uoa-count', 'fnat.uoa-format', 'fnat.uoa-mismatch', 'fnat.uoa-missing', 'fnat.uoa-rejected']);
      for (const r of uoaRules) {
        const want = r.rule !== 'fnat.uoa-rejected' ? 'pass' : exp.uoaMode === 'opp' ? 'fail' : 'not-evaluated';
        expect({ rule: r.rule, status: r.status, checked: r.checked > 0 }).toEqual({ rule: r.rule, status: want, checked: want !== 'not-evaluated' });
      }
      // Refused: as many datagrams as tshark sees answered with ICMP protocol unreachable, the
      // real server's error among each finding's evidence.
      const rejected = uoaRules.find((r) => r.rule === 'fnat.uoa-rejected')!;
      expect(rejected.failed).toBe(flows.reduce((n, f) => n + f.protocolUnreachable, 0));
      const icmpFrames = v.findings.filter((f) => f.rule === 'fnat.uoa-rejected').flatMap((f) => f.evidence.filter((e) => e.note === 'ICMP protocol unreachable'));
      expect(icmpFrames.length > 0).toBe(exp.uoaMode === 'opp');
      for (const e of icmpFrames) expect(tsharkCount(e.capture, `frame.number == ${e.frame} && icmp.type == 3 && icmp.code == 2`), `${e.capture}#${e.frame}`).toBe(1);
    });
  }

  for (const name of DPVS_FIXTURE_SETS) {
    it(`${name}: DPVS's FullNAT facts are in the packets (tshark) and verify --profile dpvs gives the expected verdict`, async () => {
      const dir = join(root, name);
      const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { verdict: string; rules: string[]; lip: string; connections: Array<{ ok: boolean }> };
      const captures = Object.fromEntries(['client', 'director-eth0', 'director-eth1', 'rs1', 'rs2'].map((p) => [p, join(dir, `${p}.pcap`)]));
      for (const f of Object.values(captures)) expect(tcpdumpCount(f)).toBeGreaterThan(0);
      const rsFiles = [captures.rs1!, captures.rs2!];
      const fromLip = (filter: string): number => rsFiles.reduce((n, f) => n + tsharkCount(f, `ip.src==${exp.lip} && ${filter}`), 0);
      const syns = fromLip('tcp.flags.syn==1');
      expect(syns).toBe(exp.connections.length);
      // TOA (kind 254) never on the SYN, on exactly two packets per connection (ACK and first data).
      expect(fromLip('tcp.flags.syn==1 && tcp.option_kind==254')).toBe(0);
      expect(fromLip('tcp.option_kind==254')).toBe(2 * syns);
      expect(fromLip('tcp.option_kind==254 && tcp.len==0 && tcp.flags.ack==1')).toBe(syns);
      const v = await verifyCaptures(captures, readFileSync(join(dir, 'service.conf'), 'utf8'), 'dpvs');
      expect(v.verdict).toBe(exp.verdict);
      expect([...new Set(v.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort()).toEqual(exp.rules);
    });
  }

  for (const s of SCENARIOS) {
    it(`${s.name}: captures readable, service.conf present, verdict facts present`, () => {
      const dir = join(root, s.name);
      const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
      expect(existsSync(join(dir, 'service.conf'))).toBe(true);
      expect(readFileSync(join(dir, 'service.conf'), 'utf8')).toContain(`-A -t ${exp.vip} -s rr`);
      for (const file of Object.values(exp.captures)) expect(tcpdumpCount(join(dir, file))).toBeGreaterThan(0);
      const vip = exp.vip.split(':')[0]!;
      const rsMacs = `(eth.src==${exp.realServerMacs.rs1} || eth.src==${exp.realServerMacs.rs2})`;
      const allFiles = Object.values(exp.captures).map((f) => join(dir, f));
      const anyHas = (filter: string): boolean => allFiles.some((f) => tsharkCount(f, filter) > 0);
      if (exp.rules.includes('arp.vip-answered-by-rs')) expect(anyHas(`arp.opcode==2 && arp.src.proto_ipv4==${vip} && ${rsMacs}`)).toBe(true);
      if (exp.rules.includes('arp.vip-announced-by-rs')) expect(anyHas(`arp.opcode==1 && arp.src.proto_ipv4==${vip} && ${rsMacs}`)).toBe(true);
      if (exp.rules.includes('flow.bypassed-director')) {
        const notDirector = exp.directorMacs.map((m) => `eth.src!=${m}`).join(' && ');
        expect(tsharkCount(join(dir, exp.captures.rs1!), `tcp.flags.syn==1 && tcp.flags.ack==0 && ip.dst==${vip} && ${notDirector}`)).toBeGreaterThan(0);
      }
      if (exp.rules.includes('nat.rip-leak') || exp.rules.includes('dr.reply-src')) {
        expect(tsharkCount(join(dir, exp.captures.client!), 'ip.src==10.0.0.11 && tcp.flags.syn==1 && tcp.flags.ack==1')).toBeGreaterThan(0);
      }
      if (exp.rules.includes('dr.vip-not-bound')) {
        // Forwarded SYNs for the VIP reached rs1 and rs1 sent nothing at all (Linux drops silently).
        expect(tsharkCount(join(dir, exp.captures.rs1!), `tcp.flags.syn==1 && tcp.flags.ack==0 && ip.dst==${vip} && eth.dst==${exp.realServerMacs.rs1}`)).toBeGreaterThan(1);
        expect(tsharkCount(join(dir, exp.captures.rs1!), `eth.src==${exp.realServerMacs.rs1} && (tcp || icmp)`)).toBe(0);
      }
      if (exp.rules.length === 0) {
        expect(exp.connections.every((c) => c.ok)).toBe(true);
        expect(anyHas(`arp.src.proto_ipv4==${vip} && ${rsMacs}`)).toBe(false);
        expect(tsharkCount(join(dir, exp.captures.client!), `tcp.srcport==80 && ip.src!=${vip}`)).toBe(0);
      }
    });
  }
});

/**
 * IPv6 FullNAT (6→6) and NAT64 (IPv6 client and VIP, IPv4 real servers and LIP) through DPVS:
 * the address plans, the service text and DPVS commands derived from them, the CLI's cases
 * (pure, run everywhere); the committed captures (fixtures/lab/dpvs-fullnat-ipv6, dpvs-nat64)
 * read by tshark as an independent oracle and verified; and the live lab, which needs root,
 * tcpdump, tshark and DPVS (skipped with the reason elsewhere, required under CI=true).
 *
 * The oracle reads what lvs-behavior.md §3.1/§3.4 say DPVS does for an IPv6 client: TOA kind 254
 * length 20 (client port, then its IPv6 address) on the handshake's ACK and the first data packet
 * only — inside IPv4 TCP for NAT64 — and the real server's MSS lowered by 20 in the SYN-ACK the
 * client gets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADDR, SUBNET6, addressPlan, nat64Plan, realServers, serviceConfig, vipOf, type AddressPlan } from '../../src/lab/plan.js';
import { caseServiceConfig, labExitCode, planOfCase, verifyCaptures, type LabCaseResult } from '../../src/lab/sequence.js';
import { dpvsCommands, dpvsConf, CLIENT_PORT, RS_PORT } from '../../src/lab/dpvs/config.js';
import { dpvsCase, dpvsRuntimeUnavailable, runDpvsCase } from '../../src/lab/dpvs/director.js';
import { cachedBinaries, dpvsBinaries, missingBuildTools, type DpvsBinaries } from '../../src/lab/dpvs/build.js';
import { labUnavailableReason } from '../../src/lab/netns.js';
import { casesFromOptions, runLab } from '../../src/cli/lab.js';
import { DPVS_IPV6_FIXTURE_SETS } from '../../src/lab/fixtures.js';
import { MATRIX_CASES, dpvsCaseId, dpvsDisagrees, matrixRows, runMatrixCase } from '../../src/lab/matrix.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { reportedRules } from '../../src/verify/report/rule-status.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { InputError } from '../../src/errors.js';
import { hasCommand, need, repoRoot } from '../helpers/env.js';
import { tsharkFields } from './oracle.js';

/** An IPv6 address as the 32 hex digits of its 16 bytes (what tshark prints inside an option). */
function ipv6Hex(a: string): string {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head!.split(':').filter((x) => x.length > 0);
  const t = tail === undefined ? [] : tail.split(':').filter((x) => x.length > 0);
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('').toLowerCase();
}

interface Toa {
  kind: number;
  len: number;
  port: number;
  addrHex: string;
}

/** The kind-254 option of a TCP options dump (hex), or null. */
function toaOf(optionsHex: string): Toa | null {
  const b = Buffer.from(optionsHex.replace(/:/g, ''), 'hex');
  for (let i = 0; i < b.length; ) {
    const kind = b[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = b[i + 1]!;
    if (len < 2) break;
    if (kind === 254) return { kind, len, port: b.readUInt16BE(i + 2), addrHex: b.subarray(i + 4, i + len).toString('hex') };
    i += len;
  }
  return null;
}

/**
 * What tshark finds in a run's captures (an oracle independent of verify): per real server, the
 * connections from the LIP; every TOA; the SYN-ACK MSS at each end. Throws through expect.
 */
function checkWithTshark(captures: Record<string, string>, a: AddressPlan, clientPorts: readonly number[]): void {
  const ip = a.rsFamily === 6 ? 'ipv6' : 'ip';
  // Keyed by real server and local port: DPVS counts local ports per real server (both from 1025).
  const toaPortByLport = new Map<string, number>();
  const rsMssByLport = new Map<string, number>();
  let syns = 0;
  for (const rs of ['rs1', 'rs2'] as const) {
    const rows = tsharkFields(captures[rs]!, `tcp && ${ip}.src == ${a.lip}`, ['tcp.srcport', 'tcp.flags.syn', 'tcp.len', 'tcp.options']);
    const byPort = new Map<string, string[][]>();
    for (const r of rows) byPort.set(r[0]!, [...(byPort.get(r[0]!) ?? []), r]);
    for (const [lport, pkts] of byPort) {
      syns++;
      const [syn, ack, data] = pkts;
      // Never on the SYN; on the handshake's ACK and the first data packet; on nothing later.
      expect([syn![1], toaOf(syn![3] ?? '')]).toEqual(['1', null]);
      const toaAck = toaOf(ack![3] ?? '');
      expect([ack![2], toaAck?.len]).toEqual(['0', 20]);
      expect(toaOf(data![3] ?? '')).toEqual(toaAck);
      for (const later of pkts.slice(3)) expect(toaOf(later[3] ?? '')).toBeNull();
      expect(toaAck!.addrHex).toBe(ipv6Hex(a.client));
      toaPortByLport.set(`${rs} ${lport}`, toaAck!.port);
    }
    for (const r of tsharkFields(captures[rs]!, `tcp.flags.syn == 1 && tcp.flags.ack == 1 && ${ip}.dst == ${a.lip}`, ['tcp.dstport', 'tcp.options.mss_val'])) {
      rsMssByLport.set(`${rs} ${r[0]!}`, Number(r[1]));
    }
  }
  // One connection from the LIP per client connection, each TOA naming its own client port.
  expect(syns).toBe(clientPorts.length);
  expect([...toaPortByLport.values()].sort()).toEqual([...clientPorts].sort());
  const clientMss = new Map(tsharkFields(captures.client!, `tcp.flags.syn == 1 && tcp.flags.ack == 1 && ipv6.src == ${a.natVip}`, ['tcp.dstport', 'tcp.options.mss_val']).map((r) => [Number(r[0]), Number(r[1])]));
  for (const [lport, port] of toaPortByLport) {
    const rsMss = rsMssByLport.get(lport);
    expect({ port, mss: clientMss.get(port) }).toEqual({ port, mss: rsMss! - 20 });
  }
}

/** Every fnat.* rule evaluated and passing. */
function expectFnatEvaluated(v: VerifyResult): void {
  // TCP services: the UOA rules (UDP) say why they do not apply instead of judging.
  for (const r of reportedRules(v).filter((x) => x.rule.startsWith('fnat.uoa-'))) expect(v.notEvaluated.find((n) => n.rule === r.rule)?.reason).toMatch(/UOA is for UDP/);
  const fnat = reportedRules(v).filter((r) => r.rule.startsWith('fnat.') && !r.rule.startsWith('fnat.uoa-'));
  expect(fnat.length).toBeGreaterThanOrEqual(10);
  for (const r of fnat) expect({ rule: r.rule, ok: r.status === 'pass' && r.checked > 0 }).toEqual({ rule: r.rule, ok: true });
}

describe('IPv6 and NAT64 FullNAT plans', () => {
  it('6→6: the LIP is IPv6, in its own network, distinct from every other role', () => {
    const a = addressPlan(6);
    expect(a.rsFamily).toBe(6);
    expect(a.lipNet).toBe(SUBNET6.lip);
    expect(a.lip.startsWith(SUBNET6.lip.replace('::/64', '::'))).toBe(true);
    const addrs = [a.client, a.clientGw, a.natVip, a.dip, a.rip1, a.rip2, a.lip];
    expect(new Set(addrs).size).toBe(addrs.length);
  });

  it('NAT64: the client side of the IPv6 plan, the real-server side and LIP of the IPv4 plan', () => {
    const n = nat64Plan();
    const v6 = addressPlan(6);
    const v4 = addressPlan(4);
    expect([n.family, n.rsFamily, n.lanPrefix, n.rsLanPrefix]).toEqual([6, 4, v6.lanPrefix, v4.lanPrefix]);
    expect([n.client, n.natVip]).toEqual([v6.client, v6.natVip]);
    expect([n.dip, n.rip1, n.rip2, n.lip, n.lipNet]).toEqual([v4.dip, v4.rip1, v4.rip2, v4.lip, v4.lipNet]);
  });

  it('the service text of each parses to its VIP, RIPs and LIP; IPv4 is unchanged', () => {
    for (const [nat64, plan] of [[false, addressPlan(6)], [true, nat64Plan()]] as const) {
      const s = parseServiceConfig(serviceConfig('fullnat', { family: 6, nat64 }), 'service.conf').services[0]!;
      expect(s.vip).toBe(vipOf('fullnat', 6));
      expect(s.realServers.map((r) => r.ip)).toEqual([plan.rip1, plan.rip2]);
      expect(s.realServers.every((r) => r.method === 'fullnat' && r.port === ADDR.natRport)).toBe(true);
      expect(s.localAddresses).toEqual([plan.lip]);
    }
    expect(serviceConfig('fullnat')).toBe(serviceConfig('fullnat', { family: 4, nat64: false }));
    expect(serviceConfig('nat', { family: 6, nat64: true })).toBe(serviceConfig('nat', { family: 6 }));
  });

  it('cases carry the variant in their id, service and plan', () => {
    const v6 = dpvsCase('fullnat', { family: 6 });
    const n64 = dpvsCase('fullnat', { family: 6, nat64: true });
    expect([v6.id, n64.id]).toEqual(['fullnat-ipv6-rr', 'fullnat-nat64-rr']);
    expect(planOfCase(n64).rsFamily).toBe(4);
    expect(caseServiceConfig(n64)).toContain(`-z ${ADDR.lip}`);
    expect(caseServiceConfig(v6)).toContain(`-z ${addressPlan(6).lip}`);
  });
});

describe('DPVS commands for an IPv6 side', () => {
  const lines = (text: string): string[] => dpvsCommands(text).map((c) => `${c.tool} ${c.args.join(' ')}`);

  it('every address and route sits on the port of its side, in the family of that side', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.constantFrom('rr', 'wrr', 'wlc', 'conhash'), fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })), (nat64, scheduler, weights) => {
        const plan = nat64 ? nat64Plan() : addressPlan(6);
        const cmds = dpvsCommands(serviceConfig('fullnat', { family: 6, nat64, scheduler, weights }));
        for (const c of cmds.filter((x) => x.tool === 'dpip')) {
          const dev = c.args[c.args.indexOf('dev') + 1];
          const target = c.args.find((x) => x.includes('/'))!;
          const v6 = target.includes(':');
          expect({ dev, v6 }).toEqual({ dev, v6: dev === CLIENT_PORT ? true : plan.rsFamily === 6 });
          // dpip needs -6 for an IPv6 route and a host prefix for an address.
          if (c.args[0] === 'route') expect(c.args.includes('-6')).toBe(v6);
          else expect(target.endsWith(v6 ? '/128' : '/32')).toBe(true);
        }
        const ipvsadm = cmds.filter((x) => x.tool === 'ipvsadm').map((x) => x.args.join(' '));
        expect(ipvsadm[0]).toBe(`-A -t [${plan.natVip}]:80 -s ${scheduler}`);
        expect(ipvsadm.filter((x) => x.startsWith('-a'))).toEqual(
          realServers(plan.rsFamily).map((r, i) => `-a -t [${plan.natVip}]:80 -r ${r.rip.includes(':') ? `[${r.rip}]` : r.rip}:${ADDR.natRport} -b -w ${weights[i]}`),
        );
        expect(ipvsadm.at(-1)).toBe(`--add-laddr -z ${plan.lip} -t [${plan.natVip}]:80 -F ${RS_PORT}`);
      }),
      { numRuns: 40 },
    );
  });

  it('6→6 and NAT64 as written for DPVS', () => {
    expect(lines(serviceConfig('fullnat', { family: 6 })).slice(0, 4)).toEqual([
      'dpip addr add 2001:db8:1::100/128 dev dpdk0',
      'dpip addr add 2001:db8::1/128 dev dpdk1',
      'dpip route -6 add 2001:db8:1::/64 dev dpdk0',
      'dpip route -6 add 2001:db8::/64 dev dpdk1',
    ]);
    expect(lines(serviceConfig('fullnat', { family: 6, nat64: true })).slice(0, 4)).toEqual([
      'dpip addr add 2001:db8:1::100/128 dev dpdk0',
      'dpip addr add 10.0.0.1/32 dev dpdk1',
      'dpip route -6 add 2001:db8:1::/64 dev dpdk0',
      'dpip route add 10.0.0.0/24 dev dpdk1',
    ]);
  });

  it('IPv6 real servers under an IPv4 VIP (4→6) are refused: DPVS has no such FullNAT', () => {
    const text = '-A -t 172.16.0.100:80 -s rr\n-a -t 172.16.0.100:80 -r [2001:db8::11]:8080 -b -w 1\n-P -t 172.16.0.100:80 -z 2001:db8:2::1\n';
    expect(() => dpvsCommands(text)).toThrow(InputError);
    expect(() => dpvsCommands(text)).toThrow(/not 4→6/);
  });

  it('dpvs.conf turns IPv6 on only when asked', () => {
    expect(dpvsConf()).toMatch(/ipv6_defs \{\n\s+disable\s+on\n/);
    expect(dpvsConf({ ipv6: true })).toMatch(/ipv6_defs \{\n\s+disable\s+off\n/);
    expect(dpvsConf({ ipv6: true }).replace(/disable\s+off/, 'disable on')).toBe(dpvsConf().replace(/disable\s+on/, 'disable on'));
  });
});

describe('lab run options for IPv6 DPVS', () => {
  const opts = { director: 'dpvs', mode: ['fullnat'] };
  it('--family 6 and --nat64 make the two cases', () => {
    expect(casesFromOptions('dpvs', { ...opts, family: '6' }).map((c) => c.id)).toEqual(['fullnat-ipv6-rr']);
    expect(casesFromOptions('dpvs', { ...opts, nat64: true }).map((c) => c.id)).toEqual(['fullnat-nat64-rr']);
    expect(casesFromOptions('dpvs', { ...opts, nat64: true, family: '6' })[0]!.nat64).toBe(true);
  });

  it('refuses what does not exist, naming it', async () => {
    expect(() => casesFromOptions('dpvs', { ...opts, nat64: true, family: '4' })).toThrow(/--nat64 is an IPv6 client side/);
    // Refused before any namespace is built.
    await expect(runLab({ director: 'nftables', mode: ['nat'], nat64: true }, () => undefined)).rejects.toThrow(/--nat64 applies to --director dpvs only/);
    expect(() => casesFromOptions('reference', { director: 'reference', mode: ['fullnat'], family: '6' })).toThrow(/reference director lab is IPv4 only .*--director dpvs for fullnat/);
    expect(() => casesFromOptions('dpvs', { ...opts, nat64: true, fault: ['rs2:gateway-bypass'] })).toThrow(/no faults with --nat64/);
    expect(casesFromOptions('dpvs', { ...opts, family: '6', fault: ['rs2:gateway-bypass'] }).map((c) => c.id)).toEqual(['fullnat-ipv6-rr-rs2-gateway-bypass']);
  });
});

const fixtureTools = hasCommand('tshark');
describe.skipIf(!fixtureTools)('committed IPv6 DPVS fixtures', () => {
  for (const name of DPVS_IPV6_FIXTURE_SETS) {
    it(`${name}: tshark finds DPVS's IPv6 TOA and MSS; verify --profile dpvs gives the expected verdict`, async () => {
      const dir = join(repoRoot, 'fixtures/lab', name);
      const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { verdict: string; rules: string[]; nat64: boolean; connections: Array<{ localPort: number; ok: boolean }> };
      const a = exp.nat64 ? nat64Plan() : addressPlan(6);
      const captures = Object.fromEntries(['client', 'director-eth0', 'director-eth1', 'rs1', 'rs2'].map((p) => [p, join(dir, `${p}.pcap`)]));
      checkWithTshark(captures, a, exp.connections.filter((c) => c.ok).map((c) => c.localPort));
      const v = await verifyCaptures(captures, readFileSync(join(dir, 'service.conf'), 'utf8'), 'dpvs', 6, a.rsFamily);
      expect(v.verdict).toBe(exp.verdict);
      expect([...new Set(v.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort()).toEqual(exp.rules);
      expectFnatEvaluated(v);
    });
  }
});

describe.skipIf(!fixtureTools)('IPv6 FullNAT reply bypass through DPVS (fixtures/lab/dpvs-fullnat-ipv6-gateway-bypass)', () => {
  const dir = join(repoRoot, 'fixtures/lab/dpvs-fullnat-ipv6-gateway-bypass');
  const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { expected: { verdict: string; rules: string[] }; bypassRouterMac: string; directorMacs: string[]; lip: string; rips: { rs2: string } };
  const captures = Object.fromEntries(['client', 'director-eth0', 'director-eth1', 'rs1', 'rs2'].map((p) => [p, join(dir, `${p}.pcap`)]));

  it('the fault is in the packets: rs2 gets DPVS\'s SYNs from the LIP and sends every SYN-ACK to the router, none to DPVS', () => {
    const fromLip = tsharkFields(captures.rs2!, `!icmpv6 && ipv6.src == ${exp.lip} && tcp.flags.syn == 1 && tcp.flags.ack == 0`, ['eth.src']);
    expect(fromLip.length).toBeGreaterThan(0);
    expect(new Set(fromLip.map((r) => r[0]))).toEqual(new Set([exp.directorMacs[1]]));
    const synAcks = tsharkFields(captures.rs2!, `!icmpv6 && ipv6.src == ${exp.rips.rs2} && ipv6.dst == ${exp.lip} && tcp.flags.syn == 1 && tcp.flags.ack == 1`, ['eth.dst']);
    expect(synAcks.length).toBeGreaterThan(0);
    expect(new Set(synAcks.map((r) => r[0]))).toEqual(new Set([exp.bypassRouterMac]));
  });

  // No IPv6 IP ID and no SYN-ACK at the client: rs2's LIP legs are tied to their connections by
  // the SYN's flow label, which DPVS keeps.
  it('verify reports nat.reply-bypass for rs2', async () => {
    const v = await verifyCaptures(captures, readFileSync(join(dir, 'service.conf'), 'utf8'), 'dpvs', 6, 6);
    expect({ verdict: v.verdict, rules: [...new Set(v.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort() }).toEqual(exp.expected);
  });
});

const labReason = labUnavailableReason() ?? dpvsRuntimeUnavailable();
const toolsOk = hasCommand('tcpdump') && hasCommand('tshark');
const buildMissing = cachedBinaries() === null ? missingBuildTools() : [];
const ready = labReason === null && toolsOk && buildMissing.length === 0;
const reason = labReason ?? (!toolsOk ? 'tcpdump and tshark are needed' : `DPVS is not built and cannot be: missing ${buildMissing.join(', ')}`);

describe.skipIf(!need(ready, reason))('DPVS IPv6 FullNAT and NAT64 lab', () => {
  let bins: DpvsBinaries;
  const outs: string[] = [];
  const results = new Map<string, LabCaseResult>();

  beforeAll(async () => {
    bins = await dpvsBinaries({ onStep: (l) => process.stderr.write(`${l}\n`) });
    // One after the other: one DPVS lab at a time.
    for (const nat64 of [false, true]) {
      const out = mkdtempSync(join(tmpdir(), 'lvsa-dpvs6-test-'));
      outs.push(out);
      const c = dpvsCase('fullnat', { family: 6, nat64, connections: 4 });
      results.set(c.id, await runDpvsCase(bins, c, out, { verify: true }));
    }
  }, 15 * 60_000);

  afterAll(() => {
    for (const d of outs) rmSync(d, { recursive: true, force: true });
  });

  for (const id of ['fullnat-ipv6-rr', 'fullnat-nat64-rr']) {
    it(`${id}: every connection answered by both real servers, verify passes with every fnat.* rule, tshark agrees`, () => {
      const r = results.get(id)!;
      expect(r.connections.every((c) => c.ok)).toBe(true);
      expect(new Set(r.connections.map((c) => c.body))).toEqual(new Set(['rs1', 'rs2']));
      expect(labExitCode([r])).toBe(0);
      expectFnatEvaluated(r.verify!);
      checkWithTshark(r.captures, planOfCase(r.case), r.connections.map((c) => c.localPort));
    });
  }
});

describe('lab matrix rows for IPv6 and NAT64 (DPVS only)', () => {
  const rows = MATRIX_CASES.filter((c) => c.referenceUnavailable !== undefined);

  it('each names its DPVS lab case and why the reference director cannot run it', () => {
    expect(rows.map((c) => dpvsCaseId(c))).toEqual([dpvsCase('fullnat', { family: 6 }).id, dpvsCase('fullnat', { family: 6, nat64: true }).id]);
    for (const c of rows) expect(c.referenceUnavailable).toMatch(/IPv4 only/);
  });

  it('the reference lab is not run for them, and DPVS is held to the expectation instead', async () => {
    const outcomes = await Promise.all(rows.map((c) => runMatrixCase(c, '/nonexistent')));
    expect(outcomes.map((o) => [o.exitCode, o.notRun])).toEqual(rows.map((c) => [null, c.referenceUnavailable]));
    const passing = new Map(rows.map((c) => [dpvsCaseId(c)!, { verdict: 'pass', rules: [], error: null }]));
    const failing = new Map(rows.map((c) => [dpvsCaseId(c)!, { verdict: 'fail', rules: ['fnat.toa-format'], error: null }]));
    expect(outcomes.map((o) => dpvsDisagrees(o, passing))).toEqual([null, null]);
    expect(outcomes.map((o) => dpvsDisagrees(o, failing))).toEqual(rows.map(() => 'dpvs not as expected: exit 1 fnat.toa-format'));
    const table = matrixRows(outcomes, null, failing);
    expect(table.rows.map((r) => r.ok)).toEqual([false, false]);
    expect(table.rows[0]!.cells[3]).toBe('– (the reference director is IPv4 only)');
    expect(matrixRows(outcomes, null, passing).rows.map((r) => r.ok)).toEqual([true, true]);
    expect(matrixRows(outcomes, null, null).rows.map((r) => r.cells.at(-1))).toEqual(rows.map(() => 'not judged: DPVS only (lab matrix --dpvs)'));
  });
});

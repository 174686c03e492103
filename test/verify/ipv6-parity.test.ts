/**
 * IPv6 parity of `verify` (issue 18, item 7) on the real-kernel IPv6 captures of fixtures/lab
 * (made by scripts/lab-ipv6-fixtures.mjs): dr.dst-mac and the sched.* rules evaluate on healthy
 * IPv6 DR and NAT sets with the real servers' MACs learnt from Neighbor Discovery, faults still
 * fail, and where nothing names a RIP the not-evaluated reason says so. The NDP fields relied on
 * are checked against tshark where it is installed, and the NS/NA reader on crafted frames.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/decode/decoder.js';
import { kernelConnections } from '../../src/lab/ipvs-director.js';
import { ADDR6 } from '../../src/lab/plan.js';
import { neighbourBinding } from '../../src/verify/read/ndp.js';
import { samplePoints } from '../../src/verify/read/points.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { eth, icmp, ip6, ipv6, pseudo6 } from '../decode/build.js';
import { repoRoot } from './fixture-util.js';

const labDir = path.join(repoRoot, 'fixtures', 'lab');

interface Expected {
  mode: 'dr' | 'nat';
  profile: 'linux' | 'linux-legacy';
  verdict: 'pass' | 'fail';
  rules: string[];
  realServers: { rs1: string; rs2: string };
  realServerMacs: { rs1: string; rs2: string };
}

function expected(name: string): Expected {
  return JSON.parse(readFileSync(path.join(labDir, name, 'expected.json'), 'utf8')) as Expected;
}

interface RunOpts {
  /** Service text instead of the set's service.conf. */
  service?: string;
  /** Give the RS captures their RIP (default: let verify recognise them). */
  named?: boolean;
  /** Client and director captures only. */
  noRs?: boolean;
}

async function run(name: string, o: RunOpts = {}): Promise<VerifyResult> {
  const d = path.join(labDir, name);
  const e = expected(name);
  const conf = path.join(d, 'service.conf');
  const director = e.mode === 'nat' ? ['director-eth0.pcap', 'director-eth1.pcap'] : ['director.pcap'];
  return verify({
    services: parseServiceConfig(o.service ?? readFileSync(conf, 'utf8'), conf),
    profile: e.profile,
    points: [
      { kind: 'client', files: [path.join(d, 'client.pcap')] },
      { kind: 'director', files: director.map((f) => path.join(d, f)) },
      ...(o.noRs
        ? []
        : (['rs1', 'rs2'] as const).map((rs) => ({ kind: 'rs' as const, files: [path.join(d, `${rs}.pcap`)], ...(o.named ? { rsIp: e.realServers[rs] } : {}) }))),
    ],
  });
}

const status = (r: VerifyResult, rule: string) => r.rules.find((x) => x.rule === rule);
const notEvaluated = (r: VerifyResult, rule: string) => r.notEvaluated.find((n) => n.rule === rule);
const errorRules = (r: VerifyResult) => [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();
const ruleIds = (r: VerifyResult) => new Set(r.findings.map((f) => f.rule));

/** The rules item 7 names: they must have checked something and passed. */
function expectEvaluated(r: VerifyResult, rules: readonly string[]): void {
  for (const rule of rules) {
    expect(notEvaluated(r, rule), rule).toBeUndefined();
    expect(status(r, rule), rule).toMatchObject({ status: 'pass' });
    expect(status(r, rule)!.checked, rule).toBeGreaterThan(0);
  }
}

const SCHED = ['sched.unknown-rs', 'sched.weight0', 'sched.distribution'];

describe('healthy IPv6 sets: dr.dst-mac and sched.* evaluate', () => {
  it('DR (director resolves the RIPs by NS/NA): real-server captures recognised without IP=', async () => {
    const r = await run('dr-ipv6');
    expect(r.verdict).toBe('pass');
    const e = expected('dr-ipv6');
    expect(r.points.map((p) => p.point)).toEqual(expect.arrayContaining([`rs:${e.realServers.rs1}`, `rs:${e.realServers.rs2}`]));
    expectEvaluated(r, ['dr.dst-mac', ...SCHED]);
  });

  it('DR from the client and director captures alone: each connection gets its real server from the egress MAC', async () => {
    const r = await run('dr-ipv6', { noRs: true });
    expect(r.verdict).toBe('pass');
    expectEvaluated(r, SCHED);
  });

  it('NAT', async () => {
    const r = await run('nat-ipv6');
    expect(r.verdict).toBe('pass');
    expectEvaluated(r, SCHED);
  });

  it('sched.persistence and checksum.ip say why they cannot evaluate rather than "nothing correlated"', async () => {
    const r = await run('dr-ipv6');
    expect(notEvaluated(r, 'sched.persistence')?.reason).toMatch(/not persistent/);
    expect(notEvaluated(r, 'checksum.ip')?.reason).toMatch(/IPv6 has no header checksum/);
  });
});

/**
 * The same healthy captures judged against a service that differs from what the director did:
 * each sched rule must now fail, which it can only do if it really judges IPv6 decisions.
 */
describe('metamorphic: a wrong configuration fails the sched rules on IPv6', () => {
  for (const name of ['dr-ipv6', 'nat-ipv6']) {
    const conf = (): string => readFileSync(path.join(labDir, name, 'service.conf'), 'utf8');
    const e = expected(name);
    it(`${name}: wrr 3:1 configured, the director alternated → sched.distribution`, async () => {
      const text = conf().replace(/-s rr/, '-s wrr').replace(/-w 1\n/, '-w 3\n');
      expect(text).toMatch(/-w 3/);
      const r = await run(name, { service: text });
      // A warning by the catalog: the order may also differ because other clients were not captured.
      expect(ruleIds(r).has('sched.distribution')).toBe(true);
    });
    // DR names the real server only by its MAC, which is learnt for configured RIPs alone: from
    // the director's capture the unconfigured server's frames go to "no real server's MAC" (as on
    // IPv4; a capture of that server would make its MAC a real server's).
    const unknownRule = e.mode === 'nat' ? 'sched.unknown-rs' : 'dr.dst-mac';
    it(`${name}: rs2 missing from the configuration → ${unknownRule}`, async () => {
      const text = conf().split('\n').filter((l) => !l.includes(`[${e.realServers.rs2}]`)).join('\n');
      const r = await run(name, { service: text, noRs: e.mode === 'dr' });
      expect(errorRules(r)).toContain(unknownRule);
    });
    it(`${name}: rs2 at weight 0 → sched.weight0`, async () => {
      const text = conf().split('\n').map((l) => (l.includes(`[${e.realServers.rs2}]`) ? l.replace(/-w 1/, '-w 0') : l)).join('\n');
      const r = await run(name, { service: text });
      expect(errorRules(r)).toContain('sched.weight0');
    });
  }
});

/**
 * Real IPVS (the lab VM, Debian's kernel) with IPv6 wrr 3:1 services: the kernel's own
 * connection table (ipvsadm -Lnc, kept beside the captures) is the oracle of which real server
 * each connection went to, independent of how verify correlates.
 */
describe('real IPVS over IPv6 (fixtures/lab/ipvs-nat-ipv6-wrr)', () => {
  for (const name of ['ipvs-nat-ipv6-wrr']) {
    it(`${name}: pass, the rules evaluate, every connection's real server is the kernel's`, async () => {
      const d = path.join(labDir, name);
      const conf = path.join(d, 'service.conf');
      const e = expected(name);
      const r = await verify({
        services: parseServiceConfig(readFileSync(conf, 'utf8'), conf),
        profile: 'linux',
        points: [
          { kind: 'client', files: [path.join(d, 'client.pcap')] },
          { kind: 'director', files: [path.join(d, 'director.pcap')] },
          { kind: 'rs', files: [path.join(d, 'rs1.pcap')] },
          { kind: 'rs', files: [path.join(d, 'rs2.pcap')] },
        ],
      });
      expect(r.verdict).toBe('pass');
      expectEvaluated(r, [...(e.mode === 'dr' ? ['dr.dst-mac'] : []), ...SCHED]);
      // The table holds every case the VM ran; this set's client ports are its connections'.
      const clientPorts = (e as Expected & { connections: Array<{ localPort: number }> }).connections.map((c) => c.localPort);
      const kernel = kernelConnections(readFileSync(path.join(d, 'ipvsadm-conns.txt'), 'utf8'), ADDR6.client, Math.min(...clientPorts), clientPorts.length);
      const ports = Object.keys(kernel);
      expect(ports.length).toBe(clientPorts.length);
      const mine = new Map<number, string | null>();
      for (const c of r.connections ?? []) mine.set(Number(/:(\d+) ->/.exec(c.conn)?.[1]), c.realServer);
      for (const port of ports) {
        const rs = kernel[Number(port)]!;
        expect(mine.get(Number(port)), `client port ${port}`).toBe(rs.slice(1, rs.lastIndexOf(']')));
      }
    });
  }
});

describe('faults still fail on IPv6', () => {
  for (const name of ['dr-ipv6-vip-not-bound', 'nat-ipv6-reply-bypass']) {
    it(name, async () => {
      const e = expected(name);
      const r = await run(name);
      expect(r.verdict).toBe('fail');
      const errors = errorRules(r);
      for (const rule of e.rules.filter((x) => x !== 'flow.syn-retransmit')) expect(errors).toContain(rule);
      for (const rule of SCHED) expect(notEvaluated(r, rule), rule).toBeUndefined();
    });
  }
});

describe('IPv6 DR where no packet names a RIP (L2-rewriting director)', () => {
  it('says why dr.dst-mac and sched.* cannot evaluate, naming the captures to label', async () => {
    const r = await run('dr-ipv6-l2');
    expect(r.verdict).toBe('pass');
    for (const rule of ['dr.dst-mac', ...SCHED]) {
      const n = notEvaluated(r, rule);
      expect(n?.reason, rule).toMatch(/neighbor solicitation\/advertisement naming its RIP/);
      expect(n?.reason, rule).toMatch(/rs1\.pcap, \S*rs2\.pcap could not be matched.*--rs-capture RIP=FILE/);
    }
  });

  it('evaluates them once the real-server captures are named', async () => {
    const r = await run('dr-ipv6-l2', { named: true });
    expect(r.verdict).toBe('pass');
    expectEvaluated(r, ['dr.dst-mac', ...SCHED]);
  });
});

describe('NDP bindings', () => {
  it('pass 1 learns each RIP → MAC of dr-ipv6 from the director capture', async () => {
    const e = expected('dr-ipv6');
    const [p] = await samplePoints([{ kind: 'director', files: [path.join(labDir, 'dr-ipv6', 'director.pcap')] }], {});
    expect([...(p!.arp.get(e.realServers.rs1) ?? [])]).toEqual([e.realServerMacs.rs1]);
    expect([...(p!.arp.get(e.realServers.rs2) ?? [])]).toEqual([e.realServerMacs.rs2]);
  });

  const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!tshark)('tshark reads the same NA target → link-layer address pairs as pass 1 (independent oracle)', async () => {
    const file = path.join(labDir, 'dr-ipv6', 'director.pcap');
    const out = spawnSync('tshark', ['-n', '-r', file, '-Y', 'icmpv6.type == 136', '-T', 'fields', '-e', 'icmpv6.nd.na.target_address', '-e', 'icmpv6.opt.linkaddr'], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    const oracle = new Map<string, Set<string>>();
    for (const line of out.stdout.trim().split('\n')) {
      const [target, mac] = line.split('\t');
      if (target && mac) (oracle.get(target) ?? oracle.set(target, new Set()).get(target)!).add(mac);
    }
    expect(oracle.size).toBeGreaterThan(0);
    const [p] = await samplePoints([{ kind: 'director', files: [file] }], {});
    for (const [target, macs] of oracle) expect(p!.arp.get(target), target).toEqual(macs);
  });

  const hex6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((w) => w.map((x) => x.toString(16)).join(':'));
  const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
  const macBytes = (m: string): number[] => m.split(':').map((x) => parseInt(x, 16));

  /** An Ethernet frame (source 02:00:00:00:00:02) holding an NS or NA. */
  function ndpFrame(type: 135 | 136, src: string, target: string, opt: { kind: number; mac: string } | null, hlim: number): Buffer {
    const dst = 'ff02::1';
    const body = [...ip6(target), ...(opt ? [opt.kind, 1, ...macBytes(opt.mac)] : [])];
    const msg = icmp(type, 0, [type === 136 ? 0x60 : 0, 0, 0, 0], body, pseudo6(src, dst, 58, 8 + body.length));
    return Buffer.from(eth(0x86dd, ipv6({ src, dst, nh: 58, hlim }, msg)));
  }

  it('NS: source address → source link-layer option; NA: target → target option, else the frame source; only at hop limit 255', () => {
    fc.assert(
      fc.property(hex6, hex6, macArb, fc.boolean(), fc.boolean(), fc.constantFrom(255, 64), (src, target, mac, isNa, withOpt, hlim) => {
        const opt = withOpt ? { kind: isNa ? 2 : 1, mac } : null;
        const p = decodeBytes(ndpFrame(isNa ? 136 : 135, src, target, opt, hlim), 1);
        const into = new Map<string, Set<string>>();
        neighbourBinding(p, into);
        const got = [...into].flatMap(([ip, macs]) => [...macs].map((m): [string, string] => [ip, m]));
        if (hlim !== 255 || (!isNa && !withOpt) || (!isNa && /^[0:]+$/.test(src))) return got.length === 0;
        if (got.length !== 1) return false;
        const [ip, m] = got[0]!;
        const bound = isNa ? target : src;
        return sameAddress(ip, bound) && m === (withOpt ? mac : '02:00:00:00:00:02');
      }),
    );
  });

  /** Two IPv6 texts name the same address (the reader writes RFC 5952 text, the generator not). */
  function sameAddress(a: string, b: string): boolean {
    const words = (s: string): string => {
      const [h, t] = s.split('::') as [string, string | undefined];
      const hw = h ? h.split(':') : [];
      const tw = t ? t.split(':') : [];
      const fill = s.includes('::') ? 8 - hw.length - tw.length : 0;
      return [...hw, ...Array<string>(fill).fill('0'), ...tw].map((w) => parseInt(w, 16)).join(',');
    };
    return words(a) === words(b);
  }

  it('a source link-layer option in an NA, or a target option in an NS, binds nothing from the option', () => {
    const na = decodeBytes(ndpFrame(136, '2001:db8::11', '2001:db8::11', { kind: 1, mac: '0a:0b:0c:0d:0e:0f' }, 255), 1);
    const fromNa = new Map<string, Set<string>>();
    neighbourBinding(na, fromNa);
    expect([...fromNa]).toEqual([['2001:db8::11', new Set(['02:00:00:00:00:02'])]]);
    const ns = decodeBytes(ndpFrame(135, '2001:db8::11', '2001:db8::12', { kind: 2, mac: '0a:0b:0c:0d:0e:0f' }, 255), 1);
    const fromNs = new Map<string, Set<string>>();
    neighbourBinding(ns, fromNs);
    expect(fromNs.size).toBe(0);
  });
});

/**
 * The scheduling rules and rewrite.ttl on FullNAT services (issue 22 item 2), both profiles.
 *
 * The capture sets under fixtures/fullnat/sched-<case>-<profile>/ are runs of the reference
 * director (src/replay/director, written from lvs-behavior.md) with three local addresses: rr,
 * wrr 3:1, a weight-0 real server, persistence, and the faults each rule must catch (a weight-0
 * server getting connections, persistence ignored, a configuration that lacks a server the
 * director forwards to). Each is checked to be what a fresh run writes, then verified: every
 * scheduling rule the service allows and rewrite.ttl are evaluated, the healthy sets pass, each
 * fault set fails with exactly its rule.
 *
 * Metamorphic: the verdict and the evaluated rules hold when the local addresses are renumbered,
 * when the local ports are shuffled, and when the director's capture lacks every frame the
 * director sent (what tcpdump shows on a DPDK af_packet port with qdisc bypass): the real
 * server of a FullNAT connection is its RS leg's RIP, whatever LIP:lport carried it.
 *
 * UPDATE_FULLNAT_SCHED_FIXTURES=1 rewrites the committed sets.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { capturePcap, runWrite, TOPOLOGY, type ReplayWriteOptions } from '../../src/replay/replay.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { copy, fixIpv4Checksum, fixL4Checksum, ipOffset, readPcap, segmentOf, writePcap, type PcapFile } from '../helpers/capture-transform.js';

const ROOT = path.resolve(__dirname, '../../fixtures/fullnat');
const UPDATE = process.env.UPDATE_FULLNAT_SCHED_FIXTURES === '1';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'fnat-sched-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const LIPS = ['10.0.0.100', '10.0.0.101', '10.0.0.102'];
const RS2 = TOPOLOGY.rips[1];
const PROFILES = ['alibaba', 'dpvs'] as const;
type Profile = (typeof PROFILES)[number];

const SCHED_RULES = ['sched.unknown-rs', 'sched.weight0', 'sched.persistence', 'sched.distribution'] as const;

interface Case {
  name: string;
  what: string;
  run: Omit<ReplayWriteOptions, 'method' | 'profile'>;
  /** The configuration verify is given lacks rs2 (the director's has it). */
  withoutRs2?: boolean;
  errors: string[];
}

const CASES: Case[] = [
  { name: 'rr', what: 'rr, weights 1:1, 8 clients over three LIPs', run: { scheduler: 'rr', weights: [1, 1], scenarios: ['many-clients'] }, errors: [] },
  { name: 'wrr', what: 'wrr, weights 3:1, 8 clients over three LIPs', run: { scheduler: 'wrr', weights: [3, 1], scenarios: ['many-clients'] }, errors: [] },
  { name: 'weight0', what: 'rr with rs2 at weight 0: every connection to rs1', run: { scheduler: 'rr', weights: [1, 0], scenarios: ['many-clients'] }, errors: [] },
  {
    name: 'weight0-fault',
    what: 'rs2 at weight 0 still gets new connections (reference director --fault schedule-weight0)',
    run: { scheduler: 'rr', weights: [1, 0], scenarios: ['many-clients'], faults: ['schedule-weight0'] },
    errors: ['sched.weight0'],
  },
  {
    name: 'persistence',
    what: 'rr, persistent 300 s: 8 clients, then 6 more connections of the first one, all to its server',
    run: { scheduler: 'rr', weights: [1, 1], persistence: 300, scenarios: ['many-clients', 'persistence'] },
    errors: [],
  },
  {
    name: 'persistence-broken',
    what: 'persistent 300 s, but the director ignores its templates (reference director --fault break-persistence)',
    run: { scheduler: 'rr', weights: [1, 1], persistence: 300, scenarios: ['many-clients', 'persistence'], faults: ['break-persistence'] },
    errors: ['sched.persistence'],
  },
  {
    name: 'unknown-rs',
    what: 'the director forwards to rs1 and rs2; the configuration given to verify lists rs1 only',
    run: { scheduler: 'rr', weights: [1, 1], scenarios: ['many-clients'] },
    withoutRs2: true,
    errors: ['sched.unknown-rs'],
  },
];

/** The rules that must be evaluated on a set: every scheduling rule the service allows. */
function mustEvaluate(c: Case): string[] {
  return ['rewrite.ttl', ...SCHED_RULES.filter((r) => r !== 'sched.persistence' || c.run.persistence)];
}

const CAPTURES = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];

/** A fresh run of a case: file name → bytes. */
function generate(c: Case, profile: Profile): Map<string, Buffer> {
  const run = runWrite({ method: 'fullnat', profile, lips: LIPS, clients: 8, ...c.run });
  const out = new Map<string, Buffer>();
  for (const [point, frames] of run.captures) {
    const file = `${point}.pcap`;
    if (CAPTURES.includes(file)) out.set(file, capturePcap(frames));
  }
  const conf = c.withoutRs2 ? run.serviceConf.split('\n').filter((l) => !l.includes(` -r ${RS2}:`)).join('\n') : run.serviceConf;
  out.set('service.conf', Buffer.from(conf));
  // The schema of the other sets here (rules: every error and warning verify must report), with
  // the rules that must be evaluated.
  const expected = { profile, verdict: c.errors.length ? 'fail' : 'pass', rules: c.errors, evaluated: mustEvaluate(c), description: c.what };
  out.set('expected.json', Buffer.from(JSON.stringify(expected, null, 2) + '\n'));
  out.set('README.md', Buffer.from(readme(c, profile)));
  return out;
}

function readme(c: Case, profile: Profile): string {
  const faults = c.run.faults ?? [];
  return [
    `# sched-${c.name}-${profile}`,
    '',
    `${c.what}. Reference director, FullNAT profile ${profile}, local addresses ${LIPS.join(', ')} (taken in turn).`,
    `Written by test/verify/fullnat-sched.test.ts (UPDATE_FULLNAT_SCHED_FIXTURES=1): \`runWrite\` with`,
    `scheduler ${c.run.scheduler}, weights ${(c.run.weights ?? [1, 1]).join(':')}${c.run.persistence ? `, persistence ${c.run.persistence} s` : ''}, scenarios ${(c.run.scenarios ?? []).join(', ')}${faults.length ? `, fault ${faults.join(', ')}` : ''}.`,
    '',
    'Files: `client.pcap`, `director-eth0.pcap` (client side), `director-eth1.pcap` (real-server side),',
    '`rs1.pcap` (10.0.0.11), `rs2.pcap` (10.0.0.12), `service.conf` (ipvsadm-save with `-b` and `-P … -z LIP`),',
    `\`expected.json\`. Expected: ${c.errors.length ? `fail with ${c.errors.join(', ')}` : 'pass'}; evaluated: ${mustEvaluate(c).join(', ')}.`,
    '',
    '```',
    `lvsaudit verify --config service.conf --profile ${profile} --client client.pcap \\`,
    '  --director director-eth0.pcap --director director-eth1.pcap --rs-capture rs1.pcap --rs-capture rs2.pcap',
    '```',
    '',
  ].join('\n');
}

const dirOf = (c: Case, profile: Profile): string => path.join(ROOT, `sched-${c.name}-${profile}`);

async function verifyDir(dir: string, profile: Profile): Promise<VerifyResult> {
  const points: VerifyInput['points'] = [
    { kind: 'client', files: [path.join(dir, 'client.pcap')] },
    { kind: 'director', files: [path.join(dir, 'director-eth0.pcap'), path.join(dir, 'director-eth1.pcap')] },
    { kind: 'rs', files: [path.join(dir, 'rs1.pcap')] },
    { kind: 'rs', files: [path.join(dir, 'rs2.pcap')] },
  ];
  const conf = path.join(dir, 'service.conf');
  return verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile });
}

const errorsOf = (r: VerifyResult): string[] => [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();
const problemsOf = (r: VerifyResult): string[] => [...new Set(r.findings.filter((f) => f.severity !== 'info').map((f) => f.rule))].sort();
const statusOf = (r: VerifyResult, rule: string): string | undefined => r.rules.find((t) => t.rule === rule)?.status;
const checkedOf = (r: VerifyResult, rule: string): number => r.rules.find((t) => t.rule === rule)?.checked ?? 0;

/** What a metamorphic transform must keep: the verdict, the errors, the evaluated rules. */
function outcome(r: VerifyResult, c: Case): { verdict: string; problems: string[]; evaluated: Record<string, boolean> } {
  return { verdict: r.verdict, problems: problemsOf(r), evaluated: Object.fromEntries(mustEvaluate(c).map((x) => [x, statusOf(r, x) !== 'not-evaluated'])) };
}

describe('FullNAT scheduling: committed capture sets', () => {
  for (const profile of PROFILES) {
    for (const c of CASES) {
      const dir = dirOf(c, profile);
      it(`sched-${c.name}-${profile}: what a fresh reference-director run writes`, () => {
        const fresh = generate(c, profile);
        if (UPDATE) {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
          for (const [f, b] of fresh) writeFileSync(path.join(dir, f), b);
        }
        expect(readdirSync(dir).sort()).toEqual([...fresh.keys()].sort());
        for (const [f, b] of fresh) expect(readFileSync(path.join(dir, f)).equals(b), f).toBe(true);
      });
      it(`sched-${c.name}-${profile}: ${c.errors.length ? c.errors.join(', ') : 'pass'}, every scheduling rule and rewrite.ttl evaluated`, async () => {
        expect(existsSync(dir)).toBe(true);
        const r = await verifyDir(dir, profile);
        const e = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { verdict: string; rules: string[]; evaluated: string[] };
        expect(problemsOf(r)).toEqual(e.rules);
        expect(e.rules).toEqual(c.errors);
        expect(r.verdict).toBe(e.verdict);
        expect(e.evaluated).toEqual(mustEvaluate(c));
        for (const rule of mustEvaluate(c)) {
          expect(statusOf(r, rule), rule).not.toBe('not-evaluated');
          expect(checkedOf(r, rule), rule).toBeGreaterThan(0);
        }
        for (const rule of c.errors) expect(statusOf(r, rule)).toBe('fail');
      });
    }
  }
});

describe('FullNAT scheduling: several local addresses', () => {
  it('the rr set reaches each real server from every LIP, and distribution counts per real server', async () => {
    const dir = dirOf(CASES[0]!, 'dpvs');
    const f = readPcap(readFileSync(path.join(dir, 'director-eth1.pcap')));
    const pairs = new Set<string>();
    for (const p of f.packets) {
      const s = segmentOf(f.linkType, p.data);
      if (s && LIPS.includes(s.src)) pairs.add(`${s.src}>${s.dst}`);
    }
    // Three LIPs taken in turn, rr over two servers: every (LIP, RIP) pair occurs, so a real
    // server's connections come from several LIPs and ports.
    expect(pairs.size).toBe(6);
    const r = await verifyDir(dir, 'dpvs');
    expect(statusOf(r, 'sched.distribution')).toBe('pass');
    expect(r.findings.filter((x) => x.rule.startsWith('sched.'))).toEqual([]);
  });
});

/** Rewrites every IPv4 frame of a capture: addresses by `addr`, then ports of an address by `port`. */
function rewrite(f: PcapFile, addr: (a: string) => string, port: (a: string, p: number) => number): PcapFile {
  const out = copy(f);
  for (const p of out.packets) {
    const d = p.data;
    const ip = ipOffset(out.linkType, d);
    if (ip < 0) {
      // ARP (Ethernet): sender and target protocol addresses.
      if (out.linkType === 1 && d.length >= 42 && d.readUInt16BE(12) === 0x0806) {
        for (const at of [28, 38]) writeIp(d, at, addr(readIp(d, at)));
      }
      continue;
    }
    if (d[ip]! >> 4 !== 4) continue;
    const s = segmentOf(out.linkType, d);
    writeIp(d, ip + 12, addr(readIp(d, ip + 12)));
    writeIp(d, ip + 16, addr(readIp(d, ip + 16)));
    fixIpv4Checksum(d, ip);
    if (!s) continue;
    d.writeUInt16BE(port(s.src, s.sport), s.l4);
    d.writeUInt16BE(port(s.dst, s.dport), s.l4 + 2);
    fixL4Checksum(d, segmentOf(out.linkType, d)!);
  }
  return out;
}

const readIp = (d: Buffer, at: number): string => [...d.subarray(at, at + 4)].join('.');
function writeIp(d: Buffer, at: number, a: string): void {
  a.split('.').forEach((x, i) => (d[at + i] = Number(x)));
}

/** A copy of a set with its captures and service.conf transformed. */
function transformSet(src: string, name: string, t: (f: PcapFile, file: string) => PcapFile, conf: (text: string) => string = (x) => x): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of CAPTURES) writeFileSync(path.join(dir, f), writePcap(t(readPcap(readFileSync(path.join(src, f))), f)));
  writeFileSync(path.join(dir, 'service.conf'), conf(readFileSync(path.join(src, 'service.conf'), 'utf8')));
  return dir;
}

describe('FullNAT scheduling: metamorphic', () => {
  let n = 0;
  for (const profile of PROFILES) {
    for (const c of CASES) {
      it(`sched-${c.name}-${profile}: same verdict with the LIPs renumbered and the local ports shuffled`, async () => {
        const src = dirOf(c, profile);
        const base = outcome(await verifyDir(src, profile), c);
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 2, max: 250 }), fc.integer({ min: 0, max: 64510 }), fc.constantFrom(1, 3, 7, 13, 101, 4093), async (host, offset, factor) => {
            const newLip = new Map(LIPS.map((l, i) => [l, `10.0.${7 + i}.${host}`]));
            // The same map of the local ports at every point, within 1025..65535; one-to-one on
            // the few ports a set uses (the factors share no divisor with 64511 = 31 × 2081).
            const shuffle = (p: number): number => 1025 + ((((p - 5000) * factor + offset) % 64511) + 64511) % 64511;
            const addr = (a: string): string => newLip.get(a) ?? a;
            // `a` is the address before the rewrite.
            const port = (a: string, p: number): number => (LIPS.includes(a) ? shuffle(p) : p);
            const conf = (text: string): string => text.replace(/-z (\S+)/g, (_, l: string) => `-z ${addr(l)}`);
            const dir = transformSet(src, `${c.name}-${profile}-m${n++}`, (f) => rewrite(f, addr, port), conf);
            expect(outcome(await verifyDir(dir, profile), c)).toEqual(base);
          }),
          { numRuns: 3, seed: 22 },
        );
      });
      it(`sched-${c.name}-${profile}: same verdict when the director's capture lacks what the director sent`, async () => {
        const src = dirOf(c, profile);
        const base = outcome(await verifyDir(src, profile), c);
        const own = new Set([TOPOLOGY.vip, ...LIPS]);
        const dir = transformSet(src, `${c.name}-${profile}-bypass`, (f, file) => {
          if (!file.startsWith('director')) return f;
          return { ...f, packets: f.packets.filter((p) => !own.has(segmentOf(f.linkType, p.data)?.src ?? '')) };
        });
        const r = await verifyDir(dir, profile);
        expect(outcome(r, c)).toEqual(base);
      });
    }
  }
});

describe('FullNAT service configurations carry the weights the scheduling rules read', () => {
  it("DPVS's ipvsadm -Sn (no local addresses in it), ALI's ipvsadm, keepalived lb_kind FNAT", () => {
    const dpvs = parseServiceConfig('-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -b -w 3\n-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -b -w 0\n', 'dpvs.rules');
    const keepalived = parseServiceConfig(
      [
        'local_address_group g { 10.0.0.100\n 10.0.0.101 }',
        'virtual_server 192.0.2.10 80 {',
        '  lb_algo wrr',
        '  lb_kind FNAT',
        '  protocol TCP',
        '  laddr_group_name g',
        '  real_server 10.0.0.11 8080 { weight 3 }',
        '  real_server 10.0.0.12 8080 { weight 0 }',
        '}',
      ].join('\n'),
      'keepalived.conf',
    );
    for (const set of [dpvs, keepalived]) {
      const s = set.services[0]!;
      expect(s.scheduler).toBe('wrr');
      expect(s.realServers.map((r) => [r.ip, r.port, r.weight, r.method])).toEqual([
        ['10.0.0.11', 8080, 3, 'fullnat'],
        ['10.0.0.12', 8080, 0, 'fullnat'],
      ]);
    }
    expect(keepalived.services[0]!.localAddresses).toEqual(['10.0.0.100', '10.0.0.101']);
    expect(dpvs.services[0]!.localAddresses).toEqual([]);
  });
});

describe('FullNAT scheduling: the rules see what they judge', () => {
  it('wrr 3:1 judged against a configuration that says 1:3: sched.distribution warns, both profiles', async () => {
    for (const profile of PROFILES) {
      const src = dirOf(CASES[1]!, profile);
      const dir = transformSet(src, `wrr-swapped-${profile}`, (f) => f, (text) => text.replace('-w 3', '-w X').replace('-w 1', '-w 3').replace('-w X', '-w 1'));
      const r = await verifyDir(dir, profile);
      expect(statusOf(r, 'sched.distribution')).toBe('fail');
      expect(r.findings.filter((x) => x.severity === 'warning').map((x) => x.rule)).toContain('sched.distribution');
    }
  });

  it('a director that decrements the TTL fails rewrite.ttl also when its capture lacks its own output', async () => {
    for (const profile of PROFILES) {
      const run = runWrite({ method: 'fullnat', profile, lips: LIPS, scheduler: 'rr', scenarios: ['many-clients'], faults: ['ttl-decrement-fullnat'] });
      const dir = path.join(tmp, `ttl-${profile}`);
      mkdirSync(dir, { recursive: true });
      const own = new Set([TOPOLOGY.vip, ...LIPS]);
      for (const [point, frames] of run.captures) {
        const file = `${point}.pcap`;
        if (!CAPTURES.includes(file)) continue;
        const f = readPcap(capturePcap(frames));
        const kept = file.startsWith('director') ? { ...f, packets: f.packets.filter((p) => !own.has(segmentOf(f.linkType, p.data)?.src ?? '')) } : f;
        writeFileSync(path.join(dir, file), writePcap(kept));
      }
      writeFileSync(path.join(dir, 'service.conf'), run.serviceConf);
      const r = await verifyDir(dir, profile);
      expect(errorsOf(r)).toEqual(['rewrite.ttl']);
      expect(r.findings.find((x) => x.rule === 'rewrite.ttl')!.message).toContain('one link');
    }
  });
});

describe("FullNAT scheduling: DPVS's conhash (source-address hash)", () => {
  // The persistence sets send one client's seven connections: to one server in the healthy
  // set, in turn to both in the broken one. Read as conhash services (no persistence), the
  // first is a static source mapping, the second is not.
  const asConhash = (text: string): string => text.replace(/-s rr -p 300/, '-s conhash');
  it('one client always on one real server: pass; moved between servers: sched.distribution', async () => {
    for (const profile of PROFILES) {
      const ok = await verifyDir(transformSet(dirOf(CASES[4]!, profile), `conhash-ok-${profile}`, (f) => f, asConhash), profile);
      expect(statusOf(ok, 'sched.distribution')).toBe('pass');
      expect(checkedOf(ok, 'sched.distribution')).toBeGreaterThan(0);
      const moved = await verifyDir(transformSet(dirOf(CASES[5]!, profile), `conhash-moved-${profile}`, (f) => f, asConhash), profile);
      const f = moved.findings.filter((x) => x.rule === 'sched.distribution');
      expect(f.length).toBeGreaterThan(0);
      expect(f[0]!.message).toContain(TOPOLOGY.cip);
    }
  });
});

describe('FullNAT scheduling: netns lab captures (real client and real-server stacks)', () => {
  const LAB_RS: Record<string, string> = { rs1: '10.0.0.11', rs2: '10.0.0.12' };
  const LAB_OWN = new Set(['172.16.0.100', '10.0.1.1']);
  for (const profile of PROFILES) {
    const dir = path.join(ROOT, `sched-lab-rr-${profile}`);
    const expected = (): { verdict: string; rules: string[]; evaluated: string[]; description: string } => JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));
    const evaluatedAll = (r: VerifyResult, rules: string[]): void => {
      for (const rule of rules) expect(checkedOf(r, rule), rule).toBeGreaterThan(0);
    };

    it(`sched-lab-rr-${profile}: pass, the rules evaluated, each connection on the server that answered it`, async () => {
      const e = expected();
      const r = await verifyDir(dir, profile);
      expect(r.verdict).toBe(e.verdict);
      expect(problemsOf(r)).toEqual(e.rules);
      evaluatedAll(r, e.evaluated);
      // The oracle: the servers' own answers, in the client's order.
      const answered = e.description.split('answers: ')[1]!.split(', ').map((n) => LAB_RS[n.trim()]);
      expect(r.connections!.map((c) => c.realServer)).toEqual(answered);
    });

    it(`sched-lab-rr-${profile}: the same without the director's own output`, async () => {
      const e = expected();
      const bypass = transformSet(dir, `lab-${profile}-bypass`, (f, file) => {
        if (!file.startsWith('director')) return f;
        return { ...f, packets: f.packets.filter((p) => !LAB_OWN.has(segmentOf(f.linkType, p.data)?.src ?? '')) };
      });
      const r = await verifyDir(bypass, profile);
      expect(r.verdict).toBe(e.verdict);
      expect(problemsOf(r)).toEqual(e.rules);
      evaluatedAll(r, e.evaluated);
    });

    it(`sched-lab-rr-${profile}: a DPVS ipvsadm -Sn without 10.0.0.12 (and no local address): sched.unknown-rs on its connections`, async () => {
      const dpvsSave = (text: string): string => text.split('\n').filter((l) => !l.startsWith('-P') && !l.includes('10.0.0.12')).join('\n');
      const bypass = transformSet(
        dir,
        `lab-${profile}-unknown`,
        (f, file) => (file.startsWith('director') ? { ...f, packets: f.packets.filter((p) => !LAB_OWN.has(segmentOf(f.linkType, p.data)?.src ?? '')) } : f),
        dpvsSave,
      );
      const r = await verifyDir(bypass, profile);
      expect(errorsOf(r)).toEqual(['sched.unknown-rs']);
      const f = r.findings.filter((x) => x.rule === 'sched.unknown-rs');
      // The first connection went to rs1 and taught the LIP; the other three to rs2 are found.
      expect(f.length).toBeGreaterThanOrEqual(3);
      for (const x of f) expect(x.message).toContain('10.0.0.12');
    });
  }
});

describe('FullNAT scheduling: why not evaluated', () => {
  it('with only the client side of the director, the reason names the missing local-address leg', async () => {
    const src = dirOf(CASES[0]!, 'dpvs');
    const conf = path.join(src, 'service.conf');
    const r = await verify({
      services: parseServiceConfig(readFileSync(conf, 'utf8'), conf),
      points: [
        { kind: 'client', files: [path.join(src, 'client.pcap')] },
        { kind: 'director', files: [path.join(src, 'director-eth0.pcap')] },
      ],
      profile: 'dpvs',
    });
    for (const rule of ['sched.unknown-rs', 'sched.weight0', 'sched.distribution']) {
      expect(statusOf(r, rule)).toBe('not-evaluated');
      expect(r.notEvaluated.find((n) => n.rule === rule)?.reason, rule).toMatch(/none linked to its local-address leg/);
    }
  });
});

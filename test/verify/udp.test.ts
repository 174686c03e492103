/**
 * verify on UDP services (`-u VIP:53`). The captures come from the reference director
 * (src/replay/director, written from lvs-behavior.md independently of the verifier) running the
 * udp-dns / udp-burst scenarios; counts expected of verify are taken from tshark where they can
 * be (an independent decoder), or are fixed by the scenario's plan.
 *  - conformant NAT/DR/TUN: no error, and the rules that apply to UDP checked a sensible number
 *    of times; the TCP-only rules are not evaluated (never failed);
 *  - each director fault is caught by exactly the rule it breaks;
 *  - every fresh client port is a scheduling decision (sched.* rules);
 *  - a flow silent longer than the IPVS UDP timeout (300 s, lvs-behavior.md §1.8) is a new
 *    connection (new scheduling decision), a shorter silence is not;
 *  - a long run keeps the packets held bounded (UDP flows are judged once quiet).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWrite, writeCaptureSet, type ReplayWriteOptions } from '../../src/replay/replay.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { repoRoot } from './fixture-util.js';

const need = (cond: boolean, reason: string): boolean => {
  if (!cond && process.env.CI === 'true') throw new Error(reason);
  if (!cond) console.log(`skip: ${reason}`);
  return cond;
};
const has = (tool: string): boolean => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const hasTshark = has('tshark');
const hasEditcap = has('editcap') && has('mergecap');

type Method = 'nat' | 'dr' | 'tun';
const VIP = '192.0.2.10';
const UDP = ['udp-dns', 'udp-burst'];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-udp-verify-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** verify on a capture set directory (client, director, rs1, rs2, service.conf), optionally with another service.conf text. */
async function verifyDir(dir: string, conf?: string, files: Partial<Record<'client' | 'director' | 'rs1' | 'rs2', string>> = {}): Promise<VerifyResult> {
  const confPath = path.join(dir, 'service.conf');
  const text = conf ?? readFileSync(confPath, 'utf8');
  const f = (p: 'client' | 'director' | 'rs1' | 'rs2'): string => files[p] ?? path.join(dir, `${p}.pcap`);
  const points: VerifyInput['points'] = [
    { kind: 'client', files: [f('client')] },
    { kind: 'director', files: [f('director')] },
    // DR real-server captures never name the RIP in an IP header: say which server each is.
    { kind: 'rs', files: [f('rs1')], rsIp: '10.0.0.11' },
    { kind: 'rs', files: [f('rs2')], rsIp: '10.0.0.12' },
  ];
  return verify({ services: parseServiceConfig(text, confPath), points, profile: 'linux' });
}

let runs = 0;
async function verifyRun(o: ReplayWriteOptions, conf?: string): Promise<VerifyResult> {
  const dir = path.join(tmp, `run-${++runs}`);
  writeCaptureSet(dir, runWrite({ profile: 'linux', scenarios: UDP, ...o }));
  return verifyDir(dir, conf);
}

const rulesOf = (r: VerifyResult, severity: 'error' | 'warning'): string[] => [...new Set(r.findings.filter((f) => f.severity === severity).map((f) => f.rule))].sort();
const errorRules = (r: VerifyResult): string[] => rulesOf(r, 'error');
/** Client endpoint "ip:port" of a finding's connection label ("udp 198.51.100.7:38089 -> 192.0.2.10:53"). */
const flowOf = (conn: string | undefined): string => /^udp (\S+) -> /.exec(conn ?? '')?.[1] ?? `? ${conn}`;
const tally = (r: VerifyResult, id: string) => {
  const t = r.rules.find((x) => x.rule === id);
  if (!t) throw new Error(`no tally for ${id}`);
  return t;
};

/** tshark's count of frames matching a display filter. */
function tsharkCount(file: string, filter: string): number {
  const out = execFileSync('tshark', ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).length;
}

/** tshark's distinct client flows (src:port of datagrams to VIP:53) in a capture. */
function tsharkFlows(file: string): string[] {
  const out = execFileSync('tshark', ['-n', '-r', file, '-Y', `ip.dst == ${VIP} && udp.dstport == 53`, '-T', 'fields', '-e', 'ip.src', '-e', 'udp.srcport'], { encoding: 'utf8' });
  const seen: string[] = [];
  for (const l of out.split('\n').filter(Boolean)) {
    const f = l.replace('\t', ':');
    if (!seen.includes(f)) seen.push(f);
  }
  return seen;
}

const TCP_ONLY = ['flow.unexpected-rst', 'flow.syn-retransmit', 'rewrite.tcp-fields'];

describe('verify: conformant UDP capture sets (fixtures/replay/udp-*-linux)', () => {
  for (const method of ['nat', 'dr', 'tun'] as const) {
    it.skipIf(!need(hasTshark, 'tshark not installed'))(`${method}: pass, no error; UDP rules checked as often as tshark counts packets and flows`, async () => {
      const dir = path.join(repoRoot, 'fixtures', 'replay', `udp-${method}-linux`);
      const r = await verifyDir(dir);
      expect(errorRules(r)).toEqual([]);
      expect(r.findings.filter((f) => f.severity === 'warning')).toEqual([]);
      expect(r.verdict).toBe('pass');
      const director = path.join(dir, 'director.pcap');
      // Client datagrams arriving at the director (its ingress copies: not yet rewritten or tunnelled).
      const ingress = tsharkCount(director, `ip.dst == ${VIP} && udp.dstport == 53 && !(ip.proto == 4) && eth.src == 02:00:00:00:00:07`);
      expect(ingress).toBe(27);
      expect(tally(r, 'flow.not-forwarded')).toMatchObject({ status: 'pass', checked: ingress, failed: 0 });
      const flows = tsharkFlows(path.join(dir, 'client.pcap'));
      expect(flows.length).toBe(21);
      expect(r.stats.connections).toBe(flows.length);
      // Every flow (fresh port) is a scheduling decision against the configured servers.
      expect(tally(r, 'sched.unknown-rs')).toMatchObject({ status: 'pass', checked: flows.length, failed: 0 });
      expect(tally(r, 'sched.weight0')).toMatchObject({ status: 'pass', checked: flows.length, failed: 0 });
      expect(tally(r, 'sched.distribution')).toMatchObject({ status: 'pass', failed: 0 });
      expect(tally(r, 'sched.distribution').checked).toBeGreaterThan(0);
      // TTL: every client datagram across the director; NAT also every answer (routed back, −1).
      expect(tally(r, 'rewrite.ttl')).toMatchObject({ status: 'pass', checked: method === 'nat' ? 2 * ingress : ingress, failed: 0 });
      expect(tally(r, 'checksum.l4').checked).toBeGreaterThan(0);
      expect(tally(r, 'checksum.l4').failed).toBe(0);
      expect(tally(r, 'rewrite.payload').checked).toBeGreaterThan(0);
      if (method === 'nat') for (const id of ['nat.dst', 'nat.reply-src', 'nat.reply-bypass', 'nat.rip-leak']) expect(tally(r, id)).toMatchObject({ status: 'pass', checked: ingress });
      if (method === 'dr') for (const id of ['dr.dst-mac', 'dr.l3-modified', 'dr.reply-src']) expect(tally(r, id)).toMatchObject({ status: 'pass', checked: ingress });
      if (method === 'tun') expect(tally(r, 'tun.outer')).toMatchObject({ status: 'pass', checked: ingress });
      // TCP flags and sequence rules have nothing to look at: not evaluated, never failed.
      for (const id of TCP_ONLY) {
        expect(tally(r, id)).toMatchObject({ status: 'not-evaluated', checked: 0, failed: 0 });
        expect(r.notEvaluated.map((n) => n.rule)).toContain(id);
      }
    });
  }
});

// fault, methods, the error rules it must give (rules.md; lvs-behavior.md section), write options
const CASES: [string, Method[], string[], Partial<ReplayWriteOptions>?][] = [
  ['drop-every-nth', ['nat', 'dr', 'tun'], ['flow.not-forwarded']],
  ['bad-l4-checksum', ['nat', 'dr', 'tun'], ['checksum.l4']], // R5
  ['no-ttl-decrement', ['nat', 'dr', 'tun'], ['rewrite.ttl']], // §1.2, R1
  ['nat-reply-src', ['nat'], ['nat.reply-src', 'nat.rip-leak']], // §1.3: the client sees the RIP
  ['nat-wrong-port', ['nat'], ['nat.dst']], // §1.3
  ['ipid-rewrite', ['nat', 'dr'], ['rewrite.ip-fields']], // R4
  ['tun-outer-ttl', ['tun'], ['tun.outer']], // §1.5, R7
  ['schedule-weight0', ['nat', 'dr', 'tun'], ['sched.weight0'], { weights: [1, 0] }], // §1.10
  ['break-persistence', ['nat', 'dr'], ['sched.persistence'], { persistence: 300 }], // §1.11
];

describe('verify: reference-director faults on a UDP service give exactly the broken rule', () => {
  for (const method of ['nat', 'dr', 'tun'] as const) {
    it(`${method}: the same traffic without a fault has no error (also persistent, and wrr 3:1)`, async () => {
      expect(errorRules(await verifyRun({ method }))).toEqual([]);
      expect(errorRules(await verifyRun({ method, persistence: 300 }))).toEqual([]);
      expect(errorRules(await verifyRun({ method, scheduler: 'wrr', weights: [3, 1] }))).toEqual([]);
    });
  }
  for (const [fault, methods, rules, extra] of CASES) {
    for (const method of methods) {
      it(`${method} ${fault} → ${rules.join(' + ')}`, async () => {
        expect(errorRules(await verifyRun({ method, faults: [fault], ...extra }))).toEqual(rules);
      });
    }
  }

  it.skipIf(!need(hasTshark, 'tshark not installed'))('drop-every-nth: one flow.not-forwarded per flow tshark finds a dropped datagram in', async () => {
    for (const method of ['nat', 'dr'] as const) {
      const dir = path.join(tmp, `drop-${method}`);
      writeCaptureSet(dir, runWrite({ method, profile: 'linux', scenarios: UDP, faults: ['drop-every-nth'] }));
      // tshark: client datagrams at the director ingress whose IP ID never left it again.
      const out = execFileSync('tshark', ['-n', '-r', path.join(dir, 'director.pcap'), '-Y', `udp.dstport == 53 || udp.dstport == 5353`, '-T', 'fields', '-e', 'eth.src', '-e', 'ip.src', '-e', 'udp.srcport', '-e', 'ip.id', '-e', 'frame.time_epoch'], { encoding: 'utf8' });
      const rowsIn = new Map<string, { flow: string; t: number }>();
      const left = new Set<string>();
      let lastT = 0;
      for (const l of out.split('\n').filter(Boolean)) {
        const [mac, src, port, id, t] = l.split('\t') as [string, string, string, string, string];
        const k = `${src}|${id}`;
        lastT = Math.max(lastT, Number(t));
        if (mac === '02:00:00:00:00:07') rowsIn.set(k, { flow: `${src}:${port}`, t: Number(t) });
        else left.add(k);
      }
      const dropped = [...rowsIn].filter(([k]) => !left.has(k)).map(([, v]) => v);
      expect(dropped.length).toBeGreaterThan(3);
      // A datagram in the director capture's last millisecond may have left after tcpdump
      // stopped: flow.not-forwarded leaves it alone (rules/flow.ts), so the oracle does too.
      const droppedFlows = new Set(dropped.filter((d) => d.t < lastT - 0.001).map((d) => d.flow));
      const r = await verifyDir(dir);
      const reported = new Set(r.findings.filter((f) => f.rule === 'flow.not-forwarded').map((f) => flowOf(f.conn)));
      expect(reported).toEqual(droppedFlows);
    }
  });

  it('every fresh port is a scheduling decision: the rr run judged against sh (source hash) or wrr 3:1 fails sched.distribution', async () => {
    for (const method of ['nat', 'dr'] as const) {
      const dir = path.join(tmp, `sched-${method}`);
      const run = runWrite({ method, profile: 'linux', scenarios: UDP });
      writeCaptureSet(dir, run);
      const asSh = run.serviceConf.replace('-s rr', '-s sh');
      expect(asSh).not.toBe(run.serviceConf);
      // sh maps a client address to one server; the director spread each client's ports over both.
      // (sched.distribution is a warning in the catalog.)
      const sh = await verifyDir(dir, asSh);
      expect(errorRules(sh)).toEqual([]);
      expect(rulesOf(sh, 'warning')).toEqual(['sched.distribution']);
      expect(new Set(sh.findings.filter((f) => f.rule === 'sched.distribution').map((f) => flowOf(f.conn).split(':')[0]))).toEqual(new Set(['198.51.100.7', '198.51.100.20', '198.51.100.21']));
      const asWrr = run.serviceConf.replace('-s rr', '-s wrr').replace(/-w 1\n/, '-w 3\n');
      expect(asWrr).toContain('-w 3');
      const wrr = await verifyDir(dir, asWrr);
      expect(errorRules(wrr)).toEqual([]);
      expect(rulesOf(wrr, 'warning')).toEqual(['sched.distribution']);
    }
  });
});

describe('verify: UDP flow lifetime (IPVS UDP timeout 300 s, lvs-behavior.md §1.8)', () => {
  /**
   * The committed DR set plus the first flow's frames again, `shiftS` seconds later at every
   * point (editcap/mergecap, independent tools). The copy reuses the flow's client port.
   */
  async function withRepeat(shiftS: number): Promise<{ r: VerifyResult; flows: string[] }> {
    const src = path.join(repoRoot, 'fixtures', 'replay', 'udp-dr-linux');
    const flows = tsharkFlows(path.join(src, 'client.pcap'));
    const port = flows[0]!.split(':')[1]!;
    const files: Record<string, string> = {};
    for (const p of ['client', 'director', 'rs1', 'rs2'] as const) {
      const orig = path.join(src, `${p}.pcap`);
      const part = path.join(tmp, `rep-${shiftS}-${p}-part.pcap`);
      const shifted = path.join(tmp, `rep-${shiftS}-${p}-shifted.pcap`);
      const merged = path.join(tmp, `rep-${shiftS}-${p}.pcap`);
      // A point that never saw the flow (the other real server) keeps its capture.
      if (tsharkCount(orig, `udp.port == ${port}`) === 0) continue;
      execFileSync('tshark', ['-n', '-r', orig, '-Y', `udp.port == ${port}`, '-w', part, '-F', 'pcap'], { stdio: 'ignore' });
      execFileSync('editcap', ['-t', String(shiftS), part, shifted], { stdio: 'ignore' });
      execFileSync('mergecap', ['-F', 'pcap', '-w', merged, orig, shifted], { stdio: 'ignore' });
      files[p] = merged;
    }
    return { r: await verifyDir(src, undefined, files), flows };
  }

  it.skipIf(!need(hasTshark && hasEditcap, 'tshark/editcap/mergecap not installed'))('the same client port 100 s later continues its flow: same connection, no new decision, no error', async () => {
    const { r, flows } = await withRepeat(100);
    expect(r.stats.connections).toBe(flows.length);
    expect(errorRules(r)).toEqual([]);
    expect(rulesOf(r, 'warning')).toEqual([]);
    expect(tally(r, 'sched.unknown-rs').checked).toBe(flows.length);
  });

  it.skipIf(!need(hasTshark && hasEditcap, 'tshark/editcap/mergecap not installed'))('the same client port 400 s later is a new connection and a new scheduling decision', async () => {
    const src = path.join(repoRoot, 'fixtures', 'replay', 'udp-dr-linux');
    const { r, flows } = await withRepeat(400);
    expect(r.stats.connections).toBe(flows.length + 1);
    expect(tally(r, 'sched.unknown-rs').checked).toBe(flows.length + 1);
    // The copy went to the server the first flow had; rr would have picked the other one after
    // the last decision when the last flow went to that same server (tshark: first and last flow).
    const rsOf = (flow: string): string => {
      const [ip, port] = flow.split(':') as [string, string];
      return tsharkCount(path.join(src, 'rs1.pcap'), `ip.src == ${ip} && udp.srcport == ${port}`) > 0 ? 'rs1' : 'rs2';
    };
    expect(rsOf(flows[0]!)).toBe(rsOf(flows[flows.length - 1]!));
    expect(errorRules(r)).toEqual([]);
    expect(rulesOf(r, 'warning')).toEqual(['sched.distribution']);
  });
});

describe('verify: a long UDP run keeps memory bounded', () => {
  it('hundreds of scenarios (thousands of flows over simulated minutes): packets held stay a small fraction', async () => {
    const dir = path.join(tmp, 'long');
    const run = runWrite({ method: 'nat', profile: 'linux', scenarios: Array.from({ length: 400 }, () => 'udp-burst') });
    writeCaptureSet(dir, run);
    const client = run.captures.get('client')!;
    const spanS = (client[client.length - 1]!.ms - client[0]!.ms) / 1000;
    expect(spanS).toBeGreaterThan(120);
    const total = [...run.captures.entries()].filter(([p]) => ['client', 'director', 'rs1', 'rs2'].includes(p)).reduce((n, [, f]) => n + f.length, 0);
    const r = await verifyDir(dir);
    expect(errorRules(r)).toEqual([]);
    expect(r.stats.packetsCorrelated).toBe(total);
    expect(r.stats.connections).toBeGreaterThan(4000);
    // Flows are judged two windows (2 s) after their last datagram: about 2.4 s of traffic
    // (≈ 8 scenarios × 12 flows × 8 copies ≈ 800 records) is held at once, not the run.
    expect(r.stats.maxLivePackets).toBeLessThan(1500);
    expect(r.stats.maxLivePackets).toBeLessThan(total / 20);
  }, 60_000);
});

/**
 * Capture sets holding several services (a DPVS or Alibaba director runs many FullNAT services,
 * on one local address or a local address each): every record is judged by the service whose
 * addresses it carries, so a service sees none of another's packets and none of its findings.
 *
 * - The DPVS lab's two-service sets (fixtures/multiservice): pass, no warning, no crash.
 * - Metamorphic: a clean single-service set and a copy of a set moved to other addresses
 *   (another VIP, or the same local addresses toward other real-server ports), captured side
 *   by side at the same points and judged with both services' config, give exactly the union
 *   of the findings each gives alone — no finding lost, none new.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { fixIpv4Checksum, fixL4Checksum, partialL4Checksum, readPcap, segmentOf, writePcap, type Segment } from '../helpers/capture-transform.js';
import { repoRoot } from '../helpers/env.js';

const multiDir = path.join(repoRoot, 'fixtures', 'multiservice');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-multisvc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Profile = VerifyInput['profile'];

/** The set's points, each point's files taken from every directory given (same file names). */
function pointsOf(dirs: readonly string[]): VerifyInput['points'] {
  const names = readdirSync(dirs[0]!).filter((f) => f.endsWith('.pcap')).sort();
  const files = (pick: (f: string) => boolean): string[] => dirs.flatMap((d) => names.filter(pick).map((f) => path.join(d, f)));
  const points: VerifyInput['points'] = [{ kind: 'client', files: files((f) => f === 'client.pcap') }];
  points.push({ kind: 'director', files: files((f) => f.startsWith('director')) });
  for (const rs of names.filter((f) => /^rs\d\.pcap$/.test(f))) points.push({ kind: 'rs', files: files((f) => f === rs) });
  return points;
}

async function run(dirs: readonly string[], conf: string, profile: Profile): Promise<VerifyResult> {
  return verify({ services: parseServiceConfig(conf, 'service.conf'), points: pointsOf(dirs), profile });
}

/** Findings that are a judgement (errors and warnings), as comparable text. */
const problems = (r: VerifyResult): string[] =>
  r.findings
    .filter((f) => f.severity !== 'info')
    .map((f) => `${f.severity} ${f.rule} ${f.message}`)
    .sort();

function l4State(d: Buffer, s: Segment): 'ok' | 'partial' | 'other' {
  const at = s.l4 + (s.proto === 6 ? 16 : 6);
  const was = d.readUInt16BE(at);
  const t = Buffer.from(d);
  fixL4Checksum(t, s);
  if (t.readUInt16BE(at) === was) return 'ok';
  partialL4Checksum(t, s);
  return t.readUInt16BE(at) === was ? 'partial' : 'other';
}

function ipv4Ok(d: Buffer, ip: number): boolean {
  const t = Buffer.from(d);
  fixIpv4Checksum(t, ip);
  return t.readUInt16BE(ip + 10) === d.readUInt16BE(ip + 10);
}

interface Move {
  addr: Record<string, string>;
  port: (p: number) => number;
  /** Added to every IPv4 ID (two sets' packets then differ where the director keeps IDs). */
  ipId?: number;
}

const writeIp = (d: Buffer, at: number, ip: string): void => {
  ip.split('.').forEach((b, i) => (d[at + i] = Number(b)));
};

/** A copy of a set's captures with its addresses and ports moved; checksums stay as they were
 *  (right, offload-partial, or wrong). */
function moveSet(src: string, name: string, mv: Move): string {
  const out = mkdtempSync(path.join(tmp, `${name}-`));
  for (const f of readdirSync(src).filter((x) => x.endsWith('.pcap'))) {
    const cap = readPcap(readFileSync(path.join(src, f)));
    for (const p of cap.packets) {
      const s = segmentOf(cap.linkType, p.data);
      if (!s || s.v !== 4) continue;
      const d = p.data;
      const l4 = l4State(d, s);
      const ipOk = ipv4Ok(d, s.ip);
      if (mv.addr[s.src]) writeIp(d, s.ip + 12, mv.addr[s.src]!);
      if (mv.addr[s.dst]) writeIp(d, s.ip + 16, mv.addr[s.dst]!);
      d.writeUInt16BE(mv.port(s.sport), s.l4);
      d.writeUInt16BE(mv.port(s.dport), s.l4 + 2);
      if (mv.ipId) d.writeUInt16BE((d.readUInt16BE(s.ip + 4) + mv.ipId) & 0xffff, s.ip + 4);
      if (ipOk) fixIpv4Checksum(d, s.ip);
      if (l4 === 'ok') fixL4Checksum(d, s);
      else if (l4 === 'partial') partialL4Checksum(d, s);
    }
    writeFileSync(path.join(out, f), writePcap(cap));
  }
  return out;
}

function moveConf(conf: string, mv: Move): string {
  return conf
    .replace(/(\d+\.\d+\.\d+\.\d+)(?::(\d+))?/g, (all: string, ip: string, port: string | undefined) => {
      const to = mv.addr[ip] ?? ip;
      return port === undefined ? to : `${to}:${mv.port(Number(port))}`;
    });
}

describe('DPVS lab sets with two FullNAT services', () => {
  for (const set of ['dpvs-two-services-one-lip', 'dpvs-two-services-two-lips']) {
    it(`${set}: pass, no warning, each service judges its own 4 connections`, async () => {
      const dir = path.join(multiDir, set);
      const r = await run([dir], readFileSync(path.join(dir, 'service.conf'), 'utf8'), 'dpvs');
      expect(problems(r)).toEqual([]);
      expect(r.verdict).toBe('pass');
      expect(r.traffic!.map((t) => t.connections)).toEqual([4, 4]);
      expect(r.traffic!.map((t) => t.matched)).toEqual([4, 4]);
    });
  }
});

describe('merging two single-service sets gives the union of their findings', () => {
  const verifyDir = path.join(repoRoot, 'fixtures', 'verify');
  const fnatDir = path.join(repoRoot, 'fixtures', 'fullnat');
  const clientPorts = (p: number): number => (p >= 32768 ? p + 1000 : p);
  interface Case {
    name: string;
    a: string;
    b: string;
    profile: Profile;
    mv: Move;
  }
  const cases: Case[] = [
    {
      // NAT, two VIPs: B's clients use other ports, so its RS legs are other connections too.
      name: 'NAT: a clean service and a faulty one on another VIP',
      a: path.join(verifyDir, 'nat-ok'),
      b: path.join(verifyDir, 'fault-lost-in-transit'),
      profile: 'linux',
      mv: { addr: { '192.0.2.10': '192.0.2.20' }, port: clientPorts },
    },
    {
      name: 'NAT: two clean services, one VIP, two ports',
      a: path.join(verifyDir, 'nat-ok'),
      b: path.join(verifyDir, 'nat-ok'),
      profile: 'linux',
      mv: { addr: {}, port: (p) => (p === 80 ? 443 : p === 8080 ? 8443 : clientPorts(p)) },
    },
    {
      // The shared-LIP case: the director reuses LIP:lport toward each real-server port.
      name: 'FullNAT: the same local addresses toward other real-server ports',
      a: path.join(fnatDir, 'sched-rr-dpvs'),
      b: path.join(fnatDir, 'sched-rr-dpvs'),
      profile: 'dpvs',
      mv: { addr: {}, port: (p) => (p === 80 ? 443 : p === 8080 ? 8443 : p) },
    },
    {
      name: 'FullNAT: another VIP with local addresses of its own',
      a: path.join(fnatDir, 'sched-rr-dpvs'),
      b: path.join(fnatDir, 'sched-rr-dpvs'),
      profile: 'dpvs',
      mv: { addr: { '192.0.2.10': '192.0.2.20', '10.0.0.100': '10.0.0.110', '10.0.0.101': '10.0.0.111', '10.0.0.102': '10.0.0.112' }, port: (p) => p },
    },
    {
      // Both services' legs go from the same LIPs to the same RIP:rport: the addresses tie, and
      // the client SYN each leg's SYN forwards (same IP ID) tells whose it is.
      name: 'FullNAT: another VIP on the same local addresses and real servers',
      a: path.join(fnatDir, 'sched-rr-dpvs'),
      b: path.join(fnatDir, 'sched-rr-dpvs'),
      profile: 'dpvs',
      mv: { addr: { '192.0.2.10': '192.0.2.20' }, port: (p) => (p >= 5000 && p < 5100 ? p + 100 : p), ipId: 0x1000 },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const confA = readFileSync(path.join(c.a, 'service.conf'), 'utf8');
      const confB = moveConf(readFileSync(path.join(c.b, 'service.conf'), 'utf8'), c.mv);
      const movedB = moveSet(c.b, path.basename(c.b), c.mv);
      const alone = [await run([c.a], confA, c.profile), await run([movedB], confB, c.profile)];
      const both = await run([c.a, movedB], `${confA}${confB}`, c.profile);
      expect(problems(both)).toEqual([...problems(alone[0]!), ...problems(alone[1]!)].sort());
      expect(both.traffic!.map((t) => [t.connections, t.matched])).toEqual(alone.map((r) => [r.traffic![0]!.connections, r.traffic![0]!.matched]));
      // Each service's packets were checked by its own rules once: the tallies are those of
      // each service judged alone over the same captures (capture.* rules are about the points).
      // Not those of each set alone: some tallies depend on the files of a point, not on the service.
      const checked = (r: VerifyResult): Map<string, number> => new Map(r.rules.filter((t) => !t.rule.startsWith('capture.')).map((t) => [t.rule, t.checked]));
      const [ca, cb] = (await Promise.all([confA, confB].map((conf) => run([c.a, movedB], conf, c.profile)))).map(checked);
      for (const [rule, n] of checked(both)) expect(`${rule} ${n}`).toBe(`${rule} ${(ca!.get(rule) ?? 0) + (cb!.get(rule) ?? 0)}`);
      // Each set alone judges some connections, so the union is not vacuous.
      for (const r of alone) expect(r.traffic![0]!.connections).toBeGreaterThan(0);
    });
  }
});

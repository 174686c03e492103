/**
 * The DPVS lab (`lab run --director dpvs --mode fullnat`): a real FullNAT director (iQIYI DPVS on
 * DPDK af_packet ports) between real Linux clients and servers, its captures verified with
 * profile dpvs and read again by tshark as an independent oracle (TOA kind 254 on the
 * handshake's ACK and the first data packet only, with the client's port and address; the
 * SYN-ACK's MSS 8 lower at the client than at the real server); its faults caught; the
 * reference director held to the same verdicts (lab matrix) and to the same header fields
 * (fnat-behaviour.ts, field by field); and nothing left behind (namespaces, processes,
 * hugepages, runtime files, the lab lock), also after SIGTERM of `lvsaudit lab run`. One file,
 * so its DPVS labs run one after another (a second at once would exit 4).
 *
 * Needs root, tcpdump, tshark and DPVS: the cached build, or DPDK and the build tools to make it
 * (beforeAll builds it once, which takes a minute or two). Skips with the reason elsewhere;
 * under CI=true every precondition is required (.ci/run installs them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedBinaries, dpvsBinaries, missingBuildTools, type DpvsBinaries } from '../../src/lab/dpvs/build.js';
import { DpvsRuntime, dpvsCase, dpvsLockFile, dpvsRuntimeUnavailable, freeHugepages, nrHugepages, runDpvsCase } from '../../src/lab/dpvs/director.js';
import { DPVS_HUGEPAGES, UOA_MAX_TRAIL } from '../../src/lab/dpvs/config.js';
import { labUnavailableReason, listNamespaces } from '../../src/lab/netns.js';
import { ADDR, PERSISTENT_CLIENTS } from '../../src/lab/plan.js';
import { UDP_DATAGRAMS, errorRules, labExitCode, verifyCaptures, type LabCaseResult } from '../../src/lab/sequence.js';
import { reportedRules } from '../../src/verify/report/rule-status.js';
import { EnvironmentError } from '../../src/errors.js';
import { hasCommand, need, repoRoot } from '../helpers/env.js';
import { referenceLabReady, referenceLabReason } from '../helpers/lab.js';
import { MATRIX_CASES, dpvsCaseId, dpvsDisagrees, renderMatrix, runDpvsMatrix, runMatrix } from '../../src/lab/matrix.js';
import { tsharkFields } from './oracle.js';
import { behaviour, localPorts } from './fnat-behaviour.js';
import { expectedFlow, udpFlows, type UdpPlan } from './uoa-oracle.js';
import { runReferenceLab } from '../../src/lab/reference-lab.js';
import { saCounters } from '../../src/lab/dpvs/exhaustion.js';

const labReason = labUnavailableReason() ?? dpvsRuntimeUnavailable();
const toolsOk = hasCommand('tcpdump') && hasCommand('tshark');
const cached = cachedBinaries();
const buildMissing = cached === null ? missingBuildTools() : [];
const ready = labReason === null && toolsOk && buildMissing.length === 0;
const reason = labReason ?? (!toolsOk ? 'tcpdump and tshark are needed' : `DPVS is not built and cannot be: missing ${buildMissing.join(', ')}`);
const cli = join(repoRoot, 'bin', 'lvsaudit.js');
const built = existsSync(join(repoRoot, 'dist', 'cli', 'main.js'));

/** An IPv4 address as tshark prints it inside an option's bytes. */
function hexIp(ip: string): string {
  return ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');
}

function write(file: string, text: string, mode: number): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/**
 * The namespaces of the lab a `lvsaudit lab run` child builds: Lab names them
 * `lvsa-<its pid in base 36>-…`, so other labs on the machine (other users' runs) are never
 * taken for it.
 */
const childLab = (pid: number | undefined): string[] => (pid === undefined ? [] : listNamespaces().filter((n) => n.startsWith(`lvsa-${pid.toString(36)}-`)));

const labNamespaces = (): string[] => listNamespaces().filter((n) => n.startsWith('lvsa-'));
const dpvsRuntimeDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('lvsaudit-dpvs-') && n !== 'lvsaudit-dpvs-lab.lock');
/** Processes running a DPVS binary (by the executable's path, not a name pattern). */
const dpvsProcesses = (bin: string): number[] =>
  readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
        return readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0')[0] === bin;
      } catch {
        return false;
      }
    })
    .map(Number);

/**
 * What a DPVS run may leave behind outside its namespaces, as the kernel and the file system
 * tell it (namespaces are checked by the run's own prefix: other labs may run on the machine).
 */
function leftovers(bin: string): { dpvs: number[]; hugepages: number; runtimeDirs: string[]; lock: boolean } {
  return { dpvs: dpvsProcesses(bin), hugepages: nrHugepages(), runtimeDirs: dpvsRuntimeDirs(), lock: existsSync(dpvsLockFile()) };
}

describe.skipIf(!need(ready, reason))('DPVS FullNAT lab', () => {
  let bins: DpvsBinaries;
  let clean: LabCaseResult;
  let before: ReturnType<typeof leftovers>;
  let freeBefore = 0;
  const prefixes: string[] = [];
  const outs: string[] = [];
  const out = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'lvsa-dpvs-test-'));
    outs.push(d);
    return d;
  };

  beforeAll(async () => {
    bins = await dpvsBinaries({ onStep: (l) => process.stderr.write(`${l}\n`) });
    before = leftovers(bins.dpvs);
    freeBefore = freeHugepages();
    clean = await runDpvsCase(bins, dpvsCase('fullnat', { connections: 8 }), out(), { verify: true });
    prefixes.push(clean.prefix);
  }, 15 * 60_000);

  afterAll(() => {
    for (const d of outs) rmSync(d, { recursive: true, force: true });
  });

  it('answers every connection and verifies with profile dpvs: exit 0, every fnat.* and sched.* rule evaluated and passing', () => {
    expect(clean.connections.map((c) => c.ok)).toEqual(clean.connections.map(() => true));
    expect(new Set(clean.connections.map((c) => c.body))).toEqual(new Set(['rs1', 'rs2']));
    expect(labExitCode([clean])).toBe(0);
    expect(clean.verify!.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    const rules = reportedRules(clean.verify!);
    // UOA is DPVS's UDP option: on this TCP service its rules say so instead of judging.
    for (const r of rules.filter((x) => x.rule.startsWith('fnat.uoa-'))) expect(clean.verify!.notEvaluated.find((n) => n.rule === r.rule)?.reason).toMatch(/UOA is for UDP/);
    const judged = rules.filter((r) => (r.rule.startsWith('fnat.') && !r.rule.startsWith('fnat.uoa-')) || r.rule.startsWith('sched.'));
    expect(judged.filter((r) => r.rule.startsWith('fnat.')).length).toBeGreaterThanOrEqual(10);
    expect(judged.map((r) => r.rule)).toEqual(expect.arrayContaining(['sched.unknown-rs', 'sched.weight0', 'sched.persistence', 'sched.distribution']));
    for (const r of [...judged, ...rules.filter((x) => x.rule === 'rewrite.ttl')]) {
      expect({ rule: r.rule, status: r.status, checked: r.checked > 0 }).toEqual({ rule: r.rule, status: 'pass', checked: true });
    }
    // Every connection is a scheduling decision persistence judges: the first of each client
    // address creates its template, the later ones must follow it.
    expect(rules.find((r) => r.rule === 'sched.persistence')!.checked).toBe(clean.connections.length);
  });

  it('keeps each client address on one real server (persistence), and schedules the addresses round robin (the client\'s own view)', () => {
    expect(clean.case.persistence?.clients).toEqual(PERSISTENT_CLIENTS);
    const byAddress = new Map<string, Set<string>>();
    for (const c of clean.connections) byAddress.set(c.localAddress!, new Set([...(byAddress.get(c.localAddress!) ?? []), c.body]));
    expect([...byAddress.keys()].sort()).toEqual([...PERSISTENT_CLIENTS].sort());
    for (const [address, servers] of byAddress) expect({ address, servers: servers.size }).toEqual({ address, servers: 1 });
    // An odd number of addresses: without templates rr would move each address's second connection.
    const first = PERSISTENT_CLIENTS.map((a) => [...byAddress.get(a)!][0]);
    expect(first).toEqual(['rs1', 'rs2', 'rs1']);
  });

  it('captures every point, read by tshark: TOA kind 254 with the client port and address on the ACK and first data packet only', () => {
    expect(Object.keys(clean.captures).sort()).toEqual(['client', 'director-eth0', 'director-eth1', 'rs1', 'rs2']);
    for (const f of Object.values(clean.captures)) expect(tsharkFields(f, 'tcp', ['frame.number']).length).toBeGreaterThan(0);
    let connections = 0;
    for (const rs of ['rs1', 'rs2'] as const) {
      const rows = tsharkFields(clean.captures[rs]!, `tcp && ip.src == ${ADDR.lip}`, ['tcp.srcport', 'tcp.flags.syn', 'tcp.len', 'tcp.option_kind', 'tcp.options']);
      const byPort = new Map<string, string[][]>();
      for (const r of rows) byPort.set(r[0]!, [...(byPort.get(r[0]!) ?? []), r]);
      for (const [lport, pkts] of byPort) {
        connections++;
        expect(Number(lport)).toBeGreaterThanOrEqual(1025);
        const hasToa = (r: string[]): boolean => r[3]!.split(',').includes('254');
        const [syn, ack, data, ...rest] = pkts;
        expect([syn![1], hasToa(syn!)]).toEqual(['1', false]);
        expect([ack![1], ack![2], hasToa(ack!)]).toEqual(['0', '0', true]);
        expect(Number(data![2])).toBeGreaterThan(0);
        expect(hasToa(data!)).toBe(true);
        expect(rest.filter(hasToa)).toEqual([]);
        // kind 254, length 8, then the client's port and IPv4 address (network order).
        for (const r of [ack!, data!]) {
          const m = /fe08([0-9a-f]{4})([0-9a-f]{8})/.exec(r[4]!.replace(/:/g, ''));
          expect(m).not.toBeNull();
          const conn = clean.connections.find((c) => c.localPort === Number.parseInt(m![1]!, 16));
          expect(conn).toBeDefined();
          expect(m![2]).toBe(hexIp(conn!.localAddress!));
        }
      }
    }
    expect(connections).toBe(8);
  });

  it('lowers the real server\'s MSS by 8 in the SYN-ACK to the client (tshark)', () => {
    const atRs = ['rs1', 'rs2'].flatMap((rs) => tsharkFields(clean.captures[rs]!, 'tcp.flags.syn == 1 && tcp.flags.ack == 1', ['tcp.options.mss_val']).map((r) => Number(r[0])));
    const atClient = tsharkFields(clean.captures.client!, 'tcp.flags.syn == 1 && tcp.flags.ack == 1', ['tcp.options.mss_val']).map((r) => Number(r[0]));
    expect(atClient).toHaveLength(8);
    expect(atRs).toHaveLength(8);
    expect(new Set(atClient)).toEqual(new Set(atRs.map((m) => m - 8)));
  });

  it('--profile alibaba on the DPVS captures fails on TOA placement (no TOA on the SYN)', async () => {
    const v = await verifyCaptures(clean.captures, clean.serviceConfig, 'alibaba');
    expect(v.verdict).toBe('fail');
    const errors = new Set(v.findings.filter((f) => f.severity === 'error').map((f) => f.rule));
    expect(errors).toEqual(new Set(['fnat.toa-placement']));
  });

  it('rs2:gateway-bypass (its LIP route via a router): rs2\'s replies never return, verify fails on nat.reply-bypass naming rs2', async () => {
    const r = await runDpvsCase(bins, dpvsCase('fullnat', { faults: ['rs2:gateway-bypass'] }), out(), { verify: true });
    prefixes.push(r.prefix);
    // rr gives the second client address rs2, and persistence keeps it there: exactly its
    // connections fail.
    const bypassed = PERSISTENT_CLIENTS[1];
    expect(r.connections.filter((c) => c.ok).map((c) => [c.localAddress === bypassed, c.body])).toEqual(r.connections.filter((c) => c.localAddress !== bypassed).map(() => [false, 'rs1']));
    expect(r.connections.filter((c) => !c.ok).map((c) => c.localAddress)).toEqual(r.connections.filter((c) => c.localAddress === bypassed).map(() => bypassed));
    // Replies reach the bypass router and die there: the router capture holds them.
    expect(tsharkFields(r.captures.router!, `tcp && ip.dst == ${ADDR.lip}`, ['frame.number']).length).toBeGreaterThan(0);
    const errors = r.verify!.findings.filter((f) => f.severity === 'error');
    expect(new Set(errors.map((f) => f.rule))).toEqual(new Set(['nat.reply-bypass']));
    expect(errors.every((f) => f.message.includes(`real server ${ADDR.rip2}`))).toBe(true);
    expect(r.verify!.verdict).toBe('fail');
  }, 120_000);

  it('rs2:weight0-not-applied (the audited configuration says weight 0, DPVS was never told): DPVS still sends rs2 new connections, verify fails on sched.weight0 naming rs2', async () => {
    const dir = out();
    // Not persistent: one client address, so round robin alone decides every connection.
    const r = await runDpvsCase(bins, dpvsCase('fullnat', { faults: ['rs2:weight0-not-applied'], persistence: 0 }), dir, { verify: true });
    prefixes.push(r.prefix);
    // DPVS ran the old weights: round robin over both servers, every connection answered.
    expect(r.connections.map((c) => [c.ok, c.body])).toEqual([[true, 'rs1'], [true, 'rs2'], [true, 'rs1'], [true, 'rs2']]);
    const list = readFileSync(join(dir, 'ipvsadm-list.txt'), 'utf8');
    const rs2Line = list.split('\n').find((l) => l.includes(`${ADDR.rip2}:8080`));
    expect({ list, weight: rs2Line?.trim().split(/\s+/).slice(2, 4) }).toEqual({ list, weight: ['FullNat', '1'] });
    // The text verify read: rs2 at weight 0.
    expect(r.serviceConfig).toContain(`-r ${ADDR.rip2}:8080 -b -w 0`);
    const errors = r.verify!.findings.filter((f) => f.severity === 'error');
    expect(new Set(errors.map((f) => f.rule))).toEqual(new Set(['sched.weight0']));
    expect(errors.every((f) => f.message.includes(ADDR.rip2))).toBe(true);
    expect(labExitCode([r])).toBe(1);
  }, 120_000);

  it.skipIf(!need(hasCommand('tcpreplay'), 'tcpreplay is needed'))(
    'lip-exhausted (64 511 half-open connections hold every port of the LIP toward one server): DPVS drops the SYNs after, verify fails on flow.not-forwarded saying the LIP was exhausted',
    async () => {
      const dir = out();
      const r = await runDpvsCase(bins, dpvsCase('fullnat', { faults: ['lip-exhausted'], connections: 2 }), dir, { verify: true });
      prefixes.push(r.prefix);
      // DPVS's own counters (dpip -s addr show of the LIP): the pool filled without a miss, then
      // one miss per SYN sent after (65 533 flooded ports − 64 511), then the client's SYNs.
      const stats = readFileSync(join(dir, 'dpip-addr-stats.txt'), 'utf8').split(/^# /m).slice(1);
      const counters = stats.map((x) => saCounters(x, ADDR.lip));
      expect(counters[0]).toEqual({ used: 64511, miss: 0 });
      expect(counters[1]).toEqual({ used: 64511, miss: 65533 - 64511 });
      expect(counters[2]!.miss).toBeGreaterThanOrEqual(65533 - 64511 + 2);
      expect(r.connections.map((c) => c.ok)).toEqual([false, false]);
      const v = r.verify!;
      expect(new Set(v.findings.filter((f) => f.severity === 'error').map((f) => f.rule))).toEqual(new Set(['flow.not-forwarded']));
      const nf = v.findings.filter((f) => f.rule === 'flow.not-forwarded');
      expect(nf.every((f) => f.hint.includes(`${ADDR.lip} toward `) && f.hint.includes('(64511 held)'))).toBe(true);
      // One connection per SYN DPVS had no port for, and the client's two.
      const status = reportedRules(v).find((x) => x.rule === 'flow.not-forwarded')!;
      expect(status.failed).toBeGreaterThanOrEqual(65533 - 64511 + 2);
      expect(labExitCode([r])).toBe(1);
    },
    240_000,
  );

  it('UDP (--udp, uoa_mode ipo): every datagram answered, the client\'s address and port in IP option 31 on the first uoa_max_trail datagrams of each flow only (tshark, raw bytes)', async () => {
    const r = await runDpvsCase(bins, dpvsCase('fullnat', { udp: true }), out(), { verify: true });
    prefixes.push(r.prefix);
    expect(r.case.id).toBe('fullnat-udp-rr');
    expect(r.connections.map((c) => [c.ok, c.answered])).toEqual(r.connections.map(() => [true, UDP_DATAGRAMS]));
    expect(r.connections.map((c) => c.body)).toEqual(['rs1', 'rs2', 'rs1', 'rs2']);
    const plan: UdpPlan = { vip: ADDR.natVip, vport: ADDR.udpPort, lip: ADDR.lip, rport: ADDR.udpRport, rips: { rs1: ADDR.rip1, rs2: ADDR.rip2 } };
    const flows = udpFlows(r.captures, plan);
    expect(flows.map((f) => [f.client, f.cport, f.rs]).sort()).toEqual(r.connections.map((c) => [ADDR.client, c.localPort, c.body]).sort());
    for (const f of flows) {
      expect(f.lport).toBeGreaterThanOrEqual(1025);
      expect(f).toEqual(expectedFlow(f, 'ipo', UOA_MAX_TRAIL, UDP_DATAGRAMS, plan));
    }
    // verify: every flow correlated, the UOA rules judge DPVS's options and pass; nothing is
    // refused (a stock kernel ignores the option), so fnat.uoa-rejected has nothing to judge.
    expect(labExitCode([r])).toBe(0);
    expect((r.verify!.traffic ?? []).map((t) => t.connections)).toEqual([r.connections.length]);
    const uoa = reportedRules(r.verify!).filter((t) => t.rule.startsWith('fnat.uoa-'));
    expect(uoa.map((t) => [t.rule, t.status, t.checked > 0]).sort()).toEqual([
      ['fnat.uoa-count', 'pass', true],
      ['fnat.uoa-format', 'pass', true],
      ['fnat.uoa-mismatch', 'pass', true],
      ['fnat.uoa-missing', 'pass', true],
      ['fnat.uoa-rejected', 'not-evaluated', false],
    ]);
  }, 120_000);

  it('UDP with uoa_mode opp: real servers without DPVS\'s uoa module refuse the first datagrams of each flow (ICMP protocol unreachable, tshark), and the run exits 1 with fnat.uoa-rejected', async () => {
    const r = await runDpvsCase(bins, dpvsCase('fullnat', { udp: true }), out(), { verify: true, uoaMode: 'opp' });
    prefixes.push(r.prefix);
    const plan: UdpPlan = { vip: ADDR.natVip, vport: ADDR.udpPort, lip: ADDR.lip, rport: ADDR.udpRport, rips: { rs1: ADDR.rip1, rs2: ADDR.rip2 } };
    const flows = udpFlows(r.captures, plan);
    for (const f of flows) expect(f).toEqual(expectedFlow(f, 'opp', UOA_MAX_TRAIL, UDP_DATAGRAMS, plan));
    // Only the datagrams after the trail are answered.
    expect(r.connections.map((c) => c.answered)).toEqual(r.connections.map(() => UDP_DATAGRAMS - UOA_MAX_TRAIL));
    expect(labExitCode([r])).toBe(1);
    expect(errorRules(r.verify!)).toEqual(['fnat.uoa-rejected']);
    const rejected = reportedRules(r.verify!).find((t) => t.rule === 'fnat.uoa-rejected')!;
    expect(rejected.failed).toBe(flows.reduce((n, f) => n + f.protocolUnreachable, 0));
  }, 120_000);

  it.skipIf(!need(referenceLabReady, referenceLabReason))('lab matrix: DPVS and the reference director reach the same verdict on every FullNAT case DPVS can produce', async () => {
    const cases = MATRIX_CASES.filter((c) => dpvsCaseId(c) !== null);
    expect(cases.map((c) => c.id)).toEqual(expect.arrayContaining(['fullnat-dpvs/none', 'fullnat-dpvs/rs2:gateway-bypass']));
    const root = out();
    const reference = await runMatrix(root, cases);
    const dpvs = await runDpvsMatrix(bins, root, cases);
    console.info(renderMatrix(reference, null, dpvs));
    expect([...dpvs.values()].map((c) => c.error)).toEqual(cases.map(() => null));
    expect(reference.map((o) => [o.case.id, o.ok, dpvsDisagrees(o, dpvs)])).toEqual(cases.map((c) => [c.id, true, null]));
  }, 240_000);

  it.skipIf(!need(referenceLabReady, referenceLabReason))(
    'the reference director (profile dpvs) does what DPVS does to every header field, field by field (tshark); local ports differ as documented',
    async () => {
      const ref = await runReferenceLab({ mode: 'fullnat', profile: 'dpvs', outDir: out(), connections: 8 });
      prefixes.push(ref.prefix);
      const a = behaviour(ref.captures);
      const b = behaviour(clean.captures);
      // The facts the comparison rests on are there (not an empty equality).
      expect(b['up: TOA on packet #']).toEqual(['1', '2']);
      expect(b['down: SYN-ACK MSS rs − client']).toEqual(['8']);
      expect(b['connections']).toEqual(['[8,8]']);
      expect(a).toEqual(b);
      // DPVS's sa_pool keeps one port space per (LIP, real server) from 1025: each real server's
      // connections get 1025, 1026, …; the reference director counts from 5000 over all of them.
      const d = localPorts(clean.captures);
      const r = localPorts(ref.captures);
      const perRs = (rs: string): number[] => clean.connections.filter((c) => c.body === rs).map((_, i) => 1025 + i);
      expect([...d].sort((x, y) => x - y)).toEqual([...perRs('rs1'), ...perRs('rs2')].sort((x, y) => x - y));
      expect([Math.min(...r) >= 5000, new Set(r).size]).toEqual([true, 8]);
    },
    120_000,
  );

  it('runs one DPVS lab at a time: a second one exits 4 saying so', () => {
    const first = DpvsRuntime.acquire(bins);
    try {
      expect(() => DpvsRuntime.acquire(bins)).toThrow(EnvironmentError);
      expect(() => DpvsRuntime.acquire(bins)).toThrow(/another DPVS lab is running/);
    } finally {
      first.release();
    }
    expect(existsSync(dpvsLockFile())).toBe(false);
  });

  it('leaves nothing behind after its runs: namespaces, DPVS processes, hugepages, runtime files, lock', () => {
    expect(prefixes.length).toBeGreaterThan(0);
    expect(labNamespaces().filter((n) => prefixes.some((p) => n.startsWith(p)))).toEqual([]);
    expect(leftovers(bins.dpvs)).toEqual(before);
  });

  it.skipIf(!need(built, 'dist/ not built (npm run build)'))('SIGTERM of `lvsaudit lab run --director dpvs` while DPVS runs leaves nothing behind', async () => {
    const dir = out();
    const child = spawn(process.execPath, [cli, 'lab', 'run', '--director', 'dpvs', '--mode', 'fullnat', '--connections', '40', '--out', dir, '--dpvs-bin', join(bins.dpvs, '..')], { stdio: 'ignore' });
    const exited = new Promise<number | string>((res) => child.on('close', (code, sig) => res(code ?? sig ?? 'unknown')));
    const ours = new Set<string>();
    let sawDpvs = false;
    let sawHugepages = false;
    try {
      const deadline = Date.now() + 60_000;
      // Wait until DPVS runs and the client is under way (its capture file exists), then stop.
      while (!(sawDpvs && existsSync(join(dir, 'client.pcap')))) {
        for (const n of childLab(child.pid)) ours.add(n);
        sawDpvs ||= dpvsProcesses(bins.dpvs).length > 0;
        sawHugepages ||= nrHugepages() > before.hugepages;
        if (Date.now() > deadline) throw new Error('DPVS lab did not come up');
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGTERM');
      const code = await exited;
      expect(code === 'SIGTERM' || code === 143).toBe(true);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(sawDpvs).toBe(true);
    expect([...ours].some((n) => n.endsWith('-director'))).toBe(true);
    // DPVS reserves hugepages only when too few are free.
    if (freeBefore < DPVS_HUGEPAGES) expect(sawHugepages).toBe(true);
    expect(labNamespaces().filter((n) => ours.has(n))).toEqual([]);
    let left = leftovers(bins.dpvs);
    for (let i = 0; i < 50 && JSON.stringify(left) !== JSON.stringify(before); i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = leftovers(bins.dpvs);
    }
    expect(left).toEqual(before);
  }, 120_000);

  it.skipIf(!need(built, 'dist/ not built (npm run build)'))('after SIGKILL of `lvsaudit lab run --director dpvs`, `lab down --prefix` gives back DPVS, hugepages, runtime files and lock', async () => {
    const dir = out();
    const child = spawn(process.execPath, [cli, 'lab', 'run', '--director', 'dpvs', '--mode', 'fullnat', '--connections', '40', '--out', dir, '--dpvs-bin', join(bins.dpvs, '..')], { stdio: 'ignore' });
    const exited = new Promise<number | string>((res) => child.on('close', (code, sig) => res(code ?? sig ?? 'unknown')));
    let director: string | undefined;
    try {
      const deadline = Date.now() + 60_000;
      while (!(dpvsProcesses(bins.dpvs).length > 0 && existsSync(join(dir, 'client.pcap')))) {
        if (Date.now() > deadline) throw new Error('DPVS lab did not come up');
        await new Promise((r) => setTimeout(r, 100));
      }
      director = childLab(child.pid).find((n) => n.endsWith('-director'));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(director).toBeDefined();
    // Nothing could clean up: DPVS still runs and holds what it had.
    expect(dpvsProcesses(bins.dpvs).length).toBeGreaterThan(0);
    expect(existsSync(dpvsLockFile())).toBe(true);
    const prefix = director!.slice(0, -'director'.length);
    const down = spawnSync(process.execPath, [cli, 'lab', 'down', '--prefix', prefix], { encoding: 'utf8', timeout: 60_000 });
    expect(down.status).toBe(0);
    expect(down.stdout).toMatch(/^dpvs: killed DPVS \d+; removed .*lvsaudit-dpvs-.*; removed lock of pid \d+$/m);
    expect(labNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
    expect(leftovers(bins.dpvs)).toEqual(before);
  }, 120_000);
});

// In this file, not beside the build tests: its lab takes the DPVS lab lock and hugepages.
describe('a DPVS that does not start', () => {
  it.skipIf(!need(labReason === null && built, labReason ?? 'dist/ not built (npm run build)'))('exits 4 saying so, and gives back the hugepages, the lock and the namespaces', async () => {
    // A "build" whose dpvs dies at once, as one built against another DPDK would.
    const scratch = mkdtempSync(join(tmpdir(), 'lvsa-dpvs-broken-'));
    const dir = join(scratch, 'broken-bin');
    write(join(dir, 'dpvs'), '#!/bin/sh\necho "EAL: FATAL: unsupported" >&2\nexit 1\n', 0o755);
    for (const t of ['ipvsadm', 'dpip']) write(join(dir, t), '#!/bin/sh\nexit 1\n', 0o755);
    try {
      const hugepages = nrHugepages();
      const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'lvsaudit.js'), 'lab', 'run', '--director', 'dpvs', '--mode', 'fullnat', '--dpvs-bin', dir, '--out', mkdtempSync(join(scratch, 'out-'))], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/^lvsaudit: DPVS did not start \(bin .*broken-bin\).*EAL: FATAL: unsupported/);
      expect(nrHugepages()).toBe(hugepages);
      expect(existsSync(dpvsLockFile())).toBe(false);
      expect(childLab(r.pid)).toEqual([]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 90_000);
});

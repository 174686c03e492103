/**
 * `lvsaudit arp --watch --file` over the committed ARP fixtures: the replay drives the same
 * engine as a live interface, deterministically. What a user relies on: the conflict event names
 * the real server, a VRRP failover is a changed MAC and nothing worse, a restart with the same
 * --state remembers its stations, the evidence ring holds every event's frames, bad state is a
 * one-line error, and the input files are never modified.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCapture } from '../../src/decode/capture/index.js';
import { ADDR, MAC as LAB_MAC } from '../../src/lab/plan.js';
import { runArpCli } from './cli-harness.js';
import { IP, MAC } from './fixture-gen.js';
import { fixture } from './helpers.js';
import { kernelFixtureDir } from './kernel-expect.js';

interface EventLine {
  kind: string;
  severity: string;
  ip: string;
  mac: string;
  previousMac?: string;
  message: string;
  claimants?: Array<{ mac: string; role: string; ips: string[]; claims: number }>;
  frames: Array<{ capture: string; frame: number; note: string }>;
}

const work = mkdtempSync(path.join(tmpdir(), 'lvsa-watch-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const events = (out: string): EventLine[] =>
  out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as EventLine);

const ignore0 = kernelFixtureDir('arp-ignore0');
/** Every capture of the arp-ignore0 lab run, each named by its point (rs:RIP names the host). */
const ignore0Files = [
  `router=${path.join(ignore0, 'router.pcap')}`,
  `director=${path.join(ignore0, 'director.pcap')}`,
  `rs:${ADDR.rip1}=${path.join(ignore0, 'rs1.pcap')}`,
  `rs:${ADDR.rip2}=${path.join(ignore0, 'rs2.pcap')}`,
  `client=${path.join(ignore0, 'client.pcap')}`,
].flatMap((f) => ['--file', f]);

function watch(args: string[]): ReturnType<typeof runArpCli> {
  return runArpCli(['--watch', '--format', 'json', ...args]);
}

describe('arp --watch --file (replay)', () => {
  it('arp-ignore0: a vip-conflict naming rs1 (02:1e:5a:00:04:00, 10.0.0.11) and the director, exit 1', async () => {
    const r = await watch([...ignore0Files, '--config', path.join(ignore0, 'service.conf')]);
    expect(r.code).toBe(1);
    const ev = events(r.out);
    const conflicts = ev.filter((e) => e.kind === 'vip-conflict');
    expect(conflicts).toHaveLength(1);
    const c = conflicts[0]!;
    expect(c.severity).toBe('error');
    expect(c.ip).toBe(ADDR.drVip);
    expect(c.message).toContain(`${LAB_MAC.rs1} (real server ${ADDR.rip1})`);
    expect(c.message).toContain(`two answers to one who-has from ${ADDR.routerLan}`);
    expect(c.claimants!.map((x) => x.mac).sort()).toEqual([LAB_MAC.directorWan, LAB_MAC.rs1].sort());
    const rs1 = c.claimants!.find((x) => x.mac === LAB_MAC.rs1)!;
    expect(rs1.role).toBe('real-server');
    expect(rs1.ips).toEqual([ADDR.rip1]);
    // the who-has and both answers are the evidence
    expect(c.frames.map((f) => f.note)).toEqual(expect.arrayContaining([expect.stringContaining('who-has'), `${LAB_MAC.rs1} answers`, `${LAB_MAC.directorWan} answers`]));
    const nonDirector = ev.filter((e) => e.kind === 'vip-claimed-by-non-director');
    expect(nonDirector.map((e) => e.mac)).toEqual([LAB_MAC.rs1]);
  });

  it('arp-ignore0, the router capture alone: still the conflict between the two answering MACs', async () => {
    const r = await watch(['--file', path.join(ignore0, 'router.pcap'), '--vip', ADDR.drVip]);
    expect(r.code).toBe(1);
    const c = events(r.out).filter((e) => e.kind === 'vip-conflict');
    expect(c).toHaveLength(1);
    expect(c[0]!.claimants!.map((x) => x.mac).sort()).toEqual([LAB_MAC.directorWan, LAB_MAC.rs1].sort());
  });

  it('arp-correct: only the director claims the VIP, no error event, exit 0', async () => {
    const dir = kernelFixtureDir('arp-correct');
    const r = await watch(['--file', path.join(dir, 'router.pcap'), '--config', path.join(dir, 'service.conf')]);
    expect(r.code).toBe(0);
    const ev = events(r.out);
    expect(ev.filter((e) => e.severity !== 'info')).toEqual([]);
    expect(ev.filter((e) => e.kind === 'new-station').map((e) => e.ip).sort()).toEqual([ADDR.routerLan, ADDR.rip1, ADDR.rip2, ADDR.drVip].sort());
  });

  it('vrrp-failover: the move to the backup is one changed-mac (announced), never a conflict', async () => {
    const r = await watch(['--file', fixture('vrrp-failover'), '--vip', IP.vip]);
    expect(r.code).toBe(0);
    const ev = events(r.out);
    const kinds = ev.map((e) => e.kind);
    expect(kinds).not.toContain('vip-conflict');
    expect(kinds).not.toContain('flip-flop');
    const changed = ev.filter((e) => e.kind === 'changed-mac');
    expect(changed).toHaveLength(1);
    expect(changed[0]!.previousMac).toBe(MAC.director);
    expect(changed[0]!.mac).toBe(MAC.backup);
    expect(changed[0]!.message).toContain('announced by gratuitous ARP');
    // keepalived's bursts (5 GARPs, repeated after 5 s) from each director
    expect(ev.filter((e) => e.kind === 'garp-burst').map((e) => e.mac)).toEqual([MAC.director, MAC.director, MAC.backup, MAC.backup]);
  });

  it('vrrp-failover with --director-mac naming only the master: the backup claiming is a non-director', async () => {
    const r = await watch(['--file', fixture('vrrp-failover'), '--vip', IP.vip, '--director-mac', MAC.director]);
    expect(r.code).toBe(1);
    const nd = events(r.out).filter((e) => e.kind === 'vip-claimed-by-non-director');
    expect(nd.map((e) => e.mac)).toEqual([MAC.backup]);
  });

  it('flip-flop.pcap: an IP alternating between two MACs gives changed-mac, then flip-flop', async () => {
    const r = await watch(['--file', fixture('flip-flop')]);
    const ev = events(r.out).filter((e) => e.ip === IP.dup);
    expect(ev.map((e) => e.kind).slice(0, 3)).toEqual(['new-station', 'changed-mac', 'flip-flop']);
  });

  it('sender-mac-mismatch.pcap: an ethernet-mismatch warning on the frame whose sender is not its Ethernet source', async () => {
    const r = await watch(['--file', fixture('sender-mac-mismatch')]);
    expect(r.code).toBe(0);
    const m = events(r.out).filter((e) => e.kind === 'ethernet-mismatch');
    expect(m).toHaveLength(1);
    expect(m[0]!.severity).toBe('warning');
    expect(m[0]!.ip).toBe(IP.gw);
    expect(m[0]!.message).toContain(`ARP sender ${MAC.gw} in a frame from ${MAC.other}`);
    expect(m[0]!.frames.map((f) => f.frame)).toEqual([9]);
  });

  it('vlan.pcap: the same IP on different VLANs is different stations, no flip-flop across VLANs', async () => {
    const r = await watch(['--file', fixture('vlan')]);
    const ev = events(r.out);
    const dup = ev.filter((e) => e.ip === IP.dup);
    expect(dup.map((e) => e.kind)).toEqual(dup.map(() => 'new-station'));
    expect(dup.length).toBeGreaterThanOrEqual(3);
  });

  it('a restart with the same --state remembers the stations: no new-station the second time', async () => {
    const state = path.join(work, 'restart.json');
    const first = await watch([...ignore0Files, '--config', path.join(ignore0, 'service.conf'), '--state', state]);
    const firstNew = events(first.out).filter((e) => e.kind === 'new-station');
    expect(firstNew.length).toBeGreaterThan(0);
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { stations: Array<{ ip: string; mac: string; role: string; packets: number }> };
    expect(saved.stations.map((s) => s.ip).sort()).toEqual(firstNew.map((e) => e.ip).sort());
    expect(saved.stations.find((s) => s.ip === ADDR.rip1)).toBeUndefined(); // rs1 never ARPed from its RIP here
    const second = await watch([...ignore0Files, '--config', path.join(ignore0, 'service.conf'), '--state', state]);
    expect(events(second.out).filter((e) => e.kind === 'new-station')).toEqual([]);
    const again = JSON.parse(readFileSync(state, 'utf8')) as typeof saved;
    expect(again.stations.map((s) => s.ip).sort()).toEqual(saved.stations.map((s) => s.ip).sort());
    // the packet counts carry over
    for (const s of again.stations) expect(s.packets).toBe(2 * saved.stations.find((x) => x.ip === s.ip)!.packets);
  });

  it('--evidence DIR: every frame of every event in a pcapng readable back, with the event in its comment', async () => {
    const dir = path.join(work, 'evidence');
    const r = await watch(['--file', path.join(ignore0, 'router.pcap'), '--vip', ADDR.drVip, '--evidence', dir]);
    const ev = events(r.out);
    const files = readdirSync(dir);
    expect(files).toEqual(['arp-watch-0.pcapng']);
    const comments: string[] = [];
    await readCapture(path.join(dir, files[0]!), (f) => {
      comments.push(f.comment ?? '');
    });
    expect(comments).toHaveLength(ev.reduce((n, e) => n + e.frames.length, 0));
    expect(comments.filter((c) => c.startsWith('vip-conflict'))).toHaveLength(ev.find((e) => e.kind === 'vip-conflict')!.frames.length);
  });

  it('the evidence ring stays within --evidence-size', async () => {
    const dir = path.join(work, 'ring');
    for (let i = 0; i < 40; i++) await watch(['--file', fixture('flip-flop'), '--evidence', dir, '--evidence-size', '1']);
    const total = readdirSync(dir).reduce((n, f) => n + readFileSync(path.join(dir, f)).length, 0);
    expect(total).toBeLessThanOrEqual(1024 * 1024);
    expect(total).toBeGreaterThan(0);
  });

  it('input captures and config are never modified', async () => {
    const inputs = ['router.pcap', 'director.pcap', 'rs1.pcap', 'rs2.pcap', 'client.pcap', 'service.conf'].map((f) => path.join(ignore0, f));
    const hash = (): string[] => inputs.map((f) => createHash('sha256').update(readFileSync(f)).digest('hex'));
    const before = hash();
    await watch([...ignore0Files, '--config', path.join(ignore0, 'service.conf'), '--state', path.join(work, 'x.json'), '--evidence', path.join(work, 'x')]);
    expect(hash()).toEqual(before);
  });

  it('text format: one line per event, time, severity, kind, message and frames', async () => {
    const r = await runArpCli(['--watch', '--file', fixture('vrrp-failover'), '--vip', IP.vip]);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[3]).toMatch(
      new RegExp(`^2026-\\S+Z info changed-mac: changed MAC ${IP.vip}: ${MAC.director} → ${MAC.backup}, announced by gratuitous ARP  \\[\\S*vrrp-failover.pcap#17\\]$`),
    );
  });
});

describe('arp --watch: bad input is a one-line error, exit 2', () => {
  it('a state file that is not JSON names the file', async () => {
    const bad = path.join(work, 'bad.json');
    writeFileSync(bad, '{"format": "lvsaudit-arp-watch-state", ');
    const r = await watch(['--file', fixture('clean'), '--state', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^lvsaudit: ${bad.replace(/[.]/g, '\\.')}: line 1: not JSON`));
    expect(readFileSync(bad, 'utf8')).toBe('{"format": "lvsaudit-arp-watch-state", '); // not overwritten
  });

  it('a station with a bad MAC names the station', async () => {
    const bad = path.join(work, 'bad-station.json');
    const doc = { format: 'lvsaudit-arp-watch-state', version: 1, savedAt: '2026-01-01T00:00:00.000Z', dropped: 0, stations: [{ vlan: '', ip: '10.0.0.1', mac: 'zz', previousMac: null, firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-01-01T00:00:00.000Z', packets: 1, macChanges: 0, role: 'other' }] };
    writeFileSync(bad, JSON.stringify(doc));
    const r = await watch(['--file', fixture('clean'), '--state', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}: station 1: mac "zz" is not a MAC`);
  });

  it('a state file that cannot be written is found before watching, not at the end', async () => {
    const r = await watch(['--file', fixture('clean'), '--state', path.join(work, 'no-such-dir', 'state.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^lvsaudit: .*no-such-dir\/state\.json: cannot write the state file/);
    expect(r.out).toBe('');
  });

  it('a file that is not a capture', async () => {
    const r = await watch(['--file', path.join(ignore0, 'service.conf')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^lvsaudit: .*service\.conf.*not a pcap or pcapng file/);
  });

  it('an interface that does not exist: exit 4 with the reason', async () => {
    const r = await watch(['--iface', 'lvsa-nosuch0']);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/^lvsaudit: interface lvsa-nosuch0: no such network interface here/);
  });

  it('option mistakes', async () => {
    expect((await watch([])).err).toContain('needs either --iface IF or --file FILE');
    expect((await watch(['--iface', 'lo', '--file', fixture('clean')])).code).toBe(2);
    expect((await watch([fixture('clean')])).err).toContain('not a CAPTURE argument');
    expect((await watch(['--file', fixture('clean'), '--file', fixture('vlan'), '--follow'])).err).toContain('exactly one --file');
    expect((await runArpCli(['--state', 'x.json', fixture('clean')])).err).toContain('--state is for arp --watch');
    expect((await watch(['--file', fixture('clean'), '--max-stations', '0'])).code).toBe(2);
  });
});

describe('arp --watch --file: IPv6 neighbor discovery (real kernels, fixtures/arp/kernel-ipv6)', () => {
  const v6 = (scenario: string): string => path.join(kernelFixtureDir('..'), 'kernel-ipv6', scenario, 'client.pcap');
  const VIP6 = '2001:db8::100';
  const RS1_MAC = '02:1e:5b:00:04:00';
  const DIRECTOR_MAC = '02:1e:5b:00:03:00';

  it('vip-on-eth0: rs1 and the director both advertise the VIP to one solicitation: a vip-conflict naming both, exit 1', async () => {
    const r = await watch(['--file', v6('vip-on-eth0'), '--vip', VIP6]);
    expect(r.code).toBe(1);
    const conflicts = events(r.out).filter((e) => e.kind === 'vip-conflict');
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.ip).toBe(VIP6);
    expect(conflicts[0]!.message).toContain(RS1_MAC);
    expect(conflicts[0]!.message).toContain(DIRECTOR_MAC);
  });

  it('correct: stations learnt from neighbor discovery, no error event, exit 0', async () => {
    const r = await watch(['--file', v6('correct'), '--vip', VIP6]);
    expect(r.code).toBe(0);
    const ev = events(r.out);
    expect(ev.filter((e) => e.severity === 'error')).toEqual([]);
    expect(ev.filter((e) => e.kind === 'new-station').map((e) => [e.ip, e.mac])).toContainEqual([VIP6, DIRECTOR_MAC]);
  });

  it('a state file keeps IPv6 stations across a restart', async () => {
    const state = path.join(work, 'v6-state.json');
    await watch(['--file', v6('correct'), '--vip', VIP6, '--state', state]);
    const again = await watch(['--file', v6('correct'), '--vip', VIP6, '--state', state]);
    expect(events(again.out).filter((e) => e.kind === 'new-station')).toEqual([]);
    expect(JSON.parse(readFileSync(state, 'utf8')).stations.map((s: { ip: string }) => s.ip)).toContain(VIP6);
  });
});

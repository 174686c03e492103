/**
 * Live mode end to end on real interfaces: the replayer (libpcap on one end of a veth pair) →
 * the reference director in live mode (libpcap on two interfaces, NAT) → a real Linux kernel TCP
 * stack in a network namespace serving HTTP on RIP:8080. The kernel is the independent oracle:
 * it only answers if the director rewrote addresses, ports and checksums right, and only gets
 * its replies back to the client if the director answers ARP for the DIP and SNATs the reply.
 *
 * Safety: every link and the namespace carry a unique h10 prefix and are removed in `finally`;
 * the root-namespace ends have no addresses and IPv6 off, and all crafted frames use MACs that
 * are not the interfaces' own, so the host kernel drops them as "other host" and routes nothing.
 * Needs root, iproute2, python3 and the `cap` module; skips with a reason otherwise (fails under CI).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runLive } from '../../src/replay/replay.js';
import { startLiveDirector } from '../../src/replay/director/index.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { capLoads, hasCommand, isRoot, need } from '../helpers/env.js';

const capOk = capLoads();
const ready = isRoot && hasCommand('ip') && hasCommand('python3') && capOk;
const reason = !isRoot ? 'needs root (netns, veth, raw capture)' : !capOk ? "optional module 'cap' does not load" : 'needs ip and python3';

const id = (process.pid % 0xffff).toString(16).padStart(4, '0');
const NS = `h10r${id}`;
const CA = `h10ca${id}`;
const CB = `h10cb${id}`;
const RA = `h10ra${id}`;
const RB = `h10rb${id}`;
let server: ChildProcess | null = null;
let webRoot = '';

function sh(args: string[], allowFail = false): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function cleanup(): void {
  if (server?.pid) {
    try {
      process.kill(server.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  server = null;
  // Anything still running inside our namespace (the web server after an abnormal end).
  for (const pid of sh(['ip', 'netns', 'pids', NS], true).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  sh(['ip', 'link', 'del', CA], true);
  sh(['ip', 'link', 'del', RA], true);
  sh(['ip', 'netns', 'del', NS], true);
  if (webRoot) rmSync(webRoot, { recursive: true, force: true });
}

afterAll(cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => (cleanup(), process.exit(130)));

const RATE = 100;

/** Minimal pcap record walk (ns-resolution little-endian files, as PcapWriter writes them). */
function pcapRecords(b: Buffer): { ms: number; data: Buffer }[] {
  const out: { ms: number; data: Buffer }[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const len = b.readUInt32LE(o + 8);
    out.push({ ms: b.readUInt32LE(o) * 1000 + b.readUInt32LE(o + 4) / 1e6, data: b.subarray(o + 16, o + 16 + len) });
    o += 16 + len;
  }
  return out;
}

async function waitListening(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (sh(['ip', 'netns', 'exec', NS, 'ss', '-ltn'], true).includes('10.0.0.11:8080')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('RS web server did not start');
}

const MODES = [
  { name: 'nat', profile: 'linux', conf: '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 1\n' },
  // FullNAT: the RS answers LIP:lport on its own LAN (ARP for the LIP answered by the director), ignores TOA.
  { name: 'fullnat', profile: 'alibaba', conf: '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -b -w 1\n-P -t 192.0.2.10:80 -z 10.0.0.100\n' },
] as const;

describe.each(MODES)('live: replayer → reference director ($name/$profile) → Linux RS in a netns', (mode) => {
  it.skipIf(!need(ready, reason))('scenarios pass through real interfaces and a real TCP stack', async () => {
    try {
      sh(['ip', 'netns', 'add', NS]);
      sh(['ip', 'link', 'add', CA, 'type', 'veth', 'peer', 'name', CB]);
      sh(['ip', 'link', 'add', RA, 'type', 'veth', 'peer', 'name', RB]);
      sh(['ip', 'link', 'set', RB, 'netns', NS]);
      for (const l of [CA, CB, RA]) {
        sh(['sysctl', '-qw', `net.ipv6.conf.${l}.disable_ipv6=1`], true);
        sh(['ip', 'link', 'set', l, 'up']);
      }
      sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
      sh(['ip', 'netns', 'exec', NS, 'ip', 'addr', 'add', '10.0.0.11/24', 'dev', RB]);
      sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', RB, 'up']);
      sh(['ip', 'netns', 'exec', NS, 'ip', 'route', 'add', 'default', 'via', '10.0.0.1']);
      const rsMac = sh(['ip', 'netns', 'exec', NS, 'cat', `/sys/class/net/${RB}/address`]).trim();
      webRoot = mkdtempSync(path.join(tmpdir(), 'h10-web-'));
      writeFileSync(path.join(webRoot, 'index.html'), 'served-by kernel-rs\n');
      server = spawn('ip', ['netns', 'exec', NS, 'python3', '-m', 'http.server', '8080', '--bind', '10.0.0.11'], { cwd: webRoot, stdio: 'ignore' });
      await waitListening();

      const live = await startLiveDirector({
        clientIface: CB,
        rsIface: RA,
        config: {
          services: parseServiceConfig(mode.conf, 'live.conf'),
          profile: mode.profile,
          macs: { director: '02:00:00:00:0d:01', directorRs: '02:00:00:00:0d:02', realServers: { '10.0.0.11': rsMac } },
          directorIps: { dip: '10.0.0.1' },
          seed: 1,
        },
      });
      const capFile = path.join(webRoot, 'client.pcap');
      try {
        const results = await runLive({
          iface: CA,
          vip: '192.0.2.10',
          vport: 80,
          scenarios: ['arp-probe', 'handshake', 'syn-only', 'rst-midstream', 'unknown-ack', 'many-clients'],
          method: mode.name,
          profile: mode.profile,
          mtu: 1500,
          seed: 5,
          rate: RATE,
          clientIps: ['198.51.100.7', '198.51.100.20', '198.51.100.21'],
          clients: 3,
          clientMac: '02:00:00:00:00:07',
          timeoutMs: 4000,
          capture: capFile,
        });
        const bad = results.filter((r) => !r.verdict.ok).map((r) => `${r.name}: expected ${r.verdict.expected}; observed ${r.verdict.observed}`);
        expect(bad).toEqual([]);
        const hs = results.find((r) => r.name === 'handshake')!;
        expect(hs.verdict.observed).toMatch(/response/);
        // FullNAT: the client sees the kernel RS's MSS 1460 minus the 8-byte TOA (§2.4).
        expect(hs.verdict.observed).toContain(mode.name === 'fullnat' ? 'mss 1452' : 'mss 1460');
        // The kernel really answered: the director forwarded frames both ways.
        expect(live.stats().out).toBeGreaterThan(10);
        expect(readFileSync(capFile).length).toBeGreaterThan(24 + 10 * 16);
        // --rate: frames we sent (client MAC source) are at least 1000/RATE ms apart.
        const sentTimes = pcapRecords(readFileSync(capFile))
          .filter((r) => r.data.subarray(6, 12).equals(Buffer.from([2, 0, 0, 0, 0, 7])))
          .map((r) => r.ms);
        expect(sentTimes.length).toBeGreaterThan(10);
        const gaps = sentTimes.slice(1).map((t, i) => t - sentTimes[i]!);
        expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000 / RATE - 2);
      } finally {
        live.close();
      }
    } finally {
      cleanup();
    }
  });
});

// A Linux host that owns the VIP itself (no director): its kernel must ARP for the crafted client
// address before it can answer, so the handshake only completes if the replayer answers ARP for
// the addresses it owns (and the kernel's RST for a stray ACK is the mainline answer §1.7 infers).
const HNS = `h10k${id}`;
const HA = `h10ka${id}`;
const HB = `h10kb${id}`;
let hostServer: ChildProcess | null = null;
function cleanupHost(): void {
  for (const pid of sh(['ip', 'netns', 'pids', HNS], true).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  hostServer = null;
  sh(['ip', 'link', 'del', HA], true);
  sh(['ip', 'netns', 'del', HNS], true);
}
afterAll(cleanupHost);

describe('live: replayer against a Linux host owning the VIP (ARP for owned client addresses)', () => {
  it.skipIf(!need(ready, reason))('the kernel ARPs for the crafted client address, the replayer answers, the handshake completes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'h10-host-'));
    try {
      sh(['ip', 'netns', 'add', HNS]);
      sh(['ip', 'link', 'add', HA, 'type', 'veth', 'peer', 'name', HB]);
      sh(['ip', 'link', 'set', HB, 'netns', HNS]);
      sh(['sysctl', '-qw', `net.ipv6.conf.${HA}.disable_ipv6=1`], true);
      sh(['ip', 'link', 'set', HA, 'up']);
      sh(['ip', 'netns', 'exec', HNS, 'ip', 'link', 'set', 'lo', 'up']);
      sh(['ip', 'netns', 'exec', HNS, 'ip', 'addr', 'add', '192.0.2.10/24', 'dev', HB]);
      sh(['ip', 'netns', 'exec', HNS, 'ip', 'link', 'set', HB, 'up']);
      sh(['ip', 'netns', 'exec', HNS, 'ip', 'route', 'add', '198.51.100.0/24', 'dev', HB]);
      writeFileSync(path.join(dir, 'index.html'), 'served-by host\n');
      hostServer = spawn('ip', ['netns', 'exec', HNS, 'python3', '-m', 'http.server', '80', '--bind', '192.0.2.10'], { cwd: dir, stdio: 'ignore' });
      for (let i = 0; i < 300 && !sh(['ip', 'netns', 'exec', HNS, 'ss', '-ltn'], true).includes('192.0.2.10:80'); i++) await new Promise((r) => setTimeout(r, 50));
      const results = await runLive({
        iface: HA,
        vip: '192.0.2.10',
        vport: 80,
        scenarios: ['arp-probe', 'handshake', 'unknown-ack'],
        method: 'nat',
        profile: 'linux',
        mtu: 1500,
        seed: 9,
        rate: 200,
        clientIps: ['198.51.100.7'],
        clients: 1,
        clientMac: '02:00:00:00:00:07',
        timeoutMs: 4000,
      });
      expect(results.filter((r) => !r.verdict.ok).map((r) => `${r.name}: ${r.verdict.observed}`)).toEqual([]);
      // The host learnt our client address at our MAC: proof the replayer answered its ARP.
      expect(sh(['ip', 'netns', 'exec', HNS, 'ip', 'neigh', 'show', '198.51.100.7'])).toContain('02:00:00:00:00:07');
    } finally {
      cleanupHost();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * DPVS fault `lip-exhausted`: every local port of the LIP toward one real server in use.
 *
 * What DPVS v1.10.2 does (src/sa_pool.c, src/ipvs/ip_vs_laddr.c): each LIP has, per worker lcore,
 * `pool_hash_size` (dpvs.conf `sa_pool`, default 16) port pools, a real server's pool chosen by
 * (low 16 bits of its address + its port) mod that size; with one worker and the flow director
 * off every pool holds ports 1025–65535 (64 511), handed out first-free-first and put back at
 * the tail when a connection expires. No setting narrows the range (sa_pool_create is called
 * with 0, 0 = the defaults), so the pool is exhausted only by 64 511 live connections. A SYN
 * for which no port is free in any of the service's LIPs makes dp_vs_laddr_bind fail, the new
 * connection is not created and the SYN is dropped (tcp_conn_sched: INET_DROP) — no log line
 * in a build without CONFIG_DPVS_IPVS_DEBUG, no ICMP, no RST; the pool's `sa_miss` counter
 * (`dpip -s addr show`) counts each one.
 *
 * The cheapest way to hold that many connections here: half-open ones. The client namespace
 * sends raw SYNs (tcpreplay of a pcap built below) from its ports 1–65535, leaving alone the
 * ports the case's own connections use; the scheduler is conhash, which maps one client address
 * to one real server, so all of them go to the same one. The real server answers each (its SYN
 * cookies once its queue is full), DPVS forwards the SYN-ACK and keeps the connection in
 * SYN_RECV (30 s), and the client's RST to a SYN-ACK it has no socket for is dropped by nftables
 * in the client namespace, so nothing releases a port while the case runs. The flood is paced
 * (af_packet's receive ring is small): a SYN DPVS never read would look like one it dropped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError, InputError } from '../../errors.js';
import type { Lab, Namespace } from '../topology.js';
import type { LabFaults } from '../faults.js';
import type { LabCase, LabTopology } from '../sequence.js';
import { ADDR, MAC } from '../plan.js';
import type { DpvsRuntime } from './director.js';

export const LIP_EXHAUSTED = 'lip-exhausted';

/**
 * The scheduler a case with lip-exhausted runs: conhash (one client address, one real server),
 * the only one of DPVS's that sends a single client's 64 k connections to one server. Null
 * without the fault; InputError when another scheduler was asked for.
 */
export function exhaustionScheduler(faults: LabFaults, asked: string | undefined): string | null {
  if (!faults.director.includes(LIP_EXHAUSTED)) return null;
  if (asked !== undefined && asked !== 'conhash') throw new InputError(`--fault ${LIP_EXHAUSTED} runs --scheduler conhash (one client, one real server), not ${asked}`);
  return 'conhash';
}

/** The lip-exhausted fault of one DPVS case: its flood, DPVS's port pool counters, its undoing. */
export interface LipExhaustion {
  beforeClient(clientPorts: { base: number; count: number }): Promise<void>;
  /** Write what DPVS counted (`dpip -s addr show`: sa_used, sa_free, sa_miss per address) into the case directory. */
  finish(dir: string): void;
  revert(): void;
}

/** The fault's driver part for a DPVS case, or null when the case does not have it. */
export function lipExhaustion(t: LabTopology, c: LabCase, rt: DpvsRuntime): LipExhaustion | null {
  if (!c.faults.director.includes(LIP_EXHAUSTED)) return null;
  let revert: () => void = () => undefined;
  let afterFill = '';
  let afterFlood = '';
  // The case's one LIP (plan.ts serviceConfig).
  const lip = ADDR.lip;
  const stats = (): string =>
    [['-s', 'addr', 'show'], ['-s', 'link', 'show']]
      .map((args) => {
        try {
          return rt.control({ tool: 'dpip', args });
        } catch (e) {
          return `(${(e as Error).message})\n`;
        }
      })
      .join('');
  /** Wait until DPVS has taken a port for, or missed, `n` SYNs (or stopped counting); its counters then. */
  const settle = async (n: number): Promise<string> => {
    let last = -1;
    let still = 0;
    let text = stats();
    for (let waited = 0; waited < SETTLE_MS; waited += POLL_MS) {
      const sa = saCounters(text, lip);
      const seen = sa === null ? -1 : sa.used + sa.miss;
      still = seen === last ? still + 1 : 0;
      // Done, or DPVS's counters stopped moving (SYNs lost before DPVS read them: the case then
      // shows fewer drops, which its test reads from the same counters).
      if (seen >= n || still >= STILL_POLLS) break;
      last = seen;
      await new Promise((r) => setTimeout(r, POLL_MS));
      text = stats();
    }
    return text;
  };
  return {
    async beforeClient(keep) {
      const spec = { clientMac: MAC.client, directorMac: MAC.directorWan, client: t.addr.client, vip: t.vip, vport: ADDR.port, keep };
      const ports = floodPorts(keep);
      const size = DPVS_LPORT_HIGH - DPVS_LPORT_LOW + 1;
      t.lab.nft(t.client, suppressRstRules(keep));
      revert = () => {
        if (!t.lab.isDestroyed) t.lab.exec(t.client, ['nft', 'delete', 'table', 'inet', 'lvsa_flood'], { allowFail: true });
      };
      // Two steps, so that every SYN DPVS has no port for reaches it when the captures already
      // show the pool full: DPVS reads its af_packet rings late on a busy host, and a SYN it
      // read late would be seen at the director before the legs that took the last ports.
      await sendSyns(t.lab, t.client, spec, ports.slice(0, size), FLOOD_PPS);
      afterFill = await settle(size);
      await sendSyns(t.lab, t.client, spec, ports.slice(size), OVERFLOW_PPS);
      afterFlood = await settle(ports.length);
    },
    finish(dir) {
      writeFileSync(join(dir, 'dpip-addr-stats.txt'), `# pool filled\n${afterFill}# after the SYN flood\n${afterFlood}# after the client\n${stats()}`);
    },
    revert() {
      revert();
      revert = () => undefined;
    },
  };
}

/** The ports DPVS's sa_pool hands out per LIP and pool, with one worker lcore (sa_pool.c DEF_MIN_PORT, DEF_MAX_PORT). */
export const DPVS_LPORT_LOW = 1025;
export const DPVS_LPORT_HIGH = 65535;

/** SYNs per second while the pool is filled (the rings absorb DPVS's pauses on a busy host). */
export const FLOOD_PPS = 8000;
/** SYNs per second once it is full: each one seen by the captures after DPVS took the last port. */
export const OVERFLOW_PPS = 1000;
/** How long DPVS may take to read a filling flood from its rings. */
const SETTLE_MS = 90_000;
/** How often DPVS's counters are read while it catches up, and after how many unchanged reads
 *  it is taken to have read all it will. */
const POLL_MS = 500;
const STILL_POLLS = 10;

/** What the flood is sent as: the client's addresses toward the VIP. */
export interface FloodSpec {
  clientMac: string;
  directorMac: string;
  client: string;
  vip: string;
  vport: number;
  /** Client ports the case's own connections use (not flooded). */
  keep: { base: number; count: number };
}

/**
 * af_packet ring frames per queue for a lip-exhausted case (DPDK's default is 512): on a busy
 * host DPVS's lcores, sharing CPU 0, may not read for a second or more, and a SYN that
 * overflowed the ring would be a drop before DPVS rather than the one this case shows.
 */
export const FLOOD_RING_FRAMES = 32768;

/** DPVS's argv with the larger af_packet rings where the case floods (argv unchanged otherwise). */
export function withFloodRings(argv: readonly string[], c: LabCase): string[] {
  if (!c.faults.director.includes(LIP_EXHAUSTED)) return [...argv];
  return argv.map((a) => (a.startsWith('net_af_packet') ? `${a},framecnt=${FLOOD_RING_FRAMES}` : a));
}

/** Client source ports of the flood: 1–65535 but the case's own. */
export function floodPorts(keep: FloodSpec['keep']): number[] {
  const out: number[] = [];
  for (let p = 1; p <= 65535; p++) if (p < keep.base || p >= keep.base + keep.count) out.push(p);
  return out;
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => Number.parseInt(h, 16)));
}

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

/** Ones'-complement sum of 16-bit words of buf[from, to) (to - from even). */
function sum16(buf: Buffer, from: number, to: number, acc = 0): number {
  for (let i = from; i < to; i += 2) acc += buf.readUInt16BE(i);
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

/** Ethernet + IPv4 + TCP (MSS 1460) SYN frame length. */
const FRAME = 14 + 20 + 24;

/**
 * A pcap (microsecond, Ethernet) of one SYN per source port, checksums finished. Sequence
 * numbers and IP IDs differ per port so every SYN is its own connection to verify.
 */
export function synFloodPcap(spec: FloodSpec, ports: readonly number[]): Buffer {
  const rec = 16 + FRAME;
  const out = Buffer.alloc(24 + rec * ports.length);
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(1, 20);
  // One template frame; per port only the port, sequence number, IP ID and checksums change.
  const f = Buffer.alloc(FRAME);
  macBytes(spec.directorMac).copy(f, 0);
  macBytes(spec.clientMac).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + 24, 16);
  f.writeUInt16BE(0x4000, 20);
  f[22] = 64;
  f[23] = 6;
  ipv4Bytes(spec.client).copy(f, 26);
  ipv4Bytes(spec.vip).copy(f, 30);
  f.writeUInt16BE(spec.vport, 36);
  f[46] = 6 << 4;
  f[47] = 0x02;
  f.writeUInt16BE(64240, 48);
  f.writeUInt32BE(0x02040000 | 1460, 54);
  for (let i = 0; i < ports.length; i++) {
    const port = ports[i]!;
    f.writeUInt16BE((i * 7 + 1) & 0xffff, 18);
    f.writeUInt16BE(0, 24);
    f.writeUInt16BE(fold(sum16(f, 14, 34)), 24);
    f.writeUInt16BE(port, 34);
    f.writeUInt32BE((Math.imul(port, 2654435761) ^ 0x5a5a0000) >>> 0, 38);
    f.writeUInt16BE(0, 50);
    const pseudo = sum16(f, 26, 34) + 6 + 24;
    f.writeUInt16BE(fold(sum16(f, 34, 58, pseudo)), 50);
    const at = 24 + i * rec;
    out.writeUInt32LE(Math.floor(i / 1000), at);
    out.writeUInt32LE((i % 1000) * 1000, at + 4);
    out.writeUInt32LE(FRAME, at + 8);
    out.writeUInt32LE(FRAME, at + 12);
    f.copy(out, at + 16);
  }
  return out;
}

/** nftables in the client: its kernel's RSTs to the flood's SYN-ACKs never leave (the case's own ports excepted). */
export function suppressRstRules(keep: FloodSpec['keep']): string {
  return `table inet lvsa_flood {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp flags & rst == rst tcp sport != ${keep.base}-${keep.base + keep.count - 1} drop
  }
}
`;
}

/** Replay SYNs for `ports` from the client namespace (its eth0) at `pps`. */
export async function sendSyns(lab: Lab, client: Namespace, spec: FloodSpec, ports: readonly number[], pps: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsaudit-flood-'));
  try {
    const file = join(dir, 'syn-flood.pcap');
    writeFileSync(file, synFloodPcap(spec, ports));
    const p = lab.spawn(client, ['tcpreplay', '--quiet', '--preload-pcap', `--pps=${pps}`, '-i', 'eth0', file]);
    const code = await p.exited();
    if (code !== 0) throw new EnvironmentError(`tcpreplay of the SYN flood failed (${code}): ${p.stderr().trim().split('\n').slice(-2).join(' | ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** sa_used and sa_miss of an address in `dpip -s addr show` (null when the line is not there). */
export function saCounters(text: string, addr: string): { used: number; miss: number } | null {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.includes(`inet ${addr}/`)) continue;
    const m = /sa_used (\d+) sa_free \d+ sa_miss (\d+)/.exec(`${lines[i]} ${lines[i + 1] ?? ''}`);
    return m ? { used: Number(m[1]), miss: Number(m[2]) } : null;
  }
  return null;
}

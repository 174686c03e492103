/**
 * Deterministic generator of the ARP rule fixtures (fixtures/arp/*.pcap): one capture per rule,
 * built with the packet builder and written with PcapWriter. Every ARP frame also keeps its
 * intended fields, which the tshark test compares against what tshark decodes.
 *
 * Regenerate: `npx vite-node test/arp/write-fixtures.ts` (fixtures.test.ts fails when the committed
 * files differ from what this produces).
 *
 * One L2 segment, the addresses of a DR deployment:
 *   client 10.0.0.50, gateway 10.0.0.1, director D 10.0.0.2 (VIP 10.0.0.100), backup director B
 *   10.0.0.3, real servers RS1 10.0.0.11 and RS2 10.0.0.12 (VIP on lo).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { PcapWriter } from '../../src/decode/capture/index.js';

export const MAC = {
  client: '02:00:00:00:00:50',
  gw: '02:00:00:00:00:01',
  director: '02:00:00:00:00:0d',
  backup: '02:00:00:00:00:0e',
  rs1: '02:00:00:00:00:11',
  rs2: '02:00:00:00:00:12',
  other: '02:00:00:00:00:99',
  bcast: 'ff:ff:ff:ff:ff:ff',
  zero: '00:00:00:00:00:00',
} as const;

export const IP = {
  client: '10.0.0.50',
  gw: '10.0.0.1',
  director: '10.0.0.2',
  backup: '10.0.0.3',
  rs1: '10.0.0.11',
  rs2: '10.0.0.12',
  rs3: '10.0.0.13',
  vip: '10.0.0.100',
  dup: '10.0.0.20',
} as const;

/** What an ARP frame is meant to carry (checked against tshark). */
export interface ArpIntent {
  ethSrc: string;
  ethDst: string;
  vlan: number[];
  op: 1 | 2;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export interface FixtureFrame {
  /** Seconds after the fixture's start. */
  t: number;
  bytes: Buffer;
  arp?: ArpIntent;
}

export interface Fixture {
  name: string;
  /** What it shows, for humans. */
  about: string;
  frames: FixtureFrame[];
}

/** 2026-11-26T13:00:00Z: fixed so files are byte-identical between runs. */
const T0 = 1795698000;

class Script {
  readonly frames: FixtureFrame[] = [];
  private ipId = 1000;
  private port = 40000;

  arp(t: number, a: Partial<ArpIntent> & Pick<ArpIntent, 'op' | 'sha' | 'spa' | 'tpa'>): this {
    const intent: ArpIntent = {
      ethSrc: a.ethSrc ?? a.sha,
      ethDst: a.ethDst ?? (a.op === 1 ? MAC.bcast : (a.tha ?? MAC.bcast)),
      vlan: a.vlan ?? [],
      op: a.op,
      sha: a.sha,
      spa: a.spa,
      tha: a.tha ?? MAC.zero,
      tpa: a.tpa,
    };
    let b = PacketBuilder.eth({ src: intent.ethSrc, dst: intent.ethDst });
    for (const id of intent.vlan) b = b.vlan({ id });
    b = b.arp({ op: intent.op, sha: intent.sha, spa: intent.spa, tha: intent.tha, tpa: intent.tpa });
    this.frames.push({ t, bytes: b.build(), arp: intent });
    return this;
  }

  /** who-has `tpa` tell `spa` from `sha`, broadcast. */
  whoHas(t: number, sha: string, spa: string, tpa: string, vlan: number[] = []): this {
    return this.arp(t, { op: 1, sha, spa, tpa, vlan });
  }

  /** `spa` is-at `sha`, unicast to the asker. */
  isAt(t: number, sha: string, spa: string, tha: string, tpa: string, vlan: number[] = []): this {
    return this.arp(t, { op: 2, sha, spa, tha, tpa, vlan });
  }

  /** One TCP segment as seen on the wire. */
  tcp(
    t: number,
    ethSrc: string,
    ethDst: string,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    flags: string,
    vlan: number[] = [],
  ): this {
    let b = PacketBuilder.eth({ src: ethSrc, dst: ethDst });
    for (const id of vlan) b = b.vlan({ id });
    b = b.ipv4({ src, dst, id: this.ipId++, df: true }).tcp({ sport, dport, flags, seq: 1_000_000 + sport });
    this.frames.push({ t, bytes: b.build() });
    return this;
  }

  /** A DR connection: SYN client → director, director → RS (same IP packet, new MACs), SYN-ACK RS → client. */
  drConnection(t: number, director: string, rsMac: string, clientMac: string = MAC.client, vlan: number[] = []): this {
    const sport = this.port++;
    this.tcp(t, clientMac, director, IP.client, IP.vip, sport, 80, 'S', vlan);
    this.ipId--; // the forwarded copy is the same IP packet
    this.tcp(t + 0.0001, director, rsMac, IP.client, IP.vip, sport, 80, 'S', vlan);
    this.tcp(t + 0.0002, rsMac, clientMac, IP.vip, IP.client, 80, sport, 'SA', vlan);
    return this;
  }

  /** A connection that reaches a real server directly (the poisoned path). */
  directConnection(t: number, rsMac: string): this {
    const sport = this.port++;
    this.tcp(t, MAC.client, rsMac, IP.client, IP.vip, sport, 80, 'S');
    this.tcp(t + 0.0002, rsMac, MAC.client, IP.vip, IP.client, 80, sport, 'SA');
    return this;
  }

  /** The start of a healthy DR exchange: client resolves the VIP, RS resolves the client from its RIP. */
  healthyStart(t: number): this {
    return this.whoHas(t, MAC.client, IP.client, IP.vip)
      .isAt(t + 0.001, MAC.director, IP.vip, MAC.client, IP.client)
      .drConnection(t + 0.01, MAC.director, MAC.rs1)
      .whoHas(t + 0.0101, MAC.rs1, IP.rs1, IP.client)
      .isAt(t + 0.0102, MAC.client, IP.client, MAC.rs1, IP.rs1);
  }
}

export function fixtures(): Fixture[] {
  const list: Fixture[] = [];
  const add = (name: string, about: string, s: Script): void => {
    list.push({ name, about, frames: s.frames });
  };

  add(
    'clean',
    'Healthy DR: only the director answers for the VIP; the RS resolves the client with its RIP.',
    new Script().healthyStart(0).drConnection(1, MAC.director, MAC.rs1).drConnection(2, MAC.director, MAC.rs1),
  );

  add(
    'vip-answered-by-rs',
    'RS1 (arp_ignore=0) answers who-has VIP after the director.',
    new Script()
      .whoHas(0, MAC.client, IP.client, IP.vip)
      .isAt(0.001, MAC.director, IP.vip, MAC.client, IP.client)
      .isAt(0.002, MAC.rs1, IP.vip, MAC.client, IP.client)
      .whoHas(0.5, MAC.rs1, IP.rs1, IP.gw)
      .isAt(0.501, MAC.gw, IP.gw, MAC.rs1, IP.rs1)
      .drConnection(1, MAC.director, MAC.rs2),
  );

  add(
    'vip-announced-by-rs',
    'RS1 (arp_announce=0) replies to the client from the VIP and resolves it with sender IP = VIP; ' +
      "the client's next connection goes straight to RS1.",
    new Script()
      .whoHas(0, MAC.client, IP.client, IP.vip)
      .isAt(0.001, MAC.director, IP.vip, MAC.client, IP.client)
      .drConnection(0.01, MAC.director, MAC.rs1)
      .whoHas(0.0101, MAC.rs1, IP.vip, IP.client)
      .isAt(0.0102, MAC.client, IP.client, MAC.rs1, IP.vip)
      .directConnection(1, MAC.rs1)
      .directConnection(2, MAC.rs1),
  );

  add(
    'vip-garp-by-non-director',
    'RS1 sends a kernel-form gratuitous ARP for the VIP (VIP on a real interface, arp_notify).',
    new Script()
      .healthyStart(0)
      .arp(1, { op: 1, sha: MAC.rs1, spa: IP.vip, tha: MAC.zero, tpa: IP.vip })
      .drConnection(2, MAC.director, MAC.rs1),
  );

  {
    // 10.0.0.20 is configured on two hosts: caches follow whoever answered last.
    const s = new Script();
    for (let i = 0; i < 4; i++) {
      const owner = i % 2 === 0 ? MAC.rs2 : MAC.other;
      s.whoHas(i, MAC.gw, IP.gw, IP.dup).isAt(i + 0.001, owner, IP.dup, MAC.gw, IP.gw);
    }
    add('flip-flop', '10.0.0.20 alternates between two MACs (duplicate address).', s);
  }

  {
    // keepalived master D, then failover to B: each new master sends 5 GARPs (request form,
    // tha broadcast) and repeats them after garp_master_delay (5 s).
    const s = new Script();
    const burst = (t: number, mac: string): void => {
      for (let i = 0; i < 5; i++) s.arp(t + i * 0.001, { op: 1, sha: mac, spa: IP.vip, tha: MAC.bcast, tpa: IP.vip });
    };
    burst(0, MAC.director);
    s.drConnection(1, MAC.director, MAC.rs1);
    burst(5, MAC.director);
    s.drConnection(6, MAC.director, MAC.rs2);
    burst(20, MAC.backup);
    s.drConnection(21, MAC.backup, MAC.rs1);
    burst(25, MAC.backup);
    s.drConnection(26, MAC.backup, MAC.rs2);
    add('vrrp-failover', 'VRRP failover D → B, each announced by keepalived GARP bursts: info only.', s);
  }

  add(
    'garp-forms',
    'The director announces the VIP in the three GARP forms: keepalived, kernel, arping -A.',
    new Script()
      .arp(0, { op: 1, sha: MAC.director, spa: IP.vip, tha: MAC.bcast, tpa: IP.vip })
      .arp(0.001, { op: 1, sha: MAC.director, spa: IP.vip, tha: MAC.bcast, tpa: IP.vip })
      .arp(10, { op: 1, sha: MAC.director, spa: IP.vip, tha: MAC.zero, tpa: IP.vip })
      .arp(20, { op: 2, sha: MAC.director, spa: IP.vip, tha: MAC.director, tpa: IP.vip, ethDst: MAC.bcast })
      .drConnection(21, MAC.director, MAC.rs1),
  );

  add(
    'unsolicited-reply',
    'A host pushes "10.0.0.1 is-at 02:00:00:00:00:99" to the client without being asked (ARP spoofing).',
    new Script().healthyStart(0).isAt(5, MAC.other, IP.gw, MAC.client, IP.client).drConnection(6, MAC.director, MAC.rs1),
  );

  add(
    'sender-mac-mismatch',
    'An ARP reply whose sender MAC differs from its Ethernet source.',
    new Script()
      .healthyStart(0)
      .whoHas(1, MAC.client, IP.client, IP.gw)
      .arp(1.001, { op: 2, ethSrc: MAC.other, sha: MAC.gw, spa: IP.gw, tha: MAC.client, tpa: IP.client })
      .drConnection(2, MAC.director, MAC.rs1),
  );

  {
    // The director looks for a real server that is not there (Linux: 3 tries, 1 s apart).
    const s = new Script().healthyStart(0);
    for (let i = 0; i < 3; i++) s.whoHas(1 + i, MAC.director, IP.director, IP.rs3);
    s.drConnection(5, MAC.director, MAC.rs1).drConnection(6, MAC.director, MAC.rs1);
    add('unanswered', 'who-has 10.0.0.13 (a configured real server) from the director, never answered.', s);
  }

  {
    // VLAN 100 carries the service; VLAN 200 reuses 10.0.0.20 for an unrelated host, which is
    // not a MAC change because it is another broadcast domain. One QinQ frame (100.20) too.
    const v = [100];
    const s = new Script()
      .whoHas(0, MAC.client, IP.client, IP.vip, v)
      .isAt(0.001, MAC.director, IP.vip, MAC.client, IP.client, v)
      .isAt(0.002, MAC.rs1, IP.vip, MAC.client, IP.client, v)
      .drConnection(0.01, MAC.director, MAC.rs2, MAC.client, v)
      .whoHas(1, MAC.gw, IP.gw, IP.dup, v)
      .isAt(1.001, MAC.rs2, IP.dup, MAC.gw, IP.gw, v)
      .whoHas(2, MAC.gw, IP.gw, IP.dup, [200])
      .isAt(2.001, MAC.other, IP.dup, MAC.gw, IP.gw, [200])
      .whoHas(3, MAC.gw, IP.gw, IP.dup, [100, 20])
      .isAt(3.001, MAC.backup, IP.dup, MAC.gw, IP.gw, [100, 20]);
    add('vlan', 'VLAN-tagged capture: RS1 answers for the VIP on VLAN 100; 10.0.0.20 lives on three VLAN stacks.', s);
  }

  return list;
}

/** The pcap bytes of one fixture (frames in time order, nanosecond timestamps). */
export function fixtureBytes(f: Fixture): Buffer {
  const w = new PcapWriter();
  for (const fr of [...f.frames].sort((a, b) => a.t - b.t)) {
    const ns = Math.round(fr.t * 1e9);
    w.write(fr.bytes, T0 + Math.floor(ns / 1e9), ns % 1e9);
  }
  return w.toBuffer();
}

/** Frames in file order (what frame numbers refer to). */
export function orderedFrames(f: Fixture): FixtureFrame[] {
  return [...f.frames].sort((a, b) => a.t - b.t);
}

export const fixtureDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'arp');

export function writeFixtures(dir: string = fixtureDir): string[] {
  const written: string[] = [];
  for (const f of fixtures()) {
    const file = path.join(dir, `${f.name}.pcap`);
    writeFileSync(file, fixtureBytes(f));
    written.push(file);
  }
  return written;
}

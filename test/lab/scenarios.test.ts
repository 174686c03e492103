/**
 * Every lab scenario runs on the real kernel, writes non-empty captures at every point, shows
 * the key facts of its forwarding method or fault (read back with tshark, not with our decoder),
 * and leaves no namespace, link or process behind.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, need } from '../helpers/env.js';
import { labUnavailableReason } from '../../src/lab/netns.js';
import { ADDR, MAC, SCENARIOS, runScenario, type ScenarioResult } from '../../src/lab/scenarios.js';
import { rportOf } from '../../src/lab/plan.js';
import { alive, hostLinkNames, linkType, netnsNames, pidsIn, tcpdumpCount, tsharkCount, tsharkFields } from './oracle.js';

const labReason = labUnavailableReason();
const canRun =
  need(labReason === null, labReason ?? '') &&
  need(hasCommand('tshark'), 'tshark not installed') &&
  need(hasCommand('nft'), 'nftables (nft) not installed') &&
  need(hasCommand('tcpdump'), 'tcpdump not installed') &&
  need(hasCommand('sysctl'), 'sysctl (procps) not installed');

interface Run {
  result: ScenarioResult;
  prefix: string;
  /** PIDs that lived in the lab's namespaces while traffic ran. */
  pids: number[];
  linksBefore: string[];
}

const workDir = canRun ? mkdtempSync(join(tmpdir(), 'lvsa-lab-test-')) : '';

const pending = new Map<string, Promise<Run>>();

function run(name: string): Promise<Run> {
  let p = pending.get(name);
  if (!p) {
    p = runOnce(name);
    pending.set(name, p);
  }
  return p;
}

async function runOnce(name: string): Promise<Run> {
  const prefix = `lvsa-t${process.pid.toString(36)}-${name.replace(/[^a-z0-9]/g, '').slice(0, 6)}-`;
  const linksBefore = hostLinkNames();
  const pids: number[] = [];
  const result = await runScenario(name, join(workDir, name), {
    lab: { prefix },
    onStage: (stage, lab) => {
      if (stage === 'captures') for (const ns of lab.allNamespaces) pids.push(...pidsIn(ns.name));
    },
  });
  return { result, prefix, pids, linksBefore };
}

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const VIP_NAT = ADDR.natVip;
const VIP_DR = ADDR.drVip;
const isSyn = 'tcp.flags.syn==1 && tcp.flags.ack==0';
const isSynAck = 'tcp.flags.syn==1 && tcp.flags.ack==1';

describe.skipIf(!canRun)('lab scenarios on the real kernel', () => {
  // Independent labs (own prefixes): run them concurrently, most of their time is waiting.
  beforeAll(async () => {
    await Promise.all(SCENARIOS.map((s) => run(s.name)));
  });

  for (const info of SCENARIOS) {
    describe(info.name, () => {
      let r: Run;
      beforeAll(async () => {
        r = await run(info.name);
      });

      it('writes a non-empty, small capture at every point and a service.conf', () => {
        const points = Object.keys(r.result.captures);
        expect(points).toEqual(expect.arrayContaining(['client', 'director', 'rs1', 'rs2']));
        for (const file of Object.values(r.result.captures)) {
          const size = statSync(file).size;
          expect(size).toBeLessThan(200 * 1024);
          expect(tcpdumpCount(file)).toBeGreaterThan(0);
        }
        // rs2 never sees traffic when rs1 has taken over the VIP; every other point does.
        expect(tsharkCount(r.result.captures.client!, 'tcp')).toBeGreaterThan(0);
        expect(statSync(r.result.service).size).toBeGreaterThan(0);
        expect(r.result.serviceConfig).toMatch(new RegExp(`-a -t [0-9.]+:80 -r ${ADDR.rip1.replace(/\./g, '\\.')}:${rportOf(info.mode)} -[mg] -w 1`));
      });

      it('leaves no namespace, link or process behind', () => {
        expect(netnsNames().filter((n) => n.startsWith(r.prefix))).toEqual([]);
        const newLinks = hostLinkNames().filter((l) => !r.linksBefore.includes(l));
        expect(newLinks.filter((l) => l.startsWith('lvsa-') || l.startsWith('veth'))).toEqual([]);
        expect(r.pids.length).toBeGreaterThan(0);
        expect(r.pids.filter(alive)).toEqual([]);
      });
    });
  }

  describe('nat facts', () => {
    it('client sees only the VIP as server; RS sees dst RIP with TTL one less; director file is SLL2', async () => {
      const { result } = await run('nat');
      const c = result.captures;
      expect(result.connections.every((x) => x.ok)).toBe(true);
      expect(result.connections.map((x) => x.body)).toEqual(['rs1', 'rs2', 'rs1', 'rs2']);
      const servers = new Set(tsharkFields(c.client!, 'tcp.srcport==80', ['ip.src']).map((row) => row[0]));
      expect([...servers]).toEqual([VIP_NAT]);
      expect(tsharkCount(c.client!, `ip.src==${ADDR.rip1} || ip.src==${ADDR.rip2}`)).toBe(0);
      const clientSyn = tsharkFields(c.client!, `${isSyn} && tcp.srcport==40000`, ['ip.dst', 'ip.ttl']);
      const rsSyn = tsharkFields(c.rs1!, `${isSyn} && tcp.srcport==40000`, ['ip.dst', 'ip.ttl', 'eth.src']);
      expect(clientSyn[0]?.[0]).toBe(VIP_NAT);
      expect(rsSyn[0]?.[0]).toBe(ADDR.rip1);
      expect(Number(rsSyn[0]?.[1])).toBe(Number(clientSyn[0]?.[1]) - 1);
      expect(rsSyn[0]?.[2]).toBe(MAC.directorLan);
      expect(linkType(c.director!)).toBe('linux-sll2');
      // Both legs in the one -i any file: VIP-addressed and RIP-addressed copies of the SYN.
      expect(tsharkCount(c.director!, `${isSyn} && ip.dst==${VIP_NAT}`)).toBeGreaterThan(0);
      expect(tsharkCount(c.director!, `${isSyn} && ip.dst==${ADDR.rip1}`)).toBeGreaterThan(0);
      // Checksums are final on the wire (offloads off): tshark validates them.
      expect(tsharkCount(c.rs1!, 'tcp.checksum.status==0 || ip.checksum.status==0')).toBe(0);
    });
  });

  describe('dr facts', () => {
    it('RS receives dst VIP at its own MAC from the director MAC and replies from the VIP to the router', async () => {
      const { result } = await run('dr');
      const c = result.captures;
      expect(result.connections.map((x) => x.body)).toEqual(['rs1', 'rs2', 'rs1', 'rs2']);
      const syn = tsharkFields(c.rs1!, `${isSyn} && eth.dst==${MAC.rs1}`, ['ip.dst', 'eth.src', 'ip.ttl']);
      expect(syn.length).toBeGreaterThan(0);
      expect(syn[0]).toEqual([VIP_DR, MAC.directorWan, '63']);
      const reply = tsharkFields(c.rs1!, `${isSynAck} && eth.src==${MAC.rs1}`, ['ip.src', 'eth.dst']);
      expect(reply[0]).toEqual([VIP_DR, MAC.routerLan]);
      // The director never sees RS replies (they go RS -> router).
      expect(tsharkCount(c.director!, `ip.src==${VIP_DR} && tcp.srcport==80`)).toBe(0);
      const servers = new Set(tsharkFields(c.client!, 'tcp.srcport==80', ['ip.src']).map((row) => row[0]));
      expect([...servers]).toEqual([VIP_DR]);
    });
  });

  describe('dr-routed facts', () => {
    it('the director forwards by IP routing: TTL -1, MACs rewritten, IP ID and addresses unchanged', async () => {
      const { result } = await run('dr-routed');
      const c = result.captures;
      expect(result.connections.map((x) => x.body)).toEqual(['rs1', 'rs2', 'rs1', 'rs2']);
      const fields = ['eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'ip.id', 'ip.ttl'];
      const ingress = tsharkFields(c.director!, `${isSyn} && tcp.srcport==40000 && eth.dst==${MAC.directorWan}`, fields);
      const egress = tsharkFields(c.director!, `${isSyn} && tcp.srcport==40000 && eth.src==${MAC.directorWan}`, fields);
      expect(ingress).toHaveLength(1);
      expect(egress).toHaveLength(1);
      const [i, e] = [ingress[0]!, egress[0]!];
      expect(e.slice(0, 2)).toEqual([MAC.directorWan, MAC.rs1]);
      expect(e.slice(2, 5)).toEqual(i.slice(2, 5));
      expect(e[3]).toBe(VIP_DR);
      expect(Number(e[5])).toBe(Number(i[5]) - 1);
      expect(tsharkCount(c.director!, 'icmp')).toBe(0); // no redirects
    });
  });

  describe('arp facts', () => {
    const vipArpFromRs = (op: 1 | 2): string =>
      `arp.opcode==${op} && arp.src.proto_ipv4==${VIP_DR} && (eth.src==${MAC.rs1} || eth.src==${MAC.rs2})`;

    it('correct sysctls: no RS ARP carries the VIP; the director answers who-has VIP; RS resolve with their RIP', async () => {
      const { result } = await run('arp-correct');
      for (const file of Object.values(result.captures)) {
        expect(tsharkCount(file, `(${vipArpFromRs(1)}) || (${vipArpFromRs(2)})`)).toBe(0);
      }
      const router = result.captures.router!;
      expect(tsharkFields(router, `arp.opcode==2 && arp.src.proto_ipv4==${VIP_DR}`, ['eth.src'])).toEqual([[MAC.directorWan]]);
      expect(tsharkCount(router, `arp.opcode==1 && eth.src==${MAC.rs1} && arp.src.proto_ipv4==${ADDR.rip1}`)).toBeGreaterThan(0);
    });

    it('arp_ignore=0: rs1 answers who-has VIP with its own MAC', async () => {
      const { result } = await run('arp-ignore0');
      const rows = tsharkFields(result.captures.router!, vipArpFromRs(2), ['eth.src', 'arp.src.hw_mac']);
      expect(rows).toContainEqual([MAC.rs1, MAC.rs1]);
      expect(tsharkCount(result.captures.router!, `arp.opcode==2 && arp.src.proto_ipv4==${VIP_DR} && eth.src==${MAC.directorWan}`)).toBe(1);
    });

    it('arp_announce=0: rs1 sends who-has ROUTER tell VIP, after which the router sends VIP traffic to rs1 directly', async () => {
      const { result } = await run('arp-announce0');
      const c = result.captures;
      const req = tsharkFields(c.router!, vipArpFromRs(1), ['frame.time_epoch', 'eth.src', 'arp.dst.proto_ipv4']);
      expect(req.length).toBeGreaterThan(0);
      expect(req[0]?.slice(1)).toEqual([MAC.rs1, ADDR.routerLan]);
      const poisonedAt = Number(req[0]?.[0]);
      // SYNs to the VIP that reach rs1 straight from the router, after the poisoning ARP.
      const bypass = tsharkFields(c.rs1!, `${isSyn} && ip.dst==${VIP_DR} && eth.src==${MAC.routerLan}`, ['frame.time_epoch']);
      expect(bypass.length).toBeGreaterThan(0);
      expect(bypass.every((row) => Number(row[0]) > poisonedAt)).toBe(true);
      expect(result.connections.every((x) => x.body === 'rs1')).toBe(true);
    });
  });

  describe('fault facts', () => {
    it('nat-reply-bypass: the client gets SYN-ACKs from RIP1 and rs1 sends them to the bypass gateway MAC', async () => {
      const { result } = await run('nat-reply-bypass');
      const c = result.captures;
      expect(tsharkCount(c.client!, `${isSynAck} && ip.src==${ADDR.rip1}`)).toBeGreaterThan(0);
      const replies = new Set(tsharkFields(c.rs1!, `${isSynAck} && ip.src==${ADDR.rip1}`, ['eth.dst']).map((row) => row[0]));
      expect([...replies]).toEqual([MAC.gwLan]);
      expect(result.connections.map((x) => x.ok)).toEqual([false, true, false, true]);
    });

    it('dr-reply-from-rip: rs1 gets dst VIP but answers from RIP1; the client resets it', async () => {
      const { result } = await run('dr-reply-from-rip');
      const c = result.captures;
      expect(tsharkCount(c.rs1!, `${isSyn} && ip.dst==${VIP_DR} && eth.dst==${MAC.rs1}`)).toBeGreaterThan(0);
      expect(tsharkCount(c.rs1!, `${isSynAck} && ip.src==${ADDR.rip1}`)).toBeGreaterThan(0);
      expect(tsharkCount(c.client!, `${isSynAck} && ip.src==${ADDR.rip1}`)).toBeGreaterThan(0);
      expect(tsharkCount(c.client!, `tcp.flags.reset==1 && ip.dst==${ADDR.rip1}`)).toBeGreaterThan(0);
    });

    it('dr-vip-not-bound: rs1 receives the SYNs for the VIP and sends nothing back (no RST, no ICMP)', async () => {
      const { result } = await run('dr-vip-not-bound');
      const c = result.captures;
      expect(tsharkCount(c.rs1!, `${isSyn} && ip.dst==${VIP_DR}`)).toBeGreaterThan(1);
      expect(tsharkCount(c.rs1!, `eth.src==${MAC.rs1} && (tcp || icmp)`)).toBe(0);
      expect(result.connections.map((x) => x.ok)).toEqual([false, true, false, true]);
    });
  });
});

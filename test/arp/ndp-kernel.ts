/**
 * An IPv6 DR segment of real Linux kernels in network namespaces, for the neighbor discovery
 * side of `lvsaudit arp`: the kernel's own ndisc decides who advertises the VIP.
 *
 *   client 2001:db8::50 ─┐
 *   director 2001:db8::1 ─┤ bridge (its own namespace)   VIP 2001:db8::100 on the director's eth0;
 *   rs1 2001:db8::11 ─────┤                              nftables netdev ingress rewrites the MACs
 *   rs2 2001:db8::12 ─────┘                              and fwds (rs by client port parity)
 *
 * Real servers hold the VIP on lo (healthy) or, with the fault `vip-on-eth0`, rs1 holds it on
 * its service interface: it then answers the client's neighbor solicitations for the VIP beside
 * the director. The client is on the segment (no router), so its capture sees the NDP exchange.
 * Every name starts with `lvsa-n6-` and is removed afterwards, also when a step fails.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { deleteNamespace, labDown, run, spawnInNamespace, type LabProcess } from '../../src/lab/netns.js';

export const NDP_PREFIX = 'lvsa-n6-';
export const V6 = { client: '2001:db8::50', director: '2001:db8::1', rs1: '2001:db8::11', rs2: '2001:db8::12', vip: '2001:db8::100' } as const;
export const V6_MAC = {
  client: '02:1e:5b:00:01:00',
  director: '02:1e:5b:00:03:00',
  rs1: '02:1e:5b:00:04:00',
  rs2: '02:1e:5b:00:05:00',
} as const;
export type NdpScenario = 'correct' | 'vip-on-eth0';
export type NdpPoint = 'client' | 'director' | 'rs1' | 'rs2';
export const NDP_POINTS: readonly NdpPoint[] = ['client', 'director', 'rs1', 'rs2'];

const HOSTS = ['client', 'director', 'rs1', 'rs2'] as const;
const ns = (h: string): string => `${NDP_PREFIX}${h}`;
const nsRun = (h: string, argv: readonly string[]): string => run(['ip', 'netns', 'exec', ns(h), ...argv]);

/** A TCP server that answers every connection with one line and closes. */
const SERVER = "require('net').createServer((s)=>{s.on('error',()=>{});s.end('served by '+process.argv[1]+'\\n')}).listen(80,'::',()=>console.log('listening'))";
/** Connections one after another from fixed source ports; prints who served each. */
const CLIENT =
  "const net=require('net');const [vip,n]=[process.argv[1],+process.argv[2]];" +
  "(async()=>{for(let i=1;i<=n;i++){await new Promise((ok)=>{const s=net.connect({host:vip,port:80,localPort:40000+i,family:6});" +
  "let d='';s.setTimeout(3000,()=>{console.log(i+' timeout');s.destroy();ok()});s.on('data',(b)=>d+=b);s.on('error',(e)=>{console.log(i+' '+e.code);ok()});" +
  "s.on('close',()=>{if(d)console.log(i+' '+d.trim());ok()})});await new Promise((r)=>setTimeout(r,150))}})()";

function drRules(): string {
  return `table netdev lvsa_dr6 {
  chain ingress {
    type filter hook ingress device "eth0" priority filter; policy accept;
    ip6 daddr ${V6.vip} tcp dport 80 ether saddr set ${V6_MAC.director} ether daddr set tcp sport & 1 map { 0 : ${V6_MAC.rs1}, 1 : ${V6_MAC.rs2} } fwd to "eth0"
  }
}
`;
}

export interface NdpRun {
  captures: Record<NdpPoint, string>;
  /** The client's lines: "<n> served by rs1" per connection. */
  served: string[];
}

/** Builds the segment, runs `connections` client connections, captures at every point. */
export async function runNdpScenario(scenario: NdpScenario, outDir: string, connections = 6): Promise<NdpRun> {
  mkdirSync(outDir, { recursive: true });
  labDown(NDP_PREFIX);
  const procs: LabProcess[] = [];
  try {
    run(['ip', 'netns', 'add', ns('sw')]);
    run(['ip', 'netns', 'exec', ns('sw'), 'ip', 'link', 'add', 'br0', 'type', 'bridge']);
    run(['ip', 'netns', 'exec', ns('sw'), 'ip', 'link', 'set', 'br0', 'up']);
    for (const h of HOSTS) {
      run(['ip', 'netns', 'add', ns(h)]);
      // Kernel defaults would delay every address by duplicate address detection.
      nsRun(h, ['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      run(['ip', 'link', 'add', `n6-${h}`, 'netns', ns(h), 'type', 'veth', 'peer', 'name', `p-${h}`, 'netns', ns('sw')]);
      nsRun(h, ['ip', 'link', 'set', `n6-${h}`, 'name', 'eth0']);
      nsRun(h, ['ip', 'link', 'set', 'eth0', 'address', V6_MAC[h]]);
      // Offloads off: the captures show what went on the wire (NDP is not what they would change).
      nsRun(h, ['sh', '-c', 'ethtool -K eth0 tx off rx off gso off tso off gro off >/dev/null 2>&1 || true']);
      run(['ip', 'netns', 'exec', ns('sw'), 'ip', 'link', 'set', `p-${h}`, 'master', 'br0']);
      run(['ip', 'netns', 'exec', ns('sw'), 'ip', 'link', 'set', `p-${h}`, 'up']);
      nsRun(h, ['ip', 'link', 'set', 'lo', 'up']);
      nsRun(h, ['ip', 'link', 'set', 'eth0', 'up']);
      nsRun(h, ['ip', '-6', 'addr', 'add', `${V6[h]}/64`, 'dev', 'eth0', 'nodad']);
    }
    nsRun('director', ['ip', '-6', 'addr', 'add', `${V6.vip}/64`, 'dev', 'eth0', 'nodad']);
    for (const rs of ['rs1', 'rs2'] as const) {
      const onEth0 = scenario === 'vip-on-eth0' && rs === 'rs1';
      nsRun(rs, ['ip', '-6', 'addr', 'add', `${V6.vip}/128`, 'dev', onEth0 ? 'eth0' : 'lo', 'nodad']);
    }
    run(['ip', 'netns', 'exec', ns('director'), 'nft', '-f', '-'], { input: drRules() });
    for (const rs of ['rs1', 'rs2'] as const) {
      const p = spawnInNamespace(ns(rs), [process.execPath, '-e', SERVER, rs]);
      procs.push(p);
      await p.waitForOutput(/listening/, 10_000);
    }
    const captures = {} as Record<NdpPoint, string>;
    const dumps: LabProcess[] = [];
    for (const h of NDP_POINTS) {
      captures[h] = path.join(outDir, `${h}.pcap`);
      const d = spawnInNamespace(ns(h), ['tcpdump', '-i', 'eth0', '-U', '-n', '-s', '0', '-w', captures[h]]);
      dumps.push(d);
      procs.push(d);
      await d.waitForOutput(/listening on/, 10_000);
    }
    const client = spawnInNamespace(ns('client'), [process.execPath, '-e', CLIENT, V6.vip, String(connections)]);
    procs.push(client);
    await client.exited();
    // Let the last FINs and any late advertisement reach every capture.
    await new Promise((r) => setTimeout(r, 500));
    for (const d of dumps) await d.stop('SIGINT', 3000);
    return { captures, served: client.stdout().trim().split('\n').filter(Boolean) };
  } finally {
    for (const p of procs) await p.stop('SIGTERM', 1000).catch(() => undefined);
    for (const h of [...HOSTS, 'sw']) deleteNamespace(ns(h));
  }
}

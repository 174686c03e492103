/**
 * What DPVS is told in the lab, derived from the one service model the verifier reads: the
 * service text of a case is parsed by the verifier's own parser (verify/service) and every
 * `ipvsadm`/`dpip` command below is written from that parse, so DPVS and verify cannot be
 * configured with two different services. Pure functions: tested without root or DPVS.
 *
 * DPVS names its DPDK ports by probe order: the first `--vdev` is dpdk0. The lab gives it the
 * director's client-LAN veth first (dpdk0 = eth0, the VIP's side) and the real-server LAN veth
 * second (dpdk1 = eth1: the DIP the real servers route the LIP network through, and the LIPs).
 */
import { ADDR, SUBNET, addressPlan, hostPort, subnetsOf, type LabFamily } from '../plan.js';
import { parseServiceConfig, type Service } from '../../verify/service/index.js';
import { InputError } from '../../errors.js';

/** DPDK port facing the client LAN / the real-server LAN. */
export const CLIENT_PORT = 'dpdk0';
export const RS_PORT = 'dpdk1';

/** Schedulers DPVS v1.10 implements (src/ipvs/ip_vs_*.c), which verify also knows. */
export const DPVS_SCHEDULERS: readonly string[] = ['rr', 'wrr', 'wlc', 'conhash'];

/** EAL lcores: master and one worker, both on CPU 0 (DPDK busy-polls; the other core stays free). */
export const DPVS_LCORES = '0@0,1@0';

/** 2 MiB hugepages a lab's DPVS needs with the pools of dpvsConf (measured: 274 in use). */
export const DPVS_HUGEPAGES = 300;

/** One DPVS control command: the program (dpip or ipvsadm) and its arguments. */
export interface DpvsCommand {
  tool: 'dpip' | 'ipvsadm';
  args: string[];
}

/**
 * The lab's addresses for DPVS: VIP on the client port, the DIP (the real servers' next hop to
 * the LIP network) on the real-server port, one connected route per LAN.
 */
function addressCommands(vips: readonly string[]): DpvsCommand[] {
  return [
    ...vips.map((vip): DpvsCommand => ({ tool: 'dpip', args: ['addr', 'add', `${vip}/32`, 'dev', CLIENT_PORT] })),
    { tool: 'dpip', args: ['addr', 'add', `${ADDR.dip}/32`, 'dev', RS_PORT] },
    { tool: 'dpip', args: ['route', 'add', SUBNET.clientLan, 'dev', CLIENT_PORT] },
    { tool: 'dpip', args: ['route', 'add', SUBNET.rsLan, 'dev', RS_PORT] },
  ];
}

/**
 * The same for a service with an IPv6 side: each port's address, connected route and the VIPs in
 * the family of the side they sit on (the client LAN in the VIPs' family, the real-server LAN in
 * the RIPs' family: NAT64 is an IPv6 client side over an IPv4 real-server side).
 */
function addressCommandsByFamily(vips: readonly string[], rsFamily: LabFamily): DpvsCommand[] {
  const clientFamily: LabFamily = vips.some((v) => v.includes(':')) ? 6 : 4;
  const host = (ip: string): string => `${ip}/${ip.includes(':') ? 128 : 32}`;
  // dpip takes IPv6 routes only with -6 (the tutorial's `dpip route -6 add`).
  const route = (net: string, dev: string): DpvsCommand => ({ tool: 'dpip', args: ['route', ...(net.includes(':') ? ['-6'] : []), 'add', net, 'dev', dev] });
  return [
    ...vips.map((vip): DpvsCommand => ({ tool: 'dpip', args: ['addr', 'add', host(vip), 'dev', CLIENT_PORT] })),
    { tool: 'dpip', args: ['addr', 'add', host(addressPlan(rsFamily).dip), 'dev', RS_PORT] },
    route(subnetsOf(clientFamily).clientLan, CLIENT_PORT),
    route(subnetsOf(rsFamily).rsLan, RS_PORT),
  ];
}

function protoFlag(s: Service): string {
  if (s.protocol === 'tcp') return '-t';
  if (s.protocol === 'udp') return '-u';
  throw new InputError(`${s.source.file}:${s.source.line}: DPVS lab: ${s.protocol} services are not run`);
}

/** ipvsadm commands of one FullNAT service: the virtual service, its real servers, its LIPs. */
function serviceCommands(s: Service): DpvsCommand[] {
  const where = `${s.source.file}:${s.source.line}`;
  if (s.fwmark !== undefined) throw new InputError(`${where}: DPVS lab: fwmark services are not run`);
  if (s.realServers.some((r) => r.ip.includes(':')) && !s.vip.includes(':')) throw new InputError(`${where}: DPVS lab: IPv6 real servers under an IPv4 VIP (DPVS FullNAT does 6→6, 4→4 and NAT64 6→4, not 4→6)`);
  if (!DPVS_SCHEDULERS.includes(s.scheduler)) throw new InputError(`${where}: DPVS lab: scheduler ${s.scheduler} (DPVS: ${DPVS_SCHEDULERS.join(', ')})`);
  if (s.localAddresses.length === 0) throw new InputError(`${where}: DPVS lab: a FullNAT service needs a local address (-z)`);
  const p = protoFlag(s);
  const svc = hostPort(s.vip, s.vport);
  const add = ['-A', p, svc, '-s', s.scheduler];
  if (s.persistenceTimeout !== null) add.push('-p', String(s.persistenceTimeout));
  if (s.persistenceMask !== null) add.push('-M', s.persistenceMask);
  const out: DpvsCommand[] = [{ tool: 'ipvsadm', args: add }];
  for (const rs of s.realServers) {
    if (rs.method !== 'fullnat') throw new InputError(`${where}: DPVS lab: real server ${rs.ip} is ${rs.method}, the lab runs FullNAT (-b)`);
    out.push({ tool: 'ipvsadm', args: ['-a', p, svc, '-r', hostPort(rs.ip, rs.port), '-b', '-w', String(rs.weight)] });
  }
  for (const lip of s.localAddresses) out.push({ tool: 'ipvsadm', args: ['--add-laddr', '-z', lip, p, svc, '-F', RS_PORT] });
  return out;
}

/** Every command that configures DPVS for a service text (in order: addresses, then services). */
export function dpvsCommands(serviceText: string, file = 'service.conf'): DpvsCommand[] {
  const set = parseServiceConfig(serviceText, file);
  const vips = [...new Set(set.services.map((s) => s.vip))];
  const rsFamily: LabFamily = set.services.some((s) => s.realServers.some((r) => r.ip.includes(':'))) ? 6 : 4;
  const ipv6 = rsFamily === 6 || vips.some((v) => v.includes(':'));
  return [...(ipv6 ? addressCommandsByFamily(vips, rsFamily) : addressCommands(vips)), ...set.services.flatMap(serviceCommands)];
}

/**
 * EAL arguments: lcores pinned, no PCI, hugepages without files (`--in-memory`), the two veths.
 * `qdisc_bypass=0`: the af_packet PMD otherwise sends with PACKET_QDISC_BYPASS, which hands
 * frames to the driver without passing the kernel's packet taps — tcpdump on the director's veths
 * would then show only what DPVS received, never what it sent, and the director point would
 * lack every forwarded copy (a production DPVS captured with dpdk-pdump shows both directions).
 */
export function ealArgs(clientIface: string, rsIface: string, filePrefix: string): string[] {
  return [
    '--lcores',
    DPVS_LCORES,
    '--no-pci',
    '--in-memory',
    '--file-prefix',
    filePrefix,
    '--vdev',
    `net_af_packet0,iface=${clientIface},qdisc_bypass=0`,
    '--vdev',
    `net_af_packet1,iface=${rsIface},qdisc_bypass=0`,
  ];
}

function device(name: string): string {
  return `    <init> device ${name} {
        rx {
            queue_number        1
            descriptor_number   256
            rss                 tcp
        }
        tx {
            queue_number        1
            descriptor_number   256
        }
        promisc_mode
    }`;
}

/**
 * dpvs.conf of the lab: two af_packet ports, one master and one worker lcore, pools small
 * enough for a few hundred hugepages, KNI off (a namespace has no /dev/vhost-net), the flow
 * director off (af_packet has none: local ports are then kept per LIP by sa_pool's own table),
 * IPv6 off unless the service has an IPv6 side (an IPv4 lab's namespaces have IPv6 disabled). UDP's client address (UOA)
 * goes in an IP option (`ipo`) of the first datagrams: stock real-server kernels ignore it, where
 * `opp` (DPVS's private IP protocol 248) makes them answer ICMP protocol unreachable unless they
 * load DPVS's uoa module (seen in this lab); `opp` is there to show that (`lab run --uoa-mode opp`).
 */
/** UDP datagrams of a connection that carry the client's address (dpvs.conf uoa_max_trail). */
export const UOA_MAX_TRAIL = 3;

export type UoaMode = 'ipo' | 'opp';
export const UOA_MODES: readonly UoaMode[] = ['ipo', 'opp'];

export function dpvsConf(o: { ipv6?: boolean; uoaMode?: UoaMode } = {}): string {
  const uoaMode = o.uoaMode ?? 'ipo';
  return `! lvsaudit lab: DPVS on two net_af_packet ports (FullNAT, two-armed)
global_defs {
    log_level   INFO
    <init> kni  off
    lldp        off
}

netif_defs {
    <init> pktpool_size     8191
    <init> pktpool_cache    128
${device(CLIENT_PORT)}
${device(RS_PORT)}
}

worker_defs {
    <init> worker cpu0 {
        type    master
        cpu_id  0
    }
    <init> worker cpu1 {
        type    slave
        cpu_id  1
        port    ${CLIENT_PORT} {
            rx_queue_ids     0
            tx_queue_ids     0
        }
        port    ${RS_PORT} {
            rx_queue_ids     0
            tx_queue_ids     0
        }
    }
}

timer_defs {
    schedule_interval    500
}

neigh_defs {
    <init> unres_queue_length  128
    timeout                    60
}

ipset_defs {
    <init> ipset_hash_pool_size 65536
}

ipv4_defs {
    forwarding                 off
    <init> default_ttl         64
    fragment {
        <init> bucket_number   256
        <init> bucket_entries  16
        <init> max_entries     256
        <init> ttl             1
    }
}

ipv6_defs {
    disable                     ${o.ipv6 === true ? 'off' : 'on'}
    forwarding                  off
    route6 {
        <init> method           hlist
        recycle_time            10
    }
}

ctrl_defs {
    lcore_msg {
        <init> ring_size                4096
        sync_msg_timeout_us             20000
        priority_level                  low
    }
}

ipvs_defs {
    conn {
        <init> conn_pool_size       65536
        <init> conn_pool_cache      128
        conn_init_timeout           3
    }
    udp {
        uoa_mode        ${uoaMode}
        uoa_max_trail   ${UOA_MAX_TRAIL}
        timeout {
            oneway      60
            normal      300
            last        3
        }
    }
    tcp {
        timeout {
            none        2
            established 90
            syn_sent    3
            syn_recv    30
            fin_wait    7
            time_wait   7
            close       3
            close_wait  7
            last_ack    7
            listen      120
            synack      30
            last        2
        }
    }
}

sa_pool {
    <init> pool_hash_size  16
    <init> flow_enable     off
}
`;
}

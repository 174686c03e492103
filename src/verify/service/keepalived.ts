/**
 * keepalived.conf `virtual_server` blocks (lvs-behavior.md §5.2), including the Alibaba/DPVS
 * keepalived additions (lb_kind FNAT, local_address_group / laddr_group_name, syn_proxy).
 * The text is first read as keepalived reads it (includes, @ conditions, $ parameters:
 * keepalived-text.ts), then into a tree of statements ({ } blocks), then the LVS parts are
 * interpreted. VRRP and global sections and checker blocks do not change forwarding and are
 * skipped whole; every other keyword must be one keepalived (or its DPVS/Alibaba forks) has,
 * so a misspelt one is an error instead of a silently different service.
 */
import {
  type ForwardMethod,
  type RealServer,
  type Service,
  type ServiceSet,
  type TunnelCsum,
  type TunnelType,
  ConfigError,
  canonicalIp,
  newService,
  parsePort,
  serviceKey,
} from './model.js';
import { type KeepalivedOptions, type SourceLine, readKeepalivedText } from './keepalived-text.js';
import {
  type Fail,
  DEFAULT_PERSISTENCE,
  SCHED_FLAG_NAMES,
  addRealServer,
  addSchedFlag,
  finishService,
  parseAddress,
  parseFwmark,
  parseProtocol,
  parseScheduler,
  parseTimeout,
  parseWeight,
  setPersistenceMask,
} from './build.js';

export type { KeepalivedOptions } from './keepalived-text.js';

interface Stmt {
  words: string[];
  file: string;
  line: number;
  children?: Stmt[];
}

/** Fails at a statement's own file and line. */
function failAt(st: { file: string; line: number }): Fail {
  return (what) => {
    throw new ConfigError(st.file, st.line, what);
  };
}

/** Largest address range expanded from one `a.b.c.d-e` entry. */
const MAX_RANGE = 256;

/** Reads the statement tree; throws ConfigError on unbalanced braces. */
export function readStatements(lines: readonly SourceLine[]): Stmt[] {
  interface Tok {
    t: string;
    file: string;
    line: number;
    /** A quoted word is never a brace; '\n' ends a statement. */
    quoted?: boolean;
  }
  const toks: Tok[] = [];
  for (const l of lines) {
    const re = /"([^"]*)"|([{}])|([^\s{}"]+)/g;
    for (let m = re.exec(l.text); m; m = re.exec(l.text)) {
      const word = m[1] ?? m[2] ?? m[3]!;
      toks.push(m[1] !== undefined ? { t: word, file: l.file, line: l.line, quoted: true } : { t: word, file: l.file, line: l.line });
    }
    toks.push({ t: '\n', file: l.file, line: l.line });
  }
  let pos = 0;
  const block = (opener: { file: string; line: number }, depth: number): Stmt[] => {
    const out: Stmt[] = [];
    let cur: Stmt | null = null;
    while (pos < toks.length) {
      const tok = toks[pos++]!;
      if (tok.t === '\n' && !tok.quoted) {
        if (cur) out.push(cur);
        cur = null;
      } else if (tok.t === '{' && !tok.quoted) {
        let owner = cur;
        if (!owner) {
          // "{" on its own line belongs to the statement just before it.
          const last = out[out.length - 1];
          if (!last || last.children) throw new ConfigError(tok.file, tok.line, '"{" without a keyword before it');
          owner = out.pop()!;
        }
        owner.children = block(tok, depth + 1);
        out.push(owner);
        cur = null;
      } else if (tok.t === '}' && !tok.quoted) {
        if (depth === 0) throw new ConfigError(tok.file, tok.line, 'unmatched "}"');
        if (cur) out.push(cur);
        return out;
      } else {
        if (!cur) cur = { words: [], file: tok.file, line: tok.line };
        cur.words.push(tok.t);
      }
    }
    if (depth > 0) throw new ConfigError(opener.file, opener.line, '"{" is never closed');
    if (cur) out.push(cur);
    return out;
  };
  return block({ file: '', line: 0 }, 0);
}

/**
 * Top-level keywords that configure something other than IPVS services (keepalived.conf(5):
 * global, BFD, VRRP and static sections; DPVS keepalived's deny/tunnel groups). Their blocks are
 * skipped whole. Anything starting `vrrp_` is VRRP too.
 */
const OTHER_TOP = new Set([
  'global_defs', 'static_ipaddress', 'static_routes', 'static_rules', 'linkbeat_interfaces',
  'interface_up_down_delays', 'track_file', 'track_process', 'bfd_instance', 'SSL', 'garp_group',
  'net_namespace', 'net_namespace_ipvs', 'namespace_with_ipsets', 'instance', 'use_pid_dir',
  'linkbeat_use_polling', 'child_wait_time', 'deny_address_group', 'tunnel_group',
]);

/**
 * virtual_server keywords that do not change how packets are forwarded (health checking,
 * quorum, notification, SNMP; DPVS rate limits and SNAT matches), from keepalived.conf(5) and
 * the DPVS/Alibaba parsers. They are accepted and not modelled.
 */
const VS_IGNORED = new Set([
  'delay_loop', 'ha_suspend', 'smtp_alert', 'virtualhost', 'snmp_name', 'alpha', 'omega', 'quorum',
  'hysteresis', 'quorum_up', 'quorum_down', 'sorry_server_inhibit', 'sorry_server_lvs_method',
  'connect_timeout', 'retry', 'delay_before_retry', 'warmup', 'inhibit_on_failure', 'nat_mask',
  'establish_timeout', 'bps', 'limit_proportion', 'hash_target', 'src-range',
  'dst-range', 'oif', 'iif', 'daddr_group_name', 'vip_bind_dev', 'blklst_group_name',
  'whtlst_group_name', 'proxy_protocol', 'expire_quiescent_conn', 'quic',
]);

/** Most words a modelled virtual_server statement takes (keyword included): more is an error. */
const WORDS: Record<string, number> = {
  lb_algo: 2, lvs_sched: 2, persistence_timeout: 2, persistence_granularity: 2, persistence_engine: 2,
  protocol: 2, ip_family: 2, laddr_group_name: 2, syn_proxy: 1, ops: 1, sorry_server: 3,
  'sh-port': 1, 'sh-fallback': 1, 'mh-port': 1, 'mh-fallback': 1, 'flag-1': 1, 'flag-2': 1, 'flag-3': 1,
};

/** real_server keywords that do not change forwarding, and its checker blocks. */
const RS_IGNORED = new Set([
  'notify_up', 'notify_down', 'uthreshold', 'lthreshold', 'smtp_alert', 'virtualhost', 'snmp_name',
  'alpha', 'connect_timeout', 'retry', 'delay_before_retry', 'warmup', 'delay_loop', 'inhibit_on_failure',
  'HTTP_GET', 'SSL_GET', 'TCP_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'MISC_CHECK', 'BFD_CHECK', 'UDP_CHECK',
  'PING_CHECK', 'FILE_CHECK',
]);

/** Expands `10.0.0.5`, `10.0.0.5-9` (last IPv4 octet) or `2001:db8::10-1f` (last IPv6 group, hex). */
function expandRange(text: string, fail: Fail): { ips: string[]; family: 4 | 6 } {
  const dash = text.lastIndexOf('-');
  if (dash < 0) {
    const a = parseAddress(text, 'local/group', fail);
    return { ips: [a.ip], family: a.family };
  }
  const base = parseAddress(text.slice(0, dash), 'range start', fail);
  const endText = text.slice(dash + 1);
  const ips: string[] = [];
  if (base.family === 4) {
    const parts = base.ip.split('.');
    const start = Number(parts[3]);
    if (!/^\d{1,3}$/.test(endText) || Number(endText) > 255) fail(`bad range end "${endText}"`);
    const end = Number(endText);
    if (end < start) fail(`range ${text} ends before it starts`);
    for (let o = start; o <= end; o++) ips.push(`${parts[0]}.${parts[1]}.${parts[2]}.${o}`);
  } else {
    const full = canonicalIp(base.ip)!.ip;
    const lastColon = full.lastIndexOf(':');
    const start = parseInt(full.slice(lastColon + 1) || '0', 16);
    if (!/^[0-9a-f]{1,4}$/i.test(endText)) fail(`bad range end "${endText}"`);
    const end = parseInt(endText, 16);
    if (end < start) fail(`range ${text} ends before it starts`);
    if (end - start + 1 > MAX_RANGE) fail(`range ${text} has more than ${MAX_RANGE} addresses`);
    const prefix = full.slice(0, lastColon + 1);
    for (let g = start; g <= end; g++) ips.push(canonicalIp(`${prefix}${g.toString(16)}`)!.ip);
  }
  return { ips, family: base.family };
}

interface Identity {
  protocol: 'tcp' | 'udp' | 'sctp';
  vip: string;
  vport: number;
  family: 4 | 6;
  fwmark?: number;
  /** Where the identity was written (a group entry may be in another file than its user). */
  file: string;
  line: number;
  /** A fwmark group entry said inet/inet6. */
  familyGiven?: boolean;
}

const LB_KIND: Record<string, ForwardMethod> = { NAT: 'nat', DR: 'dr', TUN: 'tun', FNAT: 'fullnat' };

interface MethodSpec {
  method: ForwardMethod;
  tunnelType?: TunnelType;
  tunnelPort?: number;
  tunnelCsum?: TunnelCsum;
}

function parseLbKind(words: string[], fail: Fail): MethodSpec {
  const kind = (words[1] ?? '').toUpperCase();
  if (kind === 'SNAT') fail('lb_kind SNAT (DPVS) is not supported by lvsaudit');
  const method = LB_KIND[kind];
  if (!method) fail(`unknown ${words[0]} "${words[1] ?? ''}" (NAT, DR, TUN or FNAT)`);
  const spec: MethodSpec = { method };
  for (let i = 2; i < words.length; i++) {
    const w = words[i]!;
    if (method !== 'tun') fail(`"${w}" after ${words[0]} ${kind} (only TUN takes options)`);
    if (w === 'type') {
      const t = (words[++i] ?? '').toLowerCase();
      if (t !== 'ipip' && t !== 'gue' && t !== 'gre') fail(`bad tunnel type "${t}" (ipip, gue or gre)`);
      spec.tunnelType = t as TunnelType;
    } else if (w === 'port') {
      const p = parsePort(words[++i] ?? '');
      if (p === null || p === 0) fail(`bad tunnel port "${words[i] ?? ''}"`);
      spec.tunnelPort = p;
    } else if (w === 'csum' || w === 'nocsum' || w === 'remcsum') {
      spec.tunnelCsum = w;
    } else {
      fail(`unknown tunnel option "${w}"`);
    }
  }
  if (spec.tunnelType === 'gue' && spec.tunnelPort === undefined) fail('tunnel type gue needs "port N"');
  return spec;
}

export function parseKeepalived(text: string, file: string, opts: KeepalivedOptions = {}): ServiceSet {
  const read = readKeepalivedText(text, file, opts);
  const tree = readStatements(read.lines);
  const notes: string[] = [...read.notes];
  const laddrGroups = new Map<string, string[]>();
  const vsGroups = new Map<string, Stmt>();
  // Groups may be defined after the virtual_server that names them: collect them first.
  for (const st of tree) {
    const kw = st.words[0]!;
    if (kw === 'local_address_group' || kw === 'virtual_server_group') {
      const fail: Fail = failAt(st);
      const name = st.words[1];
      if (!name || st.words.length > 2) fail(`${kw} needs exactly one name`);
      if (!st.children) fail(`${kw} ${name} needs a { } block`);
      if (kw === 'local_address_group') {
        if (laddrGroups.has(name)) fail(`local_address_group ${name} defined twice`);
        const ips: string[] = [];
        for (const e of st.children) {
          // DPVS allows "IP ifname"; the interface does not change what a capture shows.
          if (e.words.length > 2) failAt(e)(`unexpected "${e.words.slice(2).join(' ')}" in local_address_group ${name}`);
          for (const ip of expandRange(e.words[0]!, failAt(e)).ips) if (!ips.includes(ip)) ips.push(ip);
        }
        laddrGroups.set(name, ips);
      } else {
        if (vsGroups.has(name)) fail(`virtual_server_group ${name} defined twice`);
        vsGroups.set(name, st);
      }
    } else if (kw !== 'virtual_server' && !OTHER_TOP.has(kw) && !kw.startsWith('vrrp_')) {
      failAt(st)(`unknown keepalived keyword "${kw}"`);
    }
  }
  const services = new Map<string, Service>();
  for (const st of tree) {
    if (st.words[0] !== 'virtual_server') continue;
    const fail: Fail = failAt(st);
    if (!st.children) fail('virtual_server needs a { } block');
    const ids: Identity[] = [];
    const [, a1, a2, ...extra] = st.words;
    if (extra.length) fail(`unexpected "${extra.join(' ')}" after virtual_server ${a1} ${a2}`);
    if (a1 === 'group') {
      const g = vsGroups.get(a2 ?? '');
      if (!g) fail(`virtual_server_group "${a2 ?? ''}" is not defined`);
      notes.push(`${st.file}:${st.line}: virtual_server group ${a2} expanded into one service per group entry`);
      for (const e of g.children ?? []) ids.push(...groupEntry(e, failAt(e)));
    } else if (a1 === 'fwmark') {
      ids.push({ protocol: 'tcp', vip: '', vport: 0, family: 4, fwmark: parseFwmark(a2 ?? '', fail), file: st.file, line: st.line });
    } else if (a1 === 'match') {
      fail('DPVS "virtual_server match" (SNAT) services are not supported by lvsaudit');
    } else {
      if (a1 === undefined) fail('virtual_server needs IP [PORT], fwmark N or group NAME');
      const addr = parseAddress(a1, 'virtual server', fail);
      // keepalived allows leaving the port out of a persistent service (port 0, all ports).
      const port = a2 === undefined ? 0 : parsePort(a2);
      if (port === null) fail(`bad virtual server port "${a2}"`);
      ids.push({ protocol: 'tcp', vip: addr.ip, vport: port, family: addr.family, file: st.file, line: st.line });
    }
    for (const id of ids) {
      const s = buildVirtualServer(st, id, laddrGroups, notes);
      const key = serviceKey(s);
      if (services.has(key)) fail(`virtual_server ${key} defined twice`);
      services.set(key, s);
    }
  }
  return { services: [...services.values()], format: 'keepalived', notes };
}

function groupEntry(e: Stmt, fail: Fail): Identity[] {
  const [a, b, c] = e.words;
  if (a === 'fwmark') {
    // `fwmark N [inet|inet6]`: the family is only needed when every real server is tunnelled.
    if (e.words.length > 3) fail(`unexpected "${e.words.slice(3).join(' ')}" in a virtual_server_group entry`);
    if (c !== undefined && c !== 'inet' && c !== 'inet6') fail(`bad fwmark family "${c}" (inet or inet6)`);
    const id: Identity = { protocol: 'tcp', vip: '', vport: 0, family: c === 'inet6' ? 6 : 4, fwmark: parseFwmark(b ?? '', fail), file: e.file, line: e.line };
    if (c !== undefined) id.familyGiven = true;
    return [id];
  }
  if (a === undefined) fail('virtual_server_group entry needs IP [PORT] (or IP-RANGE [PORT], fwmark N)');
  if (e.words.length > 2) fail(`unexpected "${e.words.slice(2).join(' ')}" in a virtual_server_group entry`);
  // No port: the port-0 service, valid when the virtual_server is persistent (finishService checks).
  const port = b === undefined ? 0 : parsePort(b);
  if (port === null) fail(`bad port "${b}"`);
  const r = expandRange(a, fail);
  return r.ips.map((ip) => ({ protocol: 'tcp' as const, vip: ip, vport: port, family: r.family, file: e.file, line: e.line }));
}

function buildVirtualServer(st: Stmt, id: Identity, laddrGroups: Map<string, string[]>, notes: string[]): Service {
  const file = id.file;
  const s = newService({ ...id, source: { file, line: id.line } });
  let method: MethodSpec = { method: 'nat' }; // keepalived's default lb_kind
  let family: 4 | 6 | null = id.familyGiven ? id.family : null;
  const body = st.children ?? [];
  // Service-level keywords first: real servers inherit lb_kind wherever it is written in the block.
  for (const k of body) {
    const fail: Fail = failAt(k);
    const [kw, v] = k.words;
    const most = WORDS[kw!];
    if (most !== undefined && k.words.length > most) fail(`unexpected "${k.words.slice(most).join(' ')}" after ${k.words.slice(0, most).join(' ')}`);
    switch (kw) {
      case 'lb_algo':
      case 'lvs_sched':
        s.scheduler = parseScheduler(v, fail);
        break;
      case 'lb_kind':
      case 'lvs_method':
        method = parseLbKind(k.words, fail);
        break;
      case 'persistence_timeout':
        s.persistenceTimeout = v === undefined ? DEFAULT_PERSISTENCE : parseTimeout(v, fail);
        break;
      case 'protocol':
        if (v === undefined) fail('protocol needs TCP, UDP or SCTP');
        s.protocol = parseProtocol(v, fail);
        break;
      case 'ip_family':
        if (v !== 'inet' && v !== 'inet6') fail(`bad ip_family "${v ?? ''}" (inet or inet6)`);
        family = v === 'inet' ? 4 : 6;
        break;
      case 'laddr_group_name': {
        const ips = laddrGroups.get(v ?? '');
        if (!ips) fail(`local_address_group "${v ?? ''}" is not defined`);
        s.localAddresses = [...ips];
        break;
      }
      case 'syn_proxy':
        s.synproxy = true;
        break;
      case 'ops':
        s.ops = true;
        break;
      case 'sorry_server': {
        if (v === undefined || k.words[2] === undefined) fail('sorry_server needs IP PORT');
        const a = parseAddress(v, 'sorry server', fail);
        const p = parsePort(k.words[2]);
        if (p === null) fail(`bad sorry server port "${k.words[2]}"`);
        s.sorryServer = { ip: a.ip, port: p };
        break;
      }
      case 'persistence_engine':
        if (v === undefined) fail('persistence_engine needs a name');
        s.pe = v;
        break;
      case 'persistence_granularity':
      case 'real_server':
        break; // below, once the family is known
      default:
        if (kw !== undefined && SCHED_FLAG_NAMES.includes(kw)) addSchedFlag(s, kw);
        else if (!VS_IGNORED.has(kw!)) fail(`unknown virtual_server keyword "${kw}"`);
    }
  }
  if (s.fwmark !== undefined && family !== null) s.family = family;
  if (s.fwmark === undefined && family !== null && family !== s.family) {
    throw new ConfigError(file, id.line, `ip_family inet${family === 6 ? '6' : ''} does not match ${s.vip}`);
  }
  // persistence_granularity needs the family, which ip_family may have set after it.
  for (const k of body) {
    if (k.words[0] !== 'persistence_granularity') continue;
    const fail: Fail = failAt(k);
    if (k.words[1] === undefined) fail('persistence_granularity needs a netmask');
    setPersistenceMask(s, k.words[1], fail);
  }
  for (const k of body) {
    if (k.words[0] !== 'real_server') continue;
    const fail: Fail = failAt(k);
    const [, ipText, portText, ...extra] = k.words;
    if (ipText === undefined) fail('real_server needs IP PORT');
    if (extra.length) fail(`unexpected "${extra.join(' ')}" after real_server ${ipText} ${portText}`);
    const a = parseAddress(ipText, 'real server', fail);
    if (s.fwmark !== undefined && family === null && s.realServers.length === 0) s.family = a.family;
    let port = s.vport;
    if (portText !== undefined) {
      const p = parsePort(portText);
      if (p === null) fail(`bad real server port "${portText}"`);
      port = p;
    }
    let rsMethod = method;
    let weight = 1;
    for (const c of k.children ?? []) {
      const cfail: Fail = failAt(c);
      const [ckw, cv] = c.words;
      if (ckw === 'weight' && c.words.length > 2) cfail(`unexpected "${c.words.slice(2).join(' ')}" after weight ${cv}`);
      if (ckw === 'weight') weight = parseWeight(cv, cfail);
      else if (ckw === 'lvs_method' || ckw === 'lb_kind') rsMethod = parseLbKind(c.words, cfail);
      else if (!RS_IGNORED.has(ckw!)) cfail(`unknown real_server keyword "${ckw}"`);
    }
    const rs: RealServer = { ip: a.ip, port, weight, method: rsMethod.method, source: { file: k.file, line: k.line } };
    if (rsMethod.tunnelType) rs.tunnelType = rsMethod.tunnelType;
    if (rsMethod.tunnelPort !== undefined) rs.tunnelPort = rsMethod.tunnelPort;
    if (rsMethod.tunnelCsum) rs.tunnelCsum = rsMethod.tunnelCsum;
    if ((rs.method === 'dr' || rs.method === 'tun') && s.fwmark === undefined && port !== s.vport) {
      notes.push(`${k.file}:${k.line}: real_server ${ipText} port ${port} ignored: ${rs.method.toUpperCase()} keeps the VIP port ${s.vport}`);
    }
    addRealServer(s, rs, fail);
  }
  if (s.localAddresses.length && method.method !== 'fullnat') {
    notes.push(`${file}:${id.line}: laddr_group_name on a non-FNAT virtual_server has no effect`);
  }
  finishService(
    s,
    method.method,
    (what) => {
      throw new ConfigError(file, id.line, what);
    },
    true, // keepalived logs and ignores sh-/mh- flags under another scheduler
  );
  return s;
}

/**
 * keepalived.conf `virtual_server` blocks (lvs-behavior.md §5.2), including the Alibaba/DPVS
 * keepalived additions (lb_kind FNAT, local_address_group / laddr_group_name, syn_proxy).
 * The file is first read into a tree of statements ({ } blocks, # and ! comments), then the
 * LVS parts are interpreted; VRRP and global sections are skipped, checkers are ignored.
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

interface Stmt {
  words: string[];
  line: number;
  children?: Stmt[];
}

/** Largest address range expanded from one `a.b.c.d-e` entry. */
const MAX_RANGE = 256;

/** Reads the statement tree; throws ConfigError on unbalanced braces. */
export function readStatements(text: string, file: string): Stmt[] {
  interface Tok {
    t: string;
    line: number;
    /** A quoted word is never a brace. */
    quoted?: boolean;
  }
  const toks: Tok[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const re = /"([^"]*)"|([{}])|([^\s{}"]+)/g;
    for (let m = re.exec(lines[i]!); m; m = re.exec(lines[i]!)) {
      const word = m[1] ?? m[2] ?? m[3]!;
      if (m[1] === undefined && (word.startsWith('#') || word.startsWith('!'))) break; // comment to end of line
      toks.push(m[1] !== undefined ? { t: word, line, quoted: true } : { t: word, line });
    }
    toks.push({ t: '\n', line });
  }
  let pos = 0;
  const block = (openLine: number, depth: number): Stmt[] => {
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
          if (!last || last.children) throw new ConfigError(file, tok.line, '"{" without a keyword before it');
          owner = out.pop()!;
        }
        owner.children = block(tok.line, depth + 1);
        out.push(owner);
        cur = null;
      } else if (tok.t === '}' && !tok.quoted) {
        if (depth === 0) throw new ConfigError(file, tok.line, 'unmatched "}"');
        if (cur) out.push(cur);
        return out;
      } else {
        if (!cur) cur = { words: [], line: tok.line };
        cur.words.push(tok.t);
      }
    }
    if (depth > 0) throw new ConfigError(file, openLine, '"{" is never closed');
    if (cur) out.push(cur);
    return out;
  };
  return block(0, 0);
}

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
  line: number;
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

export function parseKeepalived(text: string, file: string): ServiceSet {
  const tree = readStatements(text, file);
  const notes: string[] = [];
  const laddrGroups = new Map<string, string[]>();
  const vsGroups = new Map<string, Stmt>();
  const failAt =
    (line: number): Fail =>
    (what) => {
      throw new ConfigError(file, line, what);
    };
  // Groups may be defined after the virtual_server that names them: collect them first.
  for (const st of tree) {
    const kw = st.words[0];
    if (kw === 'local_address_group' || kw === 'virtual_server_group') {
      const fail: Fail = failAt(st.line);
      const name = st.words[1];
      if (!name || st.words.length > 2) fail(`${kw} needs exactly one name`);
      if (!st.children) fail(`${kw} ${name} needs a { } block`);
      if (kw === 'local_address_group') {
        if (laddrGroups.has(name)) fail(`local_address_group ${name} defined twice`);
        const ips: string[] = [];
        for (const e of st.children) {
          // DPVS allows "IP ifname"; the interface does not change what a capture shows.
          for (const ip of expandRange(e.words[0]!, failAt(e.line)).ips) if (!ips.includes(ip)) ips.push(ip);
        }
        laddrGroups.set(name, ips);
      } else {
        if (vsGroups.has(name)) fail(`virtual_server_group ${name} defined twice`);
        vsGroups.set(name, st);
      }
    } else if (kw === 'include') {
      notes.push(`${file}:${st.line}: include ${st.words.slice(1).join(' ')} not followed; pass that file with --config too`);
    }
  }
  const services = new Map<string, Service>();
  for (const st of tree) {
    if (st.words[0] !== 'virtual_server') continue;
    const fail: Fail = failAt(st.line);
    if (!st.children) fail('virtual_server needs a { } block');
    const ids: Identity[] = [];
    const [, a1, a2, ...extra] = st.words;
    if (extra.length) fail(`unexpected "${extra.join(' ')}" after virtual_server ${a1} ${a2}`);
    if (a1 === 'group') {
      const g = vsGroups.get(a2 ?? '');
      if (!g) fail(`virtual_server_group "${a2 ?? ''}" is not defined`);
      notes.push(`${file}:${st.line}: virtual_server group ${a2} expanded into one service per group entry`);
      for (const e of g.children ?? []) ids.push(...groupEntry(e, failAt(e.line)));
    } else if (a1 === 'fwmark') {
      ids.push({ protocol: 'tcp', vip: '', vport: 0, family: 4, fwmark: parseFwmark(a2 ?? '', fail), line: st.line });
    } else if (a1 === 'match') {
      notes.push(`${file}:${st.line}: DPVS virtual_server match … not supported; skipped`);
      continue;
    } else {
      if (a1 === undefined || a2 === undefined) fail('virtual_server needs IP PORT, fwmark N or group NAME');
      const addr = parseAddress(a1, 'virtual server', fail);
      const port = parsePort(a2);
      if (port === null) fail(`bad virtual server port "${a2}"`);
      ids.push({ protocol: 'tcp', vip: addr.ip, vport: port, family: addr.family, line: st.line });
    }
    for (const id of ids) {
      const s = buildVirtualServer(st, id, laddrGroups, file, notes);
      const key = serviceKey(s);
      if (services.has(key)) fail(`virtual_server ${key} defined twice`);
      services.set(key, s);
    }
  }
  return { services: [...services.values()], format: 'keepalived', notes };
}

function groupEntry(e: Stmt, fail: Fail): Identity[] {
  const [a, b] = e.words;
  if (a === 'fwmark') return [{ protocol: 'tcp', vip: '', vport: 0, family: 4, fwmark: parseFwmark(b ?? '', fail), line: e.line }];
  if (a === undefined || b === undefined) fail('virtual_server_group entry needs IP PORT (or IP-RANGE PORT, fwmark N)');
  const port = parsePort(b);
  if (port === null) fail(`bad port "${b}"`);
  const r = expandRange(a, fail);
  return r.ips.map((ip) => ({ protocol: 'tcp' as const, vip: ip, vport: port, family: r.family, line: e.line }));
}

function buildVirtualServer(
  st: Stmt,
  id: Identity,
  laddrGroups: Map<string, string[]>,
  file: string,
  notes: string[],
): Service {
  const s = newService({ ...id, source: { file, line: id.line } });
  let method: MethodSpec = { method: 'nat' }; // keepalived's default lb_kind
  let family: 4 | 6 | null = null;
  const body = st.children ?? [];
  // Service-level keywords first: real servers inherit lb_kind wherever it is written in the block.
  for (const k of body) {
    const fail: Fail = (what) => {
      throw new ConfigError(file, k.line, what);
    };
    const [kw, v] = k.words;
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
      default:
        if (kw !== undefined && SCHED_FLAG_NAMES.includes(kw)) addSchedFlag(s, kw);
    }
  }
  if (s.fwmark !== undefined && family !== null) s.family = family;
  if (s.fwmark === undefined && family !== null && family !== s.family) {
    throw new ConfigError(file, id.line, `ip_family inet${family === 6 ? '6' : ''} does not match ${s.vip}`);
  }
  // persistence_granularity needs the family, which ip_family may have set after it.
  for (const k of body) {
    if (k.words[0] !== 'persistence_granularity') continue;
    const fail: Fail = (what) => {
      throw new ConfigError(file, k.line, what);
    };
    if (k.words[1] === undefined) fail('persistence_granularity needs a netmask');
    setPersistenceMask(s, k.words[1], fail);
  }
  for (const k of body) {
    if (k.words[0] !== 'real_server') continue;
    const fail: Fail = (what) => {
      throw new ConfigError(file, k.line, what);
    };
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
      const cfail: Fail = (what) => {
        throw new ConfigError(file, c.line, what);
      };
      const [ckw, cv] = c.words;
      if (ckw === 'weight') weight = parseWeight(cv, cfail);
      else if (ckw === 'lvs_method' || ckw === 'lb_kind') rsMethod = parseLbKind(c.words, cfail);
      // Checker blocks (TCP_CHECK, HTTP_GET, MISC_CHECK …) and thresholds do not change forwarding.
    }
    const rs: RealServer = { ip: a.ip, port, weight, method: rsMethod.method, source: { file, line: k.line } };
    if (rsMethod.tunnelType) rs.tunnelType = rsMethod.tunnelType;
    if (rsMethod.tunnelPort !== undefined) rs.tunnelPort = rsMethod.tunnelPort;
    if (rsMethod.tunnelCsum) rs.tunnelCsum = rsMethod.tunnelCsum;
    if ((rs.method === 'dr' || rs.method === 'tun') && s.fwmark === undefined && port !== s.vport) {
      notes.push(`${file}:${k.line}: real_server ${ipText} port ${port} ignored: ${rs.method.toUpperCase()} keeps the VIP port ${s.vport}`);
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

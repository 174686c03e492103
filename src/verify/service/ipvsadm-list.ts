/**
 * `ipvsadm -Ln` listings (lvs-behavior.md §5.1): a header, then per service a line
 * `TCP  VIP:PORT sched [(flags)] [persistent T [mask M]] [ops] [pe NAME]` and per destination
 * `  -> RIP:PORT  Masq|Local|Route|Tunnel|FullNat [tuninfo] W Active InAct`.
 * --stats / --rate / --thresholds / --persistent-conn sections are tolerated: they carry no
 * scheduler or forwarding method, so their lines only count when a plain listing named the
 * same service too.
 */
import {
  type ForwardMethod,
  type RealServer,
  type Service,
  type ServiceSet,
  type TunnelType,
  ConfigError,
  newService,
  parseHostPort,
  parsePort,
  serviceKey,
} from './model.js';
import {
  type Fail,
  addRealServer,
  addSchedFlag,
  finishService,
  parseFwmark,
  parseSchedFlags,
  parseScheduler,
  parseTimeout,
  parseWeight,
  setPersistenceMask,
} from './build.js';

const FORWARD: Record<string, ForwardMethod> = {
  Masq: 'nat',
  Local: 'dr', // a destination on the director itself is listed as Local; ipvsadm saves it as -g
  Route: 'dr',
  Tunnel: 'tun',
  FullNat: 'fullnat',
  FNAT: 'fullnat',
};

const SERVICE_LINE = /^(TCP|UDP|SCTP|FWM)\s+(\S+)(?:\s+(.*))?$/;
const DEST_LINE = /^\s+->\s+(\S+)\s+(.*)$/;

export function parseIpvsadmList(text: string, file: string): ServiceSet {
  const services = new Map<string, Service>();
  const notes: string[] = [];
  const lines = text.split(/\r?\n/);
  let current: Service | null = null;
  // In a --stats/--rate section, lines repeat services of a plain listing: skip them.
  let numbersSection = false;
  for (let ln = 0; ln < lines.length; ln++) {
    const lineNo = ln + 1;
    const line = lines[ln]!.replace(/\s+$/, '');
    const fail: Fail = (what) => {
      throw new ConfigError(file, lineNo, what);
    };
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (/^IP Virtual Server version/.test(line)) {
      numbersSection = false;
      continue;
    }
    if (/^Prot LocalAddress:Port/.test(line)) {
      numbersSection = !/Scheduler Flags/.test(line);
      continue;
    }
    if (/^\s+->\s+RemoteAddress:Port/.test(line)) continue;
    const sm = SERVICE_LINE.exec(line);
    if (sm) {
      current = null;
      const [, prot, first, restText] = sm as unknown as [string, string, string, string | undefined];
      let rest = (restText ?? '').trim().split(/\s+/).filter((w) => w !== '');
      let svc: Service;
      if (prot === 'FWM') {
        let family: 4 | 6 = 4;
        if (rest[0] === 'IPv6') {
          family = 6;
          rest = rest.slice(1);
        }
        svc = newService({ protocol: 'tcp', vip: '', vport: 0, family, fwmark: parseFwmark(first, fail), source: { file, line: lineNo } });
      } else {
        const hp = parseHostPort(first);
        if (!hp) fail(`bad virtual service address "${first}" (give ipvsadm -Ln output: numeric)`);
        svc = newService({
          protocol: prot.toLowerCase() as 'tcp' | 'udp' | 'sctp',
          vip: hp.ip,
          vport: hp.port ?? 0,
          family: hp.family,
          source: { file, line: lineNo },
        });
      }
      const key = serviceKey(svc);
      if (numbersSection || (rest[0] !== undefined && /^\d+[KMG]?$/.test(rest[0]))) {
        // A counters line; only meaningful if the plain listing named this service.
        if (!services.has(key)) {
          fail(`service ${key} appears only in a --stats/--rate listing, which has no scheduler or forwarding method; give ipvsadm -Ln`);
        }
        numbersSection = true;
        continue;
      }
      if (services.has(key)) fail(`service ${key} listed twice`);
      parseServiceFlags(svc, rest, fail, (n) => notes.push(`${file}:${lineNo}: ${n}`));
      services.set(key, svc);
      current = svc;
      continue;
    }
    const dm = DEST_LINE.exec(line);
    if (dm) {
      if (numbersSection) continue;
      if (!current) fail('real server line before any service line');
      const hp = parseHostPort(dm[1]!);
      if (!hp) fail(`bad real server address "${dm[1]}" (give ipvsadm -Ln output: numeric)`);
      const cols = dm[2]!.trim().split(/\s+/);
      const method = FORWARD[cols[0]!];
      if (!method) {
        if (cols[0] === 'SNAT') fail('DPVS SNAT forwarding is not supported by lvsaudit');
        fail(`unknown forwarding method "${cols[0]}" (Masq, Local, Route, Tunnel, FullNat)`);
      }
      const rs: RealServer = { ip: hp.ip, port: hp.port ?? current.vport, weight: 1, method, source: { file, line: lineNo } };
      let c = 1;
      // --tun-info adds a column like "gue:6080:nocsum", "gre:csum" or "ipip".
      if (cols[c] !== undefined && /^(ipip|gue|gre)(:|$)/.test(cols[c]!)) {
        parseTunInfo(rs, cols[c]!, fail);
        c++;
      }
      rs.weight = parseWeight(cols[c], fail);
      for (const n of cols.slice(c + 1)) if (!/^\d+$/.test(n)) fail(`bad connection counter "${n}"`);
      addRealServer(current, rs, fail);
      continue;
    }
    fail(`unrecognised line in ipvsadm -Ln output: "${line.trim().slice(0, 60)}"`);
  }
  for (const s of services.values()) {
    finishService(s, null, (what) => {
      throw new ConfigError(file, s.source.line, what);
    });
  }
  return { services: [...services.values()], format: 'ipvsadm-list', notes };
}

function parseServiceFlags(s: Service, w: string[], fail: Fail, note: (n: string) => void): void {
  if (w.length === 0) fail('service line has no scheduler');
  s.scheduler = parseScheduler(w[0], fail);
  for (let i = 1; i < w.length; i++) {
    const t = w[i]!;
    if (t.startsWith('(') && t.endsWith(')')) {
      for (const f of parseSchedFlags(t.slice(1, -1), fail)) addSchedFlag(s, f);
    } else if (t === 'persistent') {
      const v = w[++i];
      if (v === undefined) fail('persistent needs a timeout');
      s.persistenceTimeout = parseTimeout(v, fail);
    } else if (t === 'mask') {
      const v = w[++i];
      if (v === undefined) fail('mask needs a netmask');
      setPersistenceMask(s, v, fail);
    } else if (t === 'ops') {
      s.ops = true;
    } else if (t === 'pe') {
      const v = w[++i];
      if (v === undefined) fail('pe needs a name');
      s.pe = v;
    } else if (t === 'synproxy') {
      s.synproxy = true;
    } else {
      // DPVS prints more per-service words (conn-timeout, hash-target …) that do not change forwarding.
      note(`service flag "${t}" not modelled`);
    }
  }
}

function parseTunInfo(rs: RealServer, text: string, fail: Fail): void {
  const parts = text.split(':');
  const t = parts[0] as TunnelType;
  if (rs.method !== 'tun') fail(`tunnel info "${text}" on a non-tunnel destination`);
  rs.tunnelType = t;
  for (const p of parts.slice(1)) {
    if (/^\d+$/.test(p)) {
      const port = parsePort(p);
      if (port === null || port === 0) fail(`bad tunnel port in "${text}"`);
      rs.tunnelPort = port;
    }
    else if (p === 'nocsum' || p === 'csum' || p === 'remcsum') rs.tunnelCsum = p;
    else fail(`bad tunnel info "${text}"`);
  }
}

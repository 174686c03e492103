/**
 * `ipvsadm-save -n` / `ipvsadm -Sn` rule files (and scripts of `ipvsadm …` command lines): each
 * line is one ipvsadm command (lvs-behavior.md §5.1). Mainline options plus the Alibaba/DPVS
 * extensions (-b/--fullnat on destinations, -P/--add-laddr -z LIP, -j/--synproxy, -F ifname).
 * Commands are applied in order, as `ipvsadm-restore` would, so edits and deletes work too.
 */
import {
  type ForwardMethod,
  type Protocol,
  type RealServer,
  type Service,
  type ServiceSet,
  type TunnelType,
  ConfigError,
  formatHostPort,
  newService,
  parseHostPort,
  parsePort,
  serviceKey,
} from './model.js';
import {
  type Fail,
  DEFAULT_PERSISTENCE,
  addRealServer,
  finishService,
  parseFwmark,
  parseSchedFlags,
  parseScheduler,
  parseTimeout,
  parseWeight,
  setPersistenceMask,
} from './build.js';

type Command =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'add-server'
  | 'edit-server'
  | 'delete-server'
  | 'clear'
  | 'add-laddr'
  | 'del-laddr'
  | 'ignore'
  | 'refuse';

interface OptSpec {
  /** Canonical key used below. */
  key: string;
  /** 'opt' = optional argument (only -p). */
  arg: 'none' | 'req' | 'opt';
  command?: Command;
}

// One table for short and long names; -b is resolved per command (sched flags vs fullnat).
const OPTS: Record<string, OptSpec> = {};
function def(names: string[], spec: OptSpec): void {
  for (const n of names) OPTS[n] = spec;
}
def(['-A', '--add-service'], { key: 'cmd', arg: 'none', command: 'add-service' });
def(['-E', '--edit-service'], { key: 'cmd', arg: 'none', command: 'edit-service' });
def(['-D', '--delete-service'], { key: 'cmd', arg: 'none', command: 'delete-service' });
def(['-a', '--add-server'], { key: 'cmd', arg: 'none', command: 'add-server' });
def(['-e', '--edit-server'], { key: 'cmd', arg: 'none', command: 'edit-server' });
def(['-d', '--delete-server'], { key: 'cmd', arg: 'none', command: 'delete-server' });
def(['-C', '--clear'], { key: 'cmd', arg: 'none', command: 'clear' });
def(['-P', '--add-laddr'], { key: 'cmd', arg: 'none', command: 'add-laddr' });
def(['-Q', '--del-laddr'], { key: 'cmd', arg: 'none', command: 'del-laddr' });
// Commands that change nothing a capture can show (counters, timeouts, sync daemon, DPVS ACLs).
def(['-Z', '--zero', '--set', '--start-daemon', '--stop-daemon'], { key: 'cmd', arg: 'none', command: 'ignore' });
def(['-U', '--add-blklst', '-V', '--del-blklst', '-O', '--add-whtlst', '-Y', '--del-whtlst'], {
  key: 'cmd',
  arg: 'none',
  command: 'ignore',
});
def(['-K', '--add-snat', '-k', '--edit-snat'], { key: 'cmd', arg: 'none', command: 'ignore' });
// Commands that read state rather than configure it: not valid in a config.
def(['-L', '-l', '--list', '-S', '--save', '-R', '--restore', '-G', '--get-laddr', '-h', '--help', '-v', '--version'], {
  key: 'cmd',
  arg: 'none',
  command: 'refuse',
});
def(['-t', '--tcp-service'], { key: 'tcp', arg: 'req' });
def(['-u', '--udp-service'], { key: 'udp', arg: 'req' });
def(['--sctp-service'], { key: 'sctp', arg: 'req' });
def(['-f', '--fwmark-service'], { key: 'fwmark', arg: 'req' });
def(['-q', '--icmp-service', '-1', '--icmpv6-service'], { key: 'icmp', arg: 'req' });
def(['-H', '--match'], { key: 'match', arg: 'req' });
def(['-s', '--scheduler'], { key: 'sched', arg: 'req' });
def(['--sched-flags'], { key: 'schedflags', arg: 'req' });
def(['-b'], { key: 'b', arg: 'none' });
def(['--fullnat'], { key: 'fullnat', arg: 'none' });
def(['-p', '--persistent'], { key: 'persistent', arg: 'opt' });
def(['-M', '--netmask'], { key: 'netmask', arg: 'req' });
def(['-6', '--ipv6'], { key: 'ipv6', arg: 'none' });
def(['-o', '--ops'], { key: 'ops', arg: 'none' });
def(['--pe'], { key: 'pe', arg: 'req' });
def(['-r', '--real-server'], { key: 'rs', arg: 'req' });
def(['-g', '--gatewaying'], { key: 'dr', arg: 'none' });
def(['-m', '--masquerading'], { key: 'nat', arg: 'none' });
def(['-i', '--ipip'], { key: 'tun', arg: 'none' });
def(['-J', '--snat'], { key: 'snat', arg: 'none' });
def(['-w', '--weight'], { key: 'weight', arg: 'req' });
def(['-x', '--u-threshold', '-y', '--l-threshold'], { key: 'threshold', arg: 'req' });
def(['--tun-type'], { key: 'tuntype', arg: 'req' });
def(['--tun-port'], { key: 'tunport', arg: 'req' });
def(['--tun-nocsum'], { key: 'nocsum', arg: 'none' });
def(['--tun-csum'], { key: 'csum', arg: 'none' });
def(['--tun-remcsum'], { key: 'remcsum', arg: 'none' });
def(['-z', '--laddr'], { key: 'laddr', arg: 'req' });
def(['-j', '--synproxy'], { key: 'synproxy', arg: 'req' });
def(['-n', '--numeric'], { key: 'ignored', arg: 'none' });
def(['--expire-quiescent', '--quic', '--persistent-conn'], { key: 'ignored', arg: 'none' });
// Options whose value does not change forwarding as a capture sees it (DPVS extras, threshold-like).
def(['-F', '--ifname', '--dest-check', '--conn-timeout', '--proxy-protocol', '--hash-target', '--cpu'], {
  key: 'ignoredArg',
  arg: 'req',
});
def(['-k', '--blklst', '-2', '--whtlst', '--mcast-interface', '--syncid'], { key: 'ignoredArg', arg: 'req' });

/** Option keys valid only on destination commands (-a/-e/-d) and only on service ones (-A/-E). */
const DEST_ONLY = new Set(['rs', 'dr', 'nat', 'tun', 'fullnat', 'snat', 'weight', 'threshold', 'tuntype', 'tunport', 'nocsum', 'csum', 'remcsum']);
const SERVICE_ONLY = new Set(['sched', 'schedflags', 'persistent', 'netmask', 'ops', 'pe', 'synproxy']);

interface Parsed {
  command: Command;
  commandText: string;
  vals: Map<string, string[]>;
}

/** Splits a line into ipvsadm words (whitespace separated; simple double/single quotes honoured). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

const COMMAND_DASH = /^(-[AEDaedCPQZUVOYKkLlSRGhv]|--[a-z-]+)$/;

function parseLine(tokens: string[], fail: Fail): Parsed | null {
  let i = 0;
  if (tokens[0] && /(^|\/)ipvsadm$/.test(tokens[0])) i = 1;
  if (i >= tokens.length) return null;
  // The command decides what -b means, so find it first (it need not come first on the line).
  let command: Command | undefined;
  let commandText = '';
  for (const t of tokens.slice(i)) {
    const name = t.startsWith('--') ? t.split('=')[0]! : t;
    const spec = COMMAND_DASH.test(name) ? OPTS[name] : undefined;
    if (spec?.command) {
      if (command) fail(`more than one command (${commandText} and ${name})`);
      command = spec.command;
      commandText = name;
    }
  }
  if (!command) fail(`no ipvsadm command on the line (expected -A, -a, -E, -e, -D, -d, -C, -P …)`);
  if (command === 'refuse') fail(`${commandText} does not configure anything; give ipvsadm -Sn output`);
  if (command === 'ignore') return { command, commandText, vals: new Map() };
  const isDest = command === 'add-server' || command === 'edit-server' || command === 'delete-server';
  const isService = command === 'add-service' || command === 'edit-service';
  const vals = new Map<string, string[]>();
  const put = (k: string, v: string): void => {
    const a = vals.get(k);
    if (a) a.push(v);
    else vals.set(k, [v]);
  };
  while (i < tokens.length) {
    const tok = tokens[i++]!;
    // ipvsadm-save prints "ops" and "pe NAME" without dashes (IPVSADM print_service_entry).
    if (tok === 'ops') {
      put('ops', '');
      continue;
    }
    if (tok === 'pe') {
      const v = tokens[i++];
      if (v === undefined) fail('pe needs a persistence engine name');
      put('pe', v);
      continue;
    }
    if (!tok.startsWith('-') || tok === '-') fail(`unexpected argument "${tok}"`);
    let name = tok;
    let attached: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      if (eq > 0) {
        name = tok.slice(0, eq);
        attached = tok.slice(eq + 1);
      }
    } else if (tok.length > 2) {
      // Short option with its value attached (-w3, -p360) or a cluster of flags (-gn).
      name = tok.slice(0, 2);
      const s = OPTS[name];
      if (s && s.arg !== 'none') attached = tok.slice(2);
      else {
        const rest = [...tok.slice(2)].map((c) => `-${c}`);
        if (!s || rest.some((o) => OPTS[o]?.arg !== 'none')) fail(`unknown option ${tok}`);
        tokens.splice(i, 0, ...rest);
      }
    }
    let spec = OPTS[name];
    if (!spec) fail(`unknown option ${name}`);
    if (name === '-b') spec = isService ? { key: 'schedflags', arg: 'req' } : { key: 'fullnat', arg: 'none' };
    if (spec.command) continue;
    let value = '';
    if (spec.arg === 'req') {
      const v = attached ?? tokens[i++];
      if (v === undefined) fail(`option ${name} needs a value`);
      value = v;
    } else if (spec.arg === 'opt') {
      // popt's optional argument: the next word unless it looks like an option or a bare keyword.
      if (attached !== undefined) value = attached;
      else if (i < tokens.length && !tokens[i]!.startsWith('-') && tokens[i] !== 'ops' && tokens[i] !== 'pe') {
        value = tokens[i++]!;
      }
    } else if (attached !== undefined) {
      fail(`option ${name} takes no value`);
    }
    if (spec.key === 'ignored' || spec.key === 'ignoredArg') continue;
    if (DEST_ONLY.has(spec.key) && !isDest) fail(`option ${name} is not valid with ${commandText}`);
    if (SERVICE_ONLY.has(spec.key) && !isService) fail(`option ${name} is not valid with ${commandText}`);
    if (spec.key === 'laddr' && command !== 'add-laddr' && command !== 'del-laddr') {
      fail(`option ${name} is only valid with -P/--add-laddr or -Q/--del-laddr`);
    }
    put(spec.key, value);
  }
  return { command, commandText, vals };
}

/** Parses ipvsadm rule lines (ipvsadm-save -n output or an ipvsadm script). */
export function parseIpvsadmRules(text: string, file: string): ServiceSet {
  const services = new Map<string, Service>();
  const notes: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const lineNo = ln + 1;
    const fail: Fail = (what) => {
      throw new ConfigError(file, lineNo, what);
    };
    const raw = lines[ln]!.replace(/\s+#.*$/, '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const p = parseLine(words(raw), fail);
    if (!p) continue;
    if (p.command === 'ignore') {
      notes.push(`${file}:${lineNo}: ${p.commandText} ignored (does not change forwarding)`);
      continue;
    }
    if (p.command === 'clear') {
      services.clear();
      continue;
    }
    const one = (k: string): string | undefined => {
      const a = p.vals.get(k);
      if (a && a.length > 1) fail(`option for ${k} given more than once`);
      return a?.[0];
    };
    const has = (k: string): boolean => p.vals.has(k);
    const svcId = serviceIdentity(p, one, has, file, lineNo, fail);
    const key = serviceKey(svcId);
    const existing = services.get(key);
    switch (p.command) {
      case 'add-service':
      case 'edit-service': {
        let s: Service;
        if (p.command === 'add-service') {
          if (existing) fail(`service ${key} already exists`);
          s = newService({ ...svcId, source: { file, line: lineNo } });
          services.set(key, s);
        } else {
          if (!existing) fail(`service ${key} does not exist`);
          s = existing;
          // ipvsadm -E sends a whole service: omitted options fall back to their defaults.
          s.scheduler = 'wlc';
          s.schedFlags = [];
          s.persistenceTimeout = null;
          s.persistenceMask = null;
          s.ops = false;
          delete s.pe;
        }
        applyServiceOptions(s, one, has, p.command === 'add-service', fail);
        break;
      }
      case 'delete-service':
        if (!services.delete(key)) fail(`service ${key} does not exist`);
        break;
      case 'add-server':
      case 'edit-server':
      case 'delete-server': {
        if (!existing) fail(`real server for ${key} given before its service (-A) was defined`);
        const rsText = one('rs');
        if (rsText === undefined) fail(`${p.commandText} needs -r RIP[:PORT]`);
        const hp = parseHostPort(rsText);
        if (!hp) fail(`bad real server address "${rsText}"`);
        const port = hp.port ?? existing.vport;
        const methodKeys = (['dr', 'nat', 'tun', 'fullnat', 'snat'] as const).filter((k) => has(k));
        if (methodKeys.length > 1) fail(`more than one forwarding method (${methodKeys.join(', ')})`);
        if (methodKeys[0] === 'snat') fail('DPVS SNAT forwarding (-J) is not supported by lvsaudit');
        const method = methodKeys[0] as ForwardMethod | undefined;
        if (p.command === 'add-server') {
          const rs: RealServer = {
            ip: hp.ip,
            port,
            weight: has('weight') ? parseWeight(one('weight'), fail) : 1,
            method: method ?? 'dr', // ipvsadm's default forwarding is gatewaying
            source: { file, line: lineNo },
          };
          applyTunnelOptions(rs, one, has, fail);
          addRealServer(existing, rs, fail);
        } else {
          // ipvsadm forces the VIP port for DR/TUN on -e before looking the destination up
          // (the -e default method is -g); -d uses the port as given.
          const editMethod = method ?? 'dr';
          const lookupPort =
            p.command === 'edit-server' && existing.fwmark === undefined && (editMethod === 'dr' || editMethod === 'tun')
              ? existing.vport
              : port;
          const idx = existing.realServers.findIndex((r) => r.ip === hp.ip && r.port === lookupPort);
          if (idx < 0) fail(`real server ${formatHostPort(hp.ip, port)} does not exist in ${key}`);
          if (p.command === 'delete-server') existing.realServers.splice(idx, 1);
          else {
            // ipvsadm -e sends a whole destination: what the line omits takes the defaults
            // (weight 1, gatewaying), exactly as for -a.
            const old = existing.realServers[idx]!;
            existing.realServers.splice(idx, 1);
            const rs: RealServer = {
              ip: old.ip,
              port,
              weight: has('weight') ? parseWeight(one('weight'), fail) : 1,
              method: method ?? 'dr',
              source: { file, line: lineNo },
            };
            applyTunnelOptions(rs, one, has, fail);
            addRealServer(existing, rs, fail);
          }
        }
        break;
      }
      case 'add-laddr':
      case 'del-laddr': {
        if (!existing) fail(`local address for ${key} given before its service (-A) was defined`);
        const lips = p.vals.get('laddr') ?? [];
        if (lips.length === 0) fail(`${p.commandText} needs -z LIP`);
        for (const l of lips) {
          const hp = parseHostPort(l);
          if (!hp || hp.port !== null) fail(`bad local address "${l}"`);
          const at = existing.localAddresses.indexOf(hp.ip);
          if (p.command === 'add-laddr') {
            if (at >= 0) fail(`local address ${hp.ip} already exists in ${key}`);
            existing.localAddresses.push(hp.ip);
          } else {
            if (at < 0) fail(`local address ${hp.ip} does not exist in ${key}`);
            existing.localAddresses.splice(at, 1);
          }
        }
        break;
      }
      default:
        break;
    }
  }
  for (const s of services.values()) {
    finishService(s, null, (what) => {
      throw new ConfigError(file, s.source.line, what);
    });
  }
  return { services: [...services.values()], format: 'ipvsadm-save', notes };
}

function serviceIdentity(
  p: Parsed,
  one: (k: string) => string | undefined,
  has: (k: string) => boolean,
  _file: string,
  _line: number,
  fail: Fail,
): { protocol: Protocol; vip: string; vport: number; family: 4 | 6; fwmark?: number } {
  const kinds = (['tcp', 'udp', 'sctp', 'fwmark', 'icmp', 'match'] as const).filter((k) => has(k));
  if (kinds.length === 0) fail(`${p.commandText} needs a service (-t, -u, --sctp-service or -f)`);
  if (kinds.length > 1) fail(`more than one service given (${kinds.join(', ')})`);
  const kind = kinds[0]!;
  if (kind === 'icmp' || kind === 'match') fail(`DPVS ${kind} services are not supported by lvsaudit`);
  const text = one(kind)!;
  if (kind === 'fwmark') {
    return { protocol: 'tcp', vip: '', vport: 0, family: has('ipv6') ? 6 : 4, fwmark: parseFwmark(text, fail) };
  }
  if (has('ipv6')) fail('-6 is only valid with -f (fwmark services)');
  const hp = parseHostPort(text);
  if (!hp) fail(`bad virtual service address "${text}"`);
  return { protocol: kind, vip: hp.ip, vport: hp.port ?? 0, family: hp.family };
}

function applyServiceOptions(
  s: Service,
  one: (k: string) => string | undefined,
  has: (k: string) => boolean,
  isAdd: boolean,
  fail: Fail,
): void {
  if (has('sched')) s.scheduler = parseScheduler(one('sched'), fail);
  if (has('schedflags')) s.schedFlags = parseSchedFlags(one('schedflags')!, fail);
  if (has('persistent')) {
    const v = one('persistent')!;
    s.persistenceTimeout = v === '' ? DEFAULT_PERSISTENCE : parseTimeout(v, fail);
  } else if (!isAdd && has('netmask') && s.persistenceTimeout === null) {
    fail('-M needs a persistent service (-p)');
  }
  if (has('netmask')) setPersistenceMask(s, one('netmask')!, fail);
  if (has('ops')) s.ops = true;
  if (has('pe')) s.pe = one('pe')!;
  if (has('synproxy')) {
    const v = one('synproxy')!.toLowerCase();
    if (['enable', 'on', '1', 'yes', 'true'].includes(v)) s.synproxy = true;
    else if (['disable', 'off', '0', 'no', 'false'].includes(v)) s.synproxy = false;
    else fail(`bad --synproxy value "${v}" (enable or disable)`);
  }
  if (s.ops && s.protocol !== 'udp' && s.fwmark === undefined) fail('ops (one-packet scheduling) is only for UDP services');
}

function applyTunnelOptions(
  rs: RealServer,
  one: (k: string) => string | undefined,
  has: (k: string) => boolean,
  fail: Fail,
): void {
  const any = has('tuntype') || has('tunport') || has('nocsum') || has('csum') || has('remcsum');
  if (!any) return;
  if (rs.method !== 'tun') fail('tunnel options need the tunnel method (-i)');
  if (has('tuntype')) {
    const t = one('tuntype')!.toLowerCase();
    if (t !== 'ipip' && t !== 'gue' && t !== 'gre') fail(`bad tunnel type "${t}" (ipip, gue or gre)`);
    rs.tunnelType = t as TunnelType;
  }
  if (has('tunport')) {
    const p = parsePort(one('tunport')!);
    if (p === null || p === 0) fail(`bad tunnel port "${one('tunport')}"`);
    rs.tunnelPort = p;
  }
  const csum = (['nocsum', 'csum', 'remcsum'] as const).filter((k) => has(k));
  if (csum.length > 1) fail('more than one tunnel checksum option');
  if (csum[0]) rs.tunnelCsum = csum[0];
  if (rs.tunnelType === 'gue' && rs.tunnelPort === undefined) fail('--tun-type gue needs --tun-port');
  if (rs.tunnelType !== 'gue' && rs.tunnelPort !== undefined) fail('--tun-port is only for --tun-type gue');
  if (rs.tunnelType === undefined || rs.tunnelType === 'ipip') {
    if (rs.tunnelCsum !== undefined) fail('tunnel checksum options are only for gue and gre tunnels');
  }
}

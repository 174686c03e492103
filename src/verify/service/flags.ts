/**
 * A service from `verify` flags (cli.md): --vip IP:PORT --mode nat|dr|tun|fullnat
 * --rs IP[:PORT][@WEIGHT]… --scheduler S [--laddr LIP…] [--persistence [T]] [--protocol P].
 * Same checks as the config parsers; errors name the option instead of a line.
 */
import { type ForwardMethod, type Service, type ServiceSet, ConfigError, newService, parseHostPort } from './model.js';
import {
  type Fail,
  DEFAULT_PERSISTENCE,
  MAX_PERSISTENCE,
  addRealServer,
  finishService,
  parseProtocol,
  parseScheduler,
  parseWeight,
} from './build.js';

export interface ServiceFlags {
  vip: string;
  mode: string;
  rs: string[];
  scheduler?: string;
  laddr?: string[];
  /** Seconds, or true for the default 360 s (§1.11). */
  persistence?: number | boolean;
  protocol?: string;
}

const FLAGS_FILE = 'command line';

function failFor(option: string, value: string): Fail {
  return (what) => {
    throw new ConfigError(FLAGS_FILE, 0, `${option} ${JSON.stringify(value)}: ${what}`);
  };
}

export function serviceFromFlags(f: ServiceFlags): Service {
  const vipFail: Fail = failFor('--vip', f.vip);
  const hp = parseHostPort(f.vip);
  if (!hp) vipFail('not IP:PORT (IPv6 as [addr]:port)');
  if (hp.port === null) vipFail('needs a port (IP:PORT)');
  const modeFail: Fail = failFor('--mode', f.mode);
  const mode = f.mode.toLowerCase();
  const method: ForwardMethod | undefined = (
    { nat: 'nat', dr: 'dr', tun: 'tun', fullnat: 'fullnat', fnat: 'fullnat' } as Record<string, ForwardMethod>
  )[mode];
  if (!method) modeFail('must be nat, dr, tun or fullnat');
  const protocol = f.protocol === undefined ? 'tcp' : parseProtocol(f.protocol, failFor('--protocol', f.protocol));
  const s = newService({ protocol, vip: hp.ip, vport: hp.port, family: hp.family, source: { file: FLAGS_FILE, line: 0 } });
  if (f.scheduler !== undefined) s.scheduler = parseScheduler(f.scheduler, failFor('--scheduler', f.scheduler));
  if (f.persistence !== undefined && f.persistence !== false) {
    const t = f.persistence === true ? DEFAULT_PERSISTENCE : f.persistence;
    if (!Number.isInteger(t) || t < 1 || t > MAX_PERSISTENCE) {
      failFor('--persistence', String(f.persistence))(`must be 1..${MAX_PERSISTENCE} seconds`);
    }
    s.persistenceTimeout = t;
  }
  if (f.rs.length === 0) failFor('--rs', '')('at least one real server is needed');
  for (const text of f.rs) {
    const fail: Fail = failFor('--rs', text);
    // IP[:PORT][@WEIGHT]; the weight is split off first so "[v6]:80@3" and "v6@3" both work.
    const at = text.lastIndexOf('@');
    const addrText = at >= 0 ? text.slice(0, at) : text;
    const weight = at >= 0 ? parseWeight(text.slice(at + 1), fail) : 1;
    const rhp = parseHostPort(addrText);
    if (!rhp) fail('not IP[:PORT][@WEIGHT]');
    addRealServer(s, { ip: rhp.ip, port: rhp.port ?? s.vport, weight, method, source: { file: FLAGS_FILE, line: 0 } }, fail);
  }
  for (const l of f.laddr ?? []) {
    const fail: Fail = failFor('--laddr', l);
    if (method !== 'fullnat') fail('local addresses only apply to --mode fullnat');
    const lhp = parseHostPort(l);
    if (!lhp || lhp.port !== null) fail('not an IP address');
    if (s.localAddresses.includes(lhp.ip)) fail('given twice');
    s.localAddresses.push(lhp.ip);
  }
  finishService(s, method, failFor('--vip', f.vip));
  return s;
}

export function serviceSetFromFlags(f: ServiceFlags): ServiceSet {
  return { services: [serviceFromFlags(f)], format: 'flags', notes: [] };
}

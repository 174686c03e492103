/**
 * Validation shared by every config front end (ipvsadm rules and listings, keepalived, flags),
 * so the same mistake gets the same message whichever way the service was written down.
 */
import {
  type ForwardMethod,
  type Protocol,
  type RealServer,
  type Service,
  canonicalIp,
  commonMethod,
  formatHostPort,
  normaliseMask,
  serviceKey,
} from './model.js';

/** Reports a problem at the current line; never returns. */
export type Fail = (what: string) => never;

/** ipvsadm MAX_TIMEOUT: 31 days. */
export const MAX_PERSISTENCE = 86400 * 31;
/** IPVS_SVC_PERSISTENT_TIMEOUT (§1.11). */
export const DEFAULT_PERSISTENCE = 360;

export const SCHED_FLAG_NAMES = ['sh-port', 'sh-fallback', 'mh-port', 'mh-fallback', 'flag-1', 'flag-2', 'flag-3'];

export function parseWeight(text: string | undefined, fail: Fail): number {
  if (text === undefined || !/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    return fail(`weight must be a number 0..65535, got "${text ?? ''}"`);
  }
  return Number(text);
}

export function parseTimeout(text: string, fail: Fail): number {
  if (!/^\d{1,8}$/.test(text)) return fail(`persistence timeout must be a number of seconds, got "${text}"`);
  const n = Number(text);
  if (n < 1 || n > MAX_PERSISTENCE) return fail(`persistence timeout ${n} out of range 1..${MAX_PERSISTENCE}`);
  return n;
}

export function parseFwmark(text: string, fail: Fail): number {
  const n = /^0x[0-9a-f]{1,8}$/i.test(text) ? parseInt(text, 16) : /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 0xffffffff)) return fail(`bad fwmark "${text}" (1..4294967295)`);
  return n;
}

/**
 * Every scheduler a supported director knows: the mainline kernel's ip_vs_*.c modules (the list
 * keepalived.conf(5) gives for lvs_sched) plus DPVS's conhash. A name outside it would make
 * ipvsadm fail to load a module (or DPVS refuse the service), so it is a config error here.
 */
export const KNOWN_SCHEDULERS: readonly string[] = [
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos', 'conhash',
];

export function parseScheduler(text: string | undefined, fail: Fail): string {
  if (text === undefined || text === '') return fail('missing scheduler name');
  const name = text.toLowerCase();
  if (!KNOWN_SCHEDULERS.includes(name)) {
    return fail(`unknown scheduler "${text}" (one of ${KNOWN_SCHEDULERS.join(', ')})`);
  }
  return name;
}

export function parseSchedFlags(text: string, fail: Fail): string[] {
  const out: string[] = [];
  for (const f of text.split(',')) {
    if (!SCHED_FLAG_NAMES.includes(f)) return fail(`unknown scheduler flag "${f}" (${SCHED_FLAG_NAMES.join(', ')})`);
    if (!out.includes(f)) out.push(f);
  }
  return out.sort();
}

export function addSchedFlag(s: Service, flag: string): void {
  if (!s.schedFlags.includes(flag)) {
    s.schedFlags.push(flag);
    s.schedFlags.sort();
  }
}

export function setPersistenceMask(s: Service, text: string, fail: Fail): void {
  s.persistenceMask = normaliseMask(text, s.family, fail);
}

export function parseProtocol(text: string, fail: Fail): Protocol {
  const p = text.toLowerCase();
  if (p === 'tcp' || p === 'udp' || p === 'sctp') return p;
  return fail(`unknown protocol "${text}" (TCP, UDP or SCTP)`);
}

export function parseAddress(text: string, what: string, fail: Fail): { ip: string; family: 4 | 6 } {
  const a = canonicalIp(text);
  if (!a) return fail(`bad ${what} address "${text}"`);
  return a;
}

/**
 * Adds a real server after the checks ipvsadm and the kernel make: no duplicate destination,
 * address family must match for NAT and DR (the kernel allows mixed families only for tunnels,
 * and DPVS FullNAT translates between families), and DR/TUN destinations on a non-fwmark service
 * get the VIP port, which ipvsadm enforces because neither method can rewrite the port.
 */
export function addRealServer(s: Service, rs: RealServer, fail: Fail): RealServer {
  const fam = rs.ip.includes(':') ? 6 : 4;
  if ((rs.method === 'nat' || rs.method === 'dr') && s.fwmark === undefined && fam !== s.family) {
    fail(`real server ${rs.ip} is IPv${fam} but ${s.vip} is IPv${s.family} (${rs.method.toUpperCase()} cannot change family)`);
  }
  if ((rs.method === 'dr' || rs.method === 'tun') && s.fwmark === undefined) rs.port = s.vport;
  const taken = destinationIndex(s.realServers);
  const key = formatHostPort(rs.ip, rs.port);
  if (taken.has(key)) fail(`real server ${key} already exists in ${serviceKey(s)}`);
  if (rs.method !== 'tun') {
    delete rs.tunnelType;
    delete rs.tunnelPort;
    delete rs.tunnelCsum;
  }
  s.realServers.push(rs);
  taken.add(key);
  return rs;
}

/**
 * The destinations already in a service, for the duplicate check: scanning the array for every
 * added server made a config of n real servers cost n² comparisons. The index lives beside the
 * array (not in the plain-data model) and is rebuilt when a parser removed entries behind its
 * back (ipvsadm -d / -e splice the array), which a size mismatch reveals.
 */
const destinationIndexes = new WeakMap<RealServer[], Set<string>>();

function destinationIndex(list: RealServer[]): Set<string> {
  let index = destinationIndexes.get(list);
  if (index === undefined || index.size !== list.length) {
    index = new Set(list.map((r) => formatHostPort(r.ip, r.port)));
    destinationIndexes.set(list, index);
  }
  return index;
}

/**
 * Scheduler flags are three bits in the kernel (IP_VS_SVC_F_SCHED1..3); sh and mh give bits 1
 * and 2 their own names (sh-fallback = flag-1, sh-port = flag-2; mh likewise) and ipvsadm prints
 * them by the scheduler's names. Canonical form: the scheduler's names, sorted. A sh-/mh- name
 * under another scheduler is an error for ipvsadm; keepalived ignores it (`lenient`).
 */
export function canonicalSchedFlags(s: Service, fail: Fail, lenient: boolean): void {
  const bits = new Set<number>();
  for (const f of s.schedFlags) {
    const m = /^(sh|mh|flag)-(fallback|port|1|2|3)$/.exec(f);
    if (!m) {
      fail(`unknown scheduler flag "${f}"`);
      continue;
    }
    const [, owner, what] = m;
    if (owner !== 'flag' && owner !== s.scheduler) {
      if (lenient) continue;
      fail(`scheduler flag ${f} needs scheduler ${owner}, not ${s.scheduler}`);
    }
    bits.add(what === 'fallback' ? 1 : what === 'port' ? 2 : Number(what));
  }
  const named = s.scheduler === 'sh' || s.scheduler === 'mh';
  const names = [...bits].map((b) =>
    named && b === 1 ? `${s.scheduler}-fallback` : named && b === 2 ? `${s.scheduler}-port` : `flag-${b}`,
  );
  s.schedFlags = names.sort();
}

/** Last checks once a service is complete; sets the convenience `method`. */
export function finishService(s: Service, fallbackMethod: ForwardMethod | null, fail: Fail, lenientFlags = false): void {
  canonicalSchedFlags(s, fail, lenientFlags);
  if (s.fwmark === undefined && s.vport === 0 && s.persistenceTimeout === null) {
    fail(`zero port specified for non-persistent service ${serviceKey(s)}`);
  }
  if (s.persistenceTimeout === null) s.persistenceMask = null;
  // A LIP is the source address on the director→RS leg (§2.1), so it has the RS's family.
  for (const r of s.realServers) {
    if (r.method !== 'fullnat') continue;
    const fam = r.ip.includes(':');
    const bad = s.localAddresses.find((l) => l.includes(':') !== fam);
    if (bad) fail(`local address ${bad} and real server ${r.ip} are of different address families`);
  }
  s.method = s.realServers.length ? commonMethod(s.realServers) : fallbackMethod;
}

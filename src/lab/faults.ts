/**
 * The lab's one fault vocabulary, the same for every director kind:
 *   rsN:<kind>  a real-server misconfiguration (rs1 or rs2): arp_ignore=0, arp_announce=0,
 *               no-vip, gateway-bypass, reply-from-rip; or weight0-not-applied, the operator's
 *               mistake about rsN (its weight set to 0 in the configuration the audit reads,
 *               never applied to the running director);
 *   <switch>    a director switch: the reference director's fault switches
 *               (src/replay/director/faults.ts), nftables' `routed` variant, or DPVS's
 *               `lip-exhausted` (lab/dpvs/exhaustion.ts).
 * Which director kinds and modes can produce each one is in the tables below; anything else is a
 * one-line usage error (exit 2) that names the kinds that can.
 */
import { InputError } from '../errors.js';
import { FAULTS as REFERENCE_SWITCHES, parseFaults } from '../replay/director/faults.js';
import type { LabMode, RsName } from './plan.js';

export type DirectorKind = 'reference' | 'nftables' | 'ipvs' | 'dpvs';
export const DIRECTOR_KINDS: readonly DirectorKind[] = ['reference', 'nftables', 'ipvs', 'dpvs'];

/** Methods each director kind runs. */
export const KIND_MODES: Readonly<Record<DirectorKind, readonly LabMode[]>> = {
  reference: ['nat', 'dr', 'fullnat'],
  nftables: ['nat', 'dr'],
  ipvs: ['nat', 'dr', 'tun'],
  dpvs: ['fullnat'],
};

export type RsFaultKind = 'arp_ignore=0' | 'arp_announce=0' | 'no-vip' | 'gateway-bypass' | 'reply-from-rip' | 'weight0-not-applied';

export interface RsFaultInfo {
  modes: readonly LabMode[];
  kinds: readonly DirectorKind[];
  what: string;
  /** Error rules a correct checker reports for it (at least). */
  rules: readonly string[];
  /** Where a method is caught by other rules than `rules`. */
  rulesByMode?: Partial<Record<LabMode, readonly string[]>>;
}

export const RS_FAULTS: Readonly<Record<RsFaultKind, RsFaultInfo>> = {
  'arp_ignore=0': {
    modes: ['dr', 'tun'],
    kinds: ['reference', 'nftables', 'ipvs'],
    what: 'the real server answers who-has VIP (its VIP on lo) on its LAN port',
    // The director answers the same who-has: two MACs claim the VIP.
    rules: ['arp.vip-answered-by-rs', 'arp.vip-conflict'],
  },
  'arp_announce=0': {
    modes: ['dr', 'tun'],
    kinds: ['reference', 'nftables', 'ipvs'],
    what: 'the real server sends ARP requests with the VIP as sender address (the router accepts them at once)',
    // Moments after the director answered the router for the VIP: two MACs claim it.
    rules: ['arp.vip-announced-by-rs', 'arp.vip-conflict'],
  },
  'no-vip': {
    modes: ['dr'],
    kinds: ['reference', 'nftables', 'ipvs'],
    what: 'the real server does not have the VIP at all (Linux drops the forwarded SYNs silently)',
    rules: ['dr.vip-not-bound'],
  },
  'gateway-bypass': {
    modes: ['nat', 'fullnat'],
    kinds: ['reference', 'nftables', 'ipvs', 'dpvs'],
    what: "the real server routes its replies through a router, not the director (NAT: its default route, replies skip the un-NAT; FullNAT: its route to the LIP network, replies to the LIP never come back)",
    rules: ['nat.reply-bypass', 'nat.rip-leak'],
    // FullNAT: the replies to the LIP leave the real server for the router's MAC and never
    // come back; nat.reply-bypass judges the reply path of FullNAT too (nat.rip-leak cannot:
    // the client never sees a RIP).
    rulesByMode: { fullnat: ['nat.reply-bypass'] },
  },
  'reply-from-rip': {
    modes: ['dr'],
    kinds: ['reference', 'nftables'],
    what: 'the real server has no VIP; an nftables rule rewrites dst VIP to its RIP, so it answers from the RIP',
    rules: ['dr.reply-src'],
  },
  // Every director kind honours weight 0 for new connections (DPVS v1.10.2 too: its rr, wrr and
  // wlc skip a destination whose weight is 0, conhash gives it no node on the ring). So a
  // quiesced server gets new connections only where the director was never told: the
  // keepalived/ipvsadm file was edited, `ipvsadm -e` (or a keepalived reload) was not run. The
  // director runs the case's service; verify is given the edited text (auditedServiceText).
  'weight0-not-applied': {
    modes: ['nat', 'dr', 'tun', 'fullnat'],
    kinds: ['reference', 'ipvs', 'dpvs'],
    what: 'the configuration given to verify has weight 0 for the real server, the running director still its old weight (`ipvsadm -e … -w 0` never run)',
    rules: ['sched.weight0'],
  },
};

export interface RsFault {
  rs: RsName;
  kind: RsFaultKind;
}

export interface LabFaults {
  /** Director switches (reference: its fault switches; nftables: `routed`). */
  director: string[];
  rs: RsFault[];
}

export const NO_FAULTS: LabFaults = { director: [], rs: [] };

/** nftables director switches: not faults but a variant of the director. */
export const NFTABLES_SWITCHES: Readonly<Record<string, string>> = {
  routed: 'DR through the kernel\'s IP forwarding (TTL −1, profile linux) instead of an L2 rewrite',
};

/**
 * Older spellings kept as aliases (the nftables and ipvs labs had them, always on rs1). They are
 * documented in cli.md as aliases; the canonical form is rsN:<kind>.
 */
export const FAULT_ALIASES: Readonly<Record<string, string>> = {
  'arp-ignore0': 'rs1:arp_ignore=0',
  'arp-announce0': 'rs1:arp_announce=0',
  'nat-reply-bypass': 'rs1:gateway-bypass',
  'reply-bypass': 'rs1:gateway-bypass',
  'vip-not-bound': 'rs1:no-vip',
  'reply-from-rip': 'rs1:reply-from-rip',
};

/** DPVS director faults: driven into DPVS by traffic or its configuration (lab/dpvs/). */
export const DPVS_SWITCHES: Readonly<Record<string, string>> = {
  'lip-exhausted':
    "one LIP's ports toward one real server all in use: a SYN flood from the client's ports 1–65535 (scheduler conhash, so all go to one server) holds 64 511 half-open connections, DPVS drops the SYNs after",
};

/** The rules that catch a DPVS director fault. */
export const DPVS_SWITCH_RULES: Readonly<Record<string, readonly string[]>> = {
  'lip-exhausted': ['flow.not-forwarded'],
};

function kindsForSwitch(name: string): DirectorKind[] {
  const base = name.split('=', 1)[0]!;
  const kinds: DirectorKind[] = [];
  if (Object.prototype.hasOwnProperty.call(REFERENCE_SWITCHES, base)) kinds.push('reference');
  if (Object.prototype.hasOwnProperty.call(NFTABLES_SWITCHES, base)) kinds.push('nftables');
  if (Object.prototype.hasOwnProperty.call(DPVS_SWITCHES, name)) kinds.push('dpvs');
  return kinds;
}

/** Split comma lists, trim, resolve aliases. */
export function faultWords(list: readonly string[]): string[] {
  return list
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0)
    .map((v) => FAULT_ALIASES[v] ?? v);
}

/**
 * Parse `--fault` values for a director kind and mode. Unknown names, faults the kind cannot
 * produce and faults that do not apply to the mode are InputError (exit 2).
 */
export function parseLabFaults(kind: DirectorKind, mode: LabMode, list: readonly string[]): LabFaults {
  const out: LabFaults = { director: [], rs: [] };
  for (const word of faultWords(list)) {
    const m = /^(rs\d+):(.+)$/.exec(word);
    if (m) {
      const info = (RS_FAULTS as Readonly<Record<string, RsFaultInfo>>)[m[2]!];
      if (!info) throw new InputError(`--fault ${word}: unknown real-server fault (known: ${Object.keys(RS_FAULTS).map((k) => `rsN:${k}`).join(', ')})`);
      if (m[1] !== 'rs1' && m[1] !== 'rs2') throw new InputError(`--fault ${word}: the lab has real servers rs1 and rs2`);
      if (!info.kinds.includes(kind)) throw new InputError(`--fault ${word}: --director ${kind} cannot produce it (${info.kinds.join(', ')} can)`);
      if (!info.modes.includes(mode)) throw new InputError(`--fault ${word} applies to --mode ${info.modes.join('/')}, not ${mode}`);
      out.rs.push({ rs: m[1], kind: m[2] as RsFaultKind });
      continue;
    }
    const kinds = kindsForSwitch(word);
    if (kinds.length === 0) {
      throw new InputError(
        `--fault ${word}: unknown (real-server faults: ${Object.keys(RS_FAULTS).map((k) => `rsN:${k}`).join(', ')}; director switches: \`lvsaudit replay --list\`, nftables: ${Object.keys(NFTABLES_SWITCHES).join(', ')}, dpvs: ${Object.keys(DPVS_SWITCHES).join(', ')})`,
      );
    }
    if (!kinds.includes(kind)) throw new InputError(`--fault ${word}: --director ${kind} cannot produce it (${kinds.join(', ')} can)`);
    if (kind === 'nftables' && word === 'routed' && mode !== 'dr') throw new InputError(`--fault routed applies to --mode dr, not ${mode}`);
    out.director.push(word);
  }
  if (kind === 'reference') parseFaults(out.director); // checks switch arguments (`drop-every-nth=3`)
  return out;
}

/** The rules that catch a real-server fault in a method. */
export function rsFaultRules(kind: RsFaultKind, mode: LabMode): readonly string[] {
  const info = RS_FAULTS[kind];
  return info.rulesByMode?.[mode] ?? info.rules;
}

/** The faults as `--fault` words, in the canonical spelling. */
export function faultLabels(f: LabFaults): string[] {
  return [...f.director, ...f.rs.map((x) => `${x.rs}:${x.kind}`)];
}

export function hasRsFault(f: LabFaults, rs: RsName, kind: RsFaultKind): boolean {
  return f.rs.some((x) => x.rs === rs && x.kind === kind);
}

/** Check that a director kind runs a mode (InputError naming the kinds that do). */
export function checkKindMode(kind: DirectorKind, mode: string): LabMode {
  const known = KIND_MODES[kind];
  if (known.includes(mode as LabMode)) return mode as LabMode;
  const others = DIRECTOR_KINDS.filter((k) => KIND_MODES[k].includes(mode as LabMode));
  if (others.length === 0) throw new InputError(`--mode ${mode}: expected one of nat, dr, tun, fullnat`);
  throw new InputError(`--mode ${mode}: --director ${kind} runs ${known.join(', ')} (${mode}: ${others.join(', ')})`);
}

/**
 * The service text verify is given for a case: what the director reports, with the operator's
 * edits that never reached it (rsN:weight0-not-applied: rsN's `-w` is 0). Lines are ipvsadm-save
 * form (`-a -t VIP:port -r RIP:port … -w N`); a real-server line without `-w` gets one.
 */
export function auditedServiceText(text: string, faults: LabFaults, rips: Readonly<Record<RsName, string>>): string {
  const quiesced = faults.rs.filter((f) => f.kind === 'weight0-not-applied').map((f) => rips[f.rs]);
  if (quiesced.length === 0) return text;
  return text
    .split('\n')
    .map((line) => {
      const words = line.trim().split(/\s+/);
      const r = words.indexOf('-r');
      if (words[0] !== '-a' || r < 0 || r + 1 >= words.length) return line;
      const target = words[r + 1]!;
      const ip = target.startsWith('[') ? target.slice(1, target.indexOf(']')) : target.split(':', 1)[0]!;
      if (!quiesced.includes(ip)) return line;
      const w = words.indexOf('-w');
      if (w >= 0 && w + 1 < words.length) words[w + 1] = '0';
      else words.push('-w', '0');
      return words.join(' ');
    })
    .join('\n');
}

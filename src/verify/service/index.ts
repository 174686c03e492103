/**
 * Entry point for service configs: detects the format from the content (cli.md "verify":
 * ipvsadm-save -n / ipvsadm -Sn, ipvsadm -Ln, keepalived.conf) and parses it into the model.
 */
import { readFile } from 'node:fs/promises';
import { type ConfigFormat, type ServiceSet, ConfigError } from './model.js';
import { parseIpvsadmRules } from './ipvsadm-rules.js';
import { parseIpvsadmList } from './ipvsadm-list.js';
import { type KeepalivedOptions, parseKeepalived } from './keepalived.js';
import { PROC_CONN_HEADER, type ProcOptions, looksLikeProcIpVs, parseProcIpVs } from './proc.js';

export * from './model.js';
export { parseIpvsadmRules } from './ipvsadm-rules.js';
export { parseIpvsadmList } from './ipvsadm-list.js';
export { parseKeepalived, type KeepalivedOptions } from './keepalived.js';
export {
  DEFAULT_PROC_HZ,
  crossCheckConnections,
  parseProcIpVs,
  parseProcIpVsConn,
  readProcIpVs,
  type ConnectionMismatch,
  type KernelConnection,
  type KernelEndpoint,
  type ProcDestination,
  type ProcIpVs,
  type ProcOptions,
} from './proc.js';
export { KNOWN_SCHEDULERS } from './build.js';
export { toIpvsadmSave, type SaveOptions } from './save.js';
export { serviceFromFlags, serviceSetFromFlags, type ServiceFlags } from './flags.js';

// A keepalived line may carry a config-id condition (`@main virtual_server …`).
const KEEPALIVED_TOP =
  /^\s*((@\^?\S+\s+)?(virtual_server|virtual_server_group|local_address_group|global_defs|vrrp_instance|vrrp_sync_group|vrrp_script|static_ipaddress|static_routes|include[rmwba]?)(\s|\{|$)|\$[A-Za-z_][A-Za-z0-9_]*=|~(SEQx?|LST)\()/;

/** The config format of `text`, or null when it is none of the supported ones. */
export function detectFormat(text: string): Exclude<ConfigFormat, 'flags' | 'inferred'> | null {
  const lines = text.split(/\r?\n/);
  if (lines.some((l) => KEEPALIVED_TOP.test(l))) return 'keepalived';
  const first = lines.find((l) => l.trim() !== '' && !/^\s*[#!]/.test(l));
  if (first === undefined) return null;
  // /proc/net/ip_vs and ipvsadm -Ln share their header lines; the addresses tell them apart.
  if (looksLikeProcIpVs(lines)) return 'proc-ip-vs';
  if (/^IP Virtual Server version/.test(first) || /^Prot LocalAddress:Port/.test(first)) return 'ipvsadm-list';
  if (/^(TCP|UDP|SCTP|FWM)\s/.test(first) || /^\s+->\s/.test(first)) return 'ipvsadm-list';
  if (/^\s*((\S*\/)?ipvsadm\s+)?-/.test(first)) return 'ipvsadm-save';
  return null;
}

/** Options of formats that depend on the director they came from. */
export interface ConfigOptions extends KeepalivedOptions, ProcOptions {}

/** Parses a service config of any supported format. Throws ConfigError (exit 2) on bad input. */
export function parseServiceConfig(text: string, fileName: string, opts: ConfigOptions = {}): ServiceSet {
  const format = detectFormat(text);
  if (format === null) {
    const lines = text.split(/\r?\n/);
    const idx = lines.findIndex((l) => l.trim() !== '' && !/^\s*[#!]/.test(l));
    if (idx < 0) throw new ConfigError(fileName, 0, 'empty config: no virtual service defined');
    if (PROC_CONN_HEADER.test(lines[idx]!.trim())) {
      throw new ConfigError(fileName, idx + 1, 'this is /proc/net/ip_vs_conn, the connection table; give /proc/net/ip_vs as the config');
    }
    throw new ConfigError(
      fileName,
      idx + 1,
      'unrecognised config format (expected ipvsadm-save -n, ipvsadm -Ln output, /proc/net/ip_vs or keepalived.conf)',
    );
  }
  const set =
    format === 'keepalived'
      ? parseKeepalived(text, fileName, opts)
      : format === 'ipvsadm-list'
        ? parseIpvsadmList(text, fileName)
        : format === 'proc-ip-vs'
          ? parseProcIpVs(text, fileName, opts)
          : parseIpvsadmRules(text, fileName);
  if (set.services.length === 0) throw new ConfigError(fileName, 0, `no virtual service defined (read as ${format})`);
  return set;
}

/** Reads and parses a config file; unreadable files are ConfigErrors too. */
export function loadServiceConfig(path: string): Promise<ServiceSet> {
  return loadServiceConfigWith(path, {});
}

/** loadServiceConfig with the director-dependent options (keepalived config id, kernel HZ). */
export async function loadServiceConfigWith(path: string, opts: ConfigOptions): Promise<ServiceSet> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'read error';
    throw new ConfigError(path, 0, `cannot read config (${code})`);
  }
  return parseServiceConfig(text, path, opts);
}

/** Merges several configs (repeated --config) into one set; a service defined twice is an error. */
export function mergeServiceSets(sets: ServiceSet[]): ServiceSet {
  if (sets.length === 1) return sets[0]!;
  const seen = new Map<string, string>();
  const out: ServiceSet = { services: [], format: sets[0]?.format ?? 'inferred', notes: [] };
  for (const set of sets) {
    for (const s of set.services) {
      const key = s.fwmark !== undefined ? `fwm:${s.fwmark}:v${s.family}` : `${s.protocol}:${s.vip}:${s.vport}`;
      const prev = seen.get(key);
      if (prev) throw new ConfigError(s.source.file, s.source.line, `service also defined at ${prev}`);
      seen.set(key, `${s.source.file}:${s.source.line}`);
      out.services.push(s);
    }
    out.notes.push(...set.notes);
  }
  return out;
}

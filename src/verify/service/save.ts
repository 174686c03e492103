/**
 * Model → `ipvsadm-save -n` rule text, for `ipvsadm-restore` (the lab configures a real IPVS
 * kernel with it). Mainline option spellings are used where mainline has them; FullNAT
 * destinations (-b), local addresses (-P -z) and SYNPROXY (-j) are Alibaba/DPVS ipvsadm only,
 * so `mainline: true` refuses them instead of writing lines a mainline ipvsadm rejects.
 */
import { type ForwardMethod, type Service, type ServiceSet, ConfigError, formatHostPort } from './model.js';

const SWITCH: Record<ForwardMethod, string> = { nat: '-m', dr: '-g', tun: '-i', fullnat: '-b' };

export interface SaveOptions {
  /** Refuse ALI/DPVS-only features (FullNAT, local addresses, synproxy). */
  mainline?: boolean;
}

function serviceSpec(s: Service): string {
  if (s.fwmark !== undefined) return `-f ${s.fwmark}${s.family === 6 ? ' -6' : ''}`;
  const flag = s.protocol === 'tcp' ? '-t' : s.protocol === 'udp' ? '-u' : '--sctp-service';
  return `${flag} ${formatHostPort(s.vip, s.vport)}`;
}

export function toIpvsadmSave(set: ServiceSet, opts: SaveOptions = {}): string {
  const out: string[] = [];
  for (const s of set.services) {
    const refuse = (what: string): never => {
      throw new ConfigError(s.source.file, s.source.line, `${what} cannot be written for mainline ipvsadm`);
    };
    const spec = serviceSpec(s);
    let line = `-A ${spec} -s ${s.scheduler}`;
    if (s.schedFlags.length) line += ` -b ${s.schedFlags.join(',')}`;
    if (s.persistenceTimeout !== null) {
      line += ` -p ${s.persistenceTimeout}`;
      if (s.persistenceMask !== null) line += ` -M ${s.persistenceMask}`;
    }
    if (s.pe) line += ` --pe ${s.pe}`;
    // "-o" rather than the bare "ops" some ipvsadm versions print: every version parses -o.
    if (s.ops) line += ' -o';
    if (s.synproxy) {
      if (opts.mainline) refuse('synproxy');
      line += ' -j enable';
    }
    out.push(line);
    for (const r of s.realServers) {
      if (r.method === 'fullnat' && opts.mainline) refuse('FullNAT destination');
      let d = `-a ${spec} -r ${formatHostPort(r.ip, r.port)} ${SWITCH[r.method]} -w ${r.weight}`;
      if (r.method === 'tun' && r.tunnelType) {
        d += ` --tun-type ${r.tunnelType}`;
        if (r.tunnelPort !== undefined) d += ` --tun-port ${r.tunnelPort}`;
        if (r.tunnelCsum) d += ` --tun-${r.tunnelCsum}`;
      }
      out.push(d);
    }
    for (const l of s.localAddresses) {
      if (opts.mainline) refuse('FullNAT local address');
      out.push(`-P ${spec} -z ${l}`);
    }
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/**
 * Which records a configured run keeps: only those that concern one of its services. Pass 1's
 * sample and pass 2's readers apply the same test, so both see the same records. It is asked
 * of the packed record (./record.ts entry), before any record object is made.
 */
import { ipv4ToString, parseIpv4 } from '../../decode/addr.js';
import { serviceAddresses, servicePorts, type Service } from '../service/model.js';
import { entryMentions, type EntryMatch } from './record.js';
import type { RecordKeep } from './stream.js';

/** Whether a record concerns one of the configured services (any of their addresses or ports,
 *  as source or destination, in the inner or the outer header): a configured run keeps only
 *  those. */
export function keepForServices(services: readonly Service[]): RecordKeep {
  const addrs = serviceAddresses(services);
  // A record's address matches a service address when their texts are equal. For IPv4 the
  // entry holds a number, whose text is ipv4ToString's: the service addresses whose text is
  // that of a number are looked for as that number, any other text never equals it. An IPv6
  // text always has a colon.
  const v4 = new Set<number>();
  const v6 = new Set<string>();
  for (const a of addrs) {
    const n = parseIpv4(a);
    if (n !== null && ipv4ToString(n) === a) v4.add(n | 0);
    if (a.includes(':')) v6.add(a);
  }
  const match: EntryMatch = { v4, v6, ports: servicePorts(services) };
  return (e, n) => entryMentions(e, n, match);
}

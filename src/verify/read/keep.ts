/**
 * Which records a configured run keeps: only those that concern one of its services. Pass 1's
 * sample and pass 2's readers apply the same test, so both see the same records.
 */
import { serviceAddresses, servicePorts, type Service } from '../service/model.js';
import type { PacketRecord } from '../model/record.js';

/** Whether a record concerns one of the configured services (any of their addresses or ports):
 *  a configured run keeps only those. */
export function keepForServices(services: readonly Service[]): (r: PacketRecord) => boolean {
  const addrs = serviceAddresses(services);
  const ports = servicePorts(services);
  return (r) =>
    addrs.has(r.ip.src) ||
    addrs.has(r.ip.dst) ||
    (r.outer !== null && (addrs.has(r.outer.src) || addrs.has(r.outer.dst))) ||
    ports.has(r.sport) ||
    ports.has(r.dport);
}

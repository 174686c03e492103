/**
 * Whether the reference-director lab can run here: root with network namespaces, tcpdump, and
 * the optional libpcap binding `cap` (the live director forwards through it).
 */
import { labUnavailableReason } from '../../src/lab/netns.js';
import { hasCommand } from './env.js';

let capLoads = false;
try {
  await import('cap' as string);
  capLoads = true;
} catch {
  capLoads = false;
}
const labReason = labUnavailableReason();

export const referenceLabReady: boolean = labReason === null && hasCommand('tcpdump') && capLoads;
export const referenceLabReason: string =
  labReason ?? (!capLoads ? "optional module 'cap' does not load" : 'tcpdump not installed');

/**
 * Whether the reference-director lab can run here: root with network namespaces, tcpdump,
 * sysctl (every lab namespace is set up with it), and the optional libpcap binding `cap` (the
 * live director forwards through it).
 */
import { labUnavailableReason } from '../../src/lab/netns.js';
import { capLoads, hasCommand } from './env.js';

const labReason = labUnavailableReason();
const capOk = capLoads();
const tcpdumpOk = hasCommand('tcpdump');
const sysctlOk = hasCommand('sysctl');

export const referenceLabReady: boolean = labReason === null && tcpdumpOk && sysctlOk && capOk;
export const referenceLabReason: string =
  labReason ??
  (!capOk ? "optional module 'cap' does not load" : !tcpdumpOk ? 'tcpdump not installed' : 'sysctl (procps) not installed');

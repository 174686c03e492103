/** ARP diagnosis: engine, rule ids and report types (see analyzer.ts). */
export { ArpAnalyzer, ARP_RULES } from './analyzer.js';
export type { ArpContext, ArpReport, ArpStats, DirectorInference, DirectorMethod, TimelineRow, VipInfo } from './types.js';

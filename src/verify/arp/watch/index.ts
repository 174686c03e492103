/** `lvsaudit arp --watch`: the station table and event detector (pure), state file, formats. */
export { ArpWatcher, CLAIM_WINDOW_NS, REPLY_WINDOW_NS, BURST_GAP_NS } from './detector.js';
export { judgeClaim, answersConflict, afterClaim, type Claim, type ClaimHistory, type ClaimVerdict } from '../conflict.js';
export { StationTable, stationKey } from './stations.js';
export { loadState, saveState, stateJson, type StateJson } from './state.js';
export { eventText, eventJson } from './format.js';
export * from './types.js';

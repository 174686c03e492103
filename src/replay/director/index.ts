/** Reference director: pure core (frames in, frames out) written from lvs-behavior.md. */
export { ReferenceDirector, LPORT_MIN, LPORT_MAX } from './director.js';
export { startLiveDirector, type LiveDirector, type LiveDirectorOptions } from './live.js';
export type { DirectorConfig, DirectorOutput, DirectorEvent, DirectorProfile, DirectorMacs, Side, UoaMode } from './types.js';
export { UOA_MODES } from './types.js';
export { FAULTS, parseFaults, isFaultName, type FaultName, type FaultSet } from './faults.js';
export { ConnTable, TCP_TIMEOUTS, UDP_TIMEOUT_S, nextTcpState, tcpEvent, isActiveState, type Conn, type TcpState } from './conn.js';
export * from './sched/index.js';

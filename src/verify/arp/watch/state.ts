/**
 * The state file of `arp --watch` (`--state FILE`): the station table as JSON, so a restarted
 * watcher remembers every station. Written to a temporary file beside it and renamed over it,
 * so a crash mid-write leaves the previous state, never half a file.
 */
import { readFileSync, renameSync, writeFileSync, existsSync, unlinkSync } from 'node:fs';
import type { AddressBook } from '../addr.js';
import { InputError } from '../../../errors.js';
import { macText, parseMacNum } from '../mac.js';
import { newStation } from './stations.js';
import type { Station, StationRole } from './types.js';

export const STATE_FORMAT = 'lvsaudit-arp-watch-state';
export const STATE_VERSION = 1;

export interface StationJson {
  vlan: string;
  ip: string;
  mac: string;
  previousMac: string | null;
  firstSeen: string;
  lastSeen: string;
  packets: number;
  macChanges: number;
  role: StationRole;
}

export interface StateJson {
  format: typeof STATE_FORMAT;
  version: typeof STATE_VERSION;
  savedAt: string;
  /** Stations dropped at the table bound over every run that used this file. */
  dropped: number;
  /** Oldest-seen first. */
  stations: StationJson[];
}

const ROLES: readonly StationRole[] = ['director', 'real-server', 'vip-claimant', 'other'];

function isoMs(ns: number): string {
  return new Date(Math.floor(ns / 1e6)).toISOString();
}

export function stateJson(stations: Iterable<Station>, dropped: number, nowMs: number, addrs: AddressBook): StateJson {
  const list: StationJson[] = [];
  for (const s of stations) {
    list.push({
      vlan: s.vlan,
      ip: addrs.text(s.ip),
      mac: macText(s.mac),
      previousMac: s.previousMac < 0 ? null : macText(s.previousMac),
      firstSeen: isoMs(s.firstNs),
      lastSeen: isoMs(s.lastNs),
      packets: s.packets,
      macChanges: s.macChanges,
      role: s.role,
    });
  }
  return { format: STATE_FORMAT, version: STATE_VERSION, savedAt: new Date(nowMs).toISOString(), dropped, stations: list };
}

/** Writes the state atomically (temporary file in the same directory, then rename). */
export function saveState(file: string, state: StateJson): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(state)}\n`);
    renameSync(tmp, file);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw new InputError(`${file}: cannot write the state file: ${(e as Error).message}`);
  }
}

function fail(file: string, where: string, what: string): never {
  throw new InputError(`${file}: ${where}: ${what}`);
}

function timeNs(file: string, where: string, v: unknown): number {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) fail(file, where, `not an ISO 8601 time: ${JSON.stringify(v)}`);
  return ms * 1e6;
}

function count(file: string, where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(file, where, `not a count: ${JSON.stringify(v)}`);
  return v;
}

/** Reads a state file; null when it does not exist yet. Anything not understood is an error
 *  naming the file and the station. */
export function loadState(file: string, addrs: AddressBook): { stations: Station[]; dropped: number } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new InputError(`${file}: cannot read the state file: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail(file, 'line 1', `not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null) fail(file, 'line 1', 'not a state object');
  const d = doc as Partial<Record<keyof StateJson, unknown>>;
  if (d.format !== STATE_FORMAT) fail(file, 'format', `not an arp --watch state file (format ${JSON.stringify(d.format)})`);
  if (d.version !== STATE_VERSION) fail(file, 'version', `version ${JSON.stringify(d.version)} is not ${STATE_VERSION}`);
  const dropped = count(file, 'dropped', d.dropped);
  if (!Array.isArray(d.stations)) fail(file, 'stations', 'not a list');
  const stations: Station[] = [];
  d.stations.forEach((x: unknown, i: number) => {
    const where = `station ${i + 1}`;
    if (typeof x !== 'object' || x === null) fail(file, where, 'not an object');
    const j = x as Partial<Record<keyof StationJson, unknown>>;
    if (typeof j.vlan !== 'string' || !/^(\d{1,4}(\.\d{1,4})*)?$/.test(j.vlan)) fail(file, where, `vlan ${JSON.stringify(j.vlan)}`);
    const ip = typeof j.ip === 'string' ? addrs.parse(j.ip) : null;
    if (ip === null) fail(file, where, `ip ${JSON.stringify(j.ip)} is not an IP address`);
    const mac = typeof j.mac === 'string' ? parseMacNum(j.mac) : null;
    if (mac === null) fail(file, where, `mac ${JSON.stringify(j.mac)} is not a MAC`);
    let prev = -1;
    if (j.previousMac !== null) {
      const p = typeof j.previousMac === 'string' ? parseMacNum(j.previousMac) : null;
      if (p === null) fail(file, where, `previousMac ${JSON.stringify(j.previousMac)} is not a MAC`);
      prev = p;
    }
    if (typeof j.role !== 'string' || !(ROLES as readonly string[]).includes(j.role)) fail(file, where, `role ${JSON.stringify(j.role)}`);
    const s = newStation(j.vlan, ip, mac, timeNs(file, where, j.firstSeen), j.role as StationRole);
    s.lastNs = timeNs(file, where, j.lastSeen);
    s.changedNs = s.lastNs;
    s.previousMac = prev;
    s.packets = count(file, where, j.packets);
    s.macChanges = count(file, where, j.macChanges);
    stations.push(s);
  });
  return { stations, dropped };
}

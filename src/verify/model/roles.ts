/**
 * Who the ARP / neighbor discovery analysis (verify/arp) took each MAC for: the `arp` report and
 * verify's result both carry it, so it lives below both.
 */
import type { Evidence } from './findings.js';

/** How the director MACs of a VIP became known; printed so the user can check the guess. */
export type DirectorMethod =
  | 'given' // --director-mac
  | 'director-ip' // claims a --director-ip address
  | 'director-capture' // claims/receives the VIP and forwards VIP traffic, seen in a director capture
  | 'forwarding' // claims/receives the VIP and forwards VIP traffic (any capture)
  | 'hands-to-real-servers' // sends the clients' VIP traffic to the real servers (DR), not being a client itself
  | 'not-the-server' // claims or receives the VIP while another claimant sends the service's replies itself
  | 'not-a-real-server' // the only claimant that is not a configured real server
  | 'sole-claimant' // the only MAC that ever claimed the VIP
  | 'none'; // could not be inferred: VIP rules not evaluated

export interface DirectorInference {
  vip: string;
  macs: string[];
  method: DirectorMethod;
  /** One human sentence: why these MACs. */
  reason: string;
}

/** How a MAC's role became known, how sure it is, and the frames that show it. */
export interface RoleInference {
  mac: string;
  role: 'director' | 'real-server' | 'router';
  /** Its own addresses seen in ARP / neighbor discovery (RIP, DIP, router address). */
  ips: string[];
  /** The VIP the role is about (directors and real servers found through a VIP's traffic). */
  vip?: string;
  how: 'given' | 'config' | 'inferred';
  /** certain: given, or seen at the director capture; likely: one consistent sign in the
   *  traffic; guess: by elimination (pass --director-mac to be sure). */
  confidence: 'certain' | 'likely' | 'guess';
  reason: string;
  evidence: Evidence[];
}


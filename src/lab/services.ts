/**
 * The small, dependency-free programs a lab runs: an HTTP server for real servers and a
 * sequential HTTP client, and a UDP echo server and client. They run as `node -e <code>` inside a
 * namespace so they use the real Linux stack of that namespace; nothing outside Node's standard
 * library is needed.
 */
import type { Lab, Namespace } from './topology.js';
import type { LabProcess } from './netns.js';

/**
 * HTTP server: answers every request with `<name>\n` and closes (one connection = one request).
 * With a body size, the first line is followed by numbered filler lines up to that many bytes:
 * large enough responses make the sender's TCP hand the tap super-segments (TSO/GSO), and the
 * numbers keep every segment's payload distinct.
 */
const SERVER_CODE = [
  "const [name, port, size, host] = process.argv.slice(1);",
  "let body = name + '\\n';",
  "for (let i = 0; body.length < Number(size); i++) body += name + ' ' + String(i).padStart(10, '0') + '\\n';",
  "body = Buffer.from(body).subarray(0, Math.max(Number(size), name.length + 1));",
  "const srv = require('http').createServer((req, res) => {",
  "  res.setHeader('Connection', 'close');",
  "  res.end(body);",
  "});",
  "srv.listen(Number(port), host, () => console.log('ready ' + name));",
  "process.on('SIGTERM', () => process.exit(0));",
].join('\n');

/**
 * Sequential client: connection i binds local port base+i (so ports, and thereby the DR lab's
 * port-parity scheduling, are deterministic) and, given several source addresses, the i-th of
 * them modulo their number, sends one HTTP/1.0 GET, reads to EOF. Each
 * connection has its own timeout; a JSON array of results goes to stdout at the end.
 */
const CLIENT_CODE = [
  "const net = require('net');",
  "const [host, port, base, count, timeout, gap, sourceList] = process.argv.slice(1);",
  "const sources = sourceList ? sourceList.split(',') : [];",
  "const results = [];",
  "function one(i) {",
  "  return new Promise((resolve) => {",
  "    const localPort = Number(base) + i;",
  "    const localAddress = sources.length > 0 ? sources[i % sources.length] : undefined;",
  "    const s = net.connect({ host, port: Number(port), localPort, localAddress });",
  "    let data = ''; let error = null;",
  "    const t = setTimeout(() => { error = 'timeout'; s.destroy(); }, Number(timeout));",
  "    s.setEncoding('utf8');",
  "    s.on('connect', () => s.write('GET / HTTP/1.0\\r\\nHost: ' + host + '\\r\\n\\r\\n'));",
  "    s.on('data', (d) => { data += d; });",
  "    s.on('error', (e) => { error = error || e.code || e.message; });",
  "    s.on('close', () => {",
  "      clearTimeout(t);",
  "      const ok = error === null && data.startsWith('HTTP/1.1 200');",
  "      const content = data.split('\\r\\n\\r\\n').slice(1).join('\\r\\n\\r\\n');",
  "      const body = content.split('\\n')[0].trim();",
  "      results.push({ localPort, ...(localAddress ? { localAddress } : {}), ok, body, bytes: Buffer.byteLength(content), error });",
  "      resolve();",
  "    });",
  "  });",
  "}",
  "(async () => {",
  "  for (let i = 0; i < Number(count); i++) {",
  "    await one(i);",
  "    await new Promise((r) => setTimeout(r, Number(gap)));",
  "  }",
  "  console.log(JSON.stringify(results));",
  "})();",
].join('\n');

/** Outcome of one client connection. */
export interface ConnectionResult {
  localPort: number;
  ok: boolean;
  /** First line of the response body (the real server's name when it worked). */
  body: string;
  /** Body bytes received (the server's response size when it worked). */
  bytes?: number;
  error: string | null;
  /** The client address the connection came from, when the client has several (ClientOptions.sources). */
  localAddress?: string;
  /** UDP: datagrams sent, and how many were answered. */
  datagrams?: number;
  answered?: number;
}

export interface ClientOptions {
  host: string;
  port: number;
  /** Local port of the first connection; connection i uses basePort+i. */
  basePort: number;
  count: number;
  timeoutMs: number;
  /** Pause between connections. */
  gapMs: number;
  /** Client addresses: connection i binds the i-th modulo their number (absent: the kernel's choice). */
  sources?: readonly string[];
}

/** Start the HTTP server in `ns` and wait until it listens; responses carry `bodyBytes` bytes
 *  (at least the name line). An IPv6 lab listens on `::` (a namespace without IPv6 refuses it). */
export async function startHttpServer(lab: Lab, ns: Namespace, name: string, port = 80, bodyBytes = 0, family: 4 | 6 = 4): Promise<LabProcess> {
  const p = lab.spawn(ns, [process.execPath, '-e', SERVER_CODE, name, String(port), String(bodyBytes), family === 6 ? '::' : '0.0.0.0']);
  await p.waitForOutput(/ready/, 10_000);
  return p;
}

/** Run the sequential client in `ns` to completion and return the per-connection results. */
export async function runHttpClient(lab: Lab, ns: Namespace, o: ClientOptions): Promise<ConnectionResult[]> {
  const argv = [o.host, o.port, o.basePort, o.count, o.timeoutMs, o.gapMs, (o.sources ?? []).join(',')].map(String);
  const p = lab.spawn(ns, [process.execPath, '-e', CLIENT_CODE, ...argv]);
  const budget = o.count * (o.timeoutMs + o.gapMs) + 10_000;
  const killer = setTimeout(() => p.child.kill('SIGKILL'), budget);
  const code = await p.exited();
  clearTimeout(killer);
  if (code !== 0) throw new Error(`lab client exited with ${code}: ${p.stderr().trim()}`);
  const line = p.stdout().trim().split('\n').pop() ?? '[]';
  return JSON.parse(line) as ConnectionResult[];
}

/**
 * UDP echo server: answers every datagram with `<name> <the datagram's text>`, from the address
 * and port the datagram came to (the socket is bound to them), so a FullNAT director sees the
 * reply on the flow it translated.
 */
const UDP_SERVER_CODE = [
  "const [name, port, host] = process.argv.slice(1);",
  "const s = require('dgram').createSocket('udp4');",
  "s.on('message', (m, from) => s.send(Buffer.from(name + ' ' + m.toString()), from.port, from.address));",
  "s.bind(Number(port), host, () => console.log('ready ' + name));",
  "process.on('SIGTERM', () => process.exit(0));",
].join('\n');

/**
 * UDP client: "connection" i is a socket bound to local port base+i (and the i-th source
 * address modulo their number, if given) that sends `datagrams` numbered datagrams one after
 * the other, each after the answer to the one before (or its timeout). A connection is ok when
 * every datagram was answered, by one real server.
 */
const UDP_CLIENT_CODE = [
  "const dgram = require('dgram');",
  "const [host, port, base, count, datagrams, timeout, gap, sourceList] = process.argv.slice(1);",
  "const sources = sourceList ? sourceList.split(',') : [];",
  "const results = [];",
  "function one(i) {",
  "  return new Promise((resolve) => {",
  "    const localPort = Number(base) + i;",
  "    const localAddress = sources.length > 0 ? sources[i % sources.length] : undefined;",
  "    const s = dgram.createSocket('udp4');",
  "    const names = []; let answered = 0; let error = null; let n = 0; let t = null;",
  "    const finish = () => {",
  "      s.close();",
  "      const ok = error === null && answered === Number(datagrams) && new Set(names).size === 1;",
  "      results.push({ localPort, ...(localAddress ? { localAddress } : {}), ok, body: names[0] || '', datagrams: Number(datagrams), answered, error });",
  "      resolve();",
  "    };",
  "    const next = () => {",
  "      if (n === Number(datagrams)) return finish();",
  "      const k = n++;",
  "      t = setTimeout(() => { error = error || 'timeout'; next(); }, Number(timeout));",
  "      s.send(Buffer.from('datagram ' + k + ' of ' + localPort), Number(port), host);",
  "    };",
  "    s.on('message', (m) => { clearTimeout(t); answered++; names.push(m.toString().split(' ')[0]); setTimeout(next, Number(gap)); });",
  "    s.on('error', (e) => { error = error || e.code || e.message; });",
  "    s.bind({ port: localPort, address: localAddress }, next);",
  "  });",
  "}",
  "(async () => {",
  "  for (let i = 0; i < Number(count); i++) await one(i);",
  "  console.log(JSON.stringify(results));",
  "})();",
].join('\n');

export interface UdpClientOptions extends ClientOptions {
  /** Datagrams each connection sends (each after the answer to the one before). */
  datagrams: number;
}

/** Start the UDP echo server in `ns` on `port` and wait until it is bound. */
export async function startUdpServer(lab: Lab, ns: Namespace, name: string, port: number): Promise<LabProcess> {
  const p = lab.spawn(ns, [process.execPath, '-e', UDP_SERVER_CODE, name, String(port), '0.0.0.0']);
  await p.waitForOutput(/ready/, 10_000);
  return p;
}

/** Run the UDP client in `ns` to completion and return the per-connection results. */
export async function runUdpClient(lab: Lab, ns: Namespace, o: UdpClientOptions): Promise<ConnectionResult[]> {
  const argv = [o.host, o.port, o.basePort, o.count, o.datagrams, o.timeoutMs, o.gapMs, (o.sources ?? []).join(',')].map(String);
  const p = lab.spawn(ns, [process.execPath, '-e', UDP_CLIENT_CODE, ...argv]);
  const budget = o.count * o.datagrams * (o.timeoutMs + o.gapMs) + 10_000;
  const killer = setTimeout(() => p.child.kill('SIGKILL'), budget);
  const code = await p.exited();
  clearTimeout(killer);
  if (code !== 0) throw new Error(`lab UDP client exited with ${code}: ${p.stderr().trim()}`);
  const line = p.stdout().trim().split('\n').pop() ?? '[]';
  return JSON.parse(line) as ConnectionResult[];
}

// Images named by a request, as bytes: `data:` URIs and bare base64 (Ollama), `file://` paths under
// --media-root, and http(s) URLs when --allow-remote-images is on. Remote fetches resolve the host
// first and refuse loopback, private, link-local, metadata and other non-public addresses; the
// check runs inside the connection's own lookup, so a second DNS answer cannot slip past it.
// Redirects are followed by hand (each target checked the same way) up to a limit, with a size
// cap while reading and a deadline for the whole fetch.
import { realpathSync, readFileSync, statSync } from 'node:fs';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, badRequest } from './errors.js';

/** Where images may come from and how big they may be. */
export interface ImagePolicy {
  readonly maxImageBytes: number;
  /** `file://` images must resolve (symlinks followed) inside this folder; undefined refuses them. */
  readonly mediaRoot?: string;
  readonly allowRemote: boolean;
  readonly remoteTimeoutMs: number;
  readonly maxRedirects: number;
  /** Addresses remote images may not come from (default isRefusedAddress; tests narrow it to reach a loopback server). */
  readonly refuseAddress?: (address: string) => boolean;
}

export const DEFAULT_IMAGE_POLICY: ImagePolicy = { maxImageBytes: 20 << 20, allowRemote: false, remoteTimeoutMs: 10_000, maxRedirects: 3 };

/** Addresses a remote image may not come from. */
const REFUSED = (() => {
  const b = new BlockList();
  const v4: [string, number][] = [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
    ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
    ['224.0.0.0', 4], ['240.0.0.0', 4],
  ];
  for (const [a, p] of v4) b.addSubnet(a, p, 'ipv4');
  const v6: [string, number][] = [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32]];
  for (const [a, p] of v6) b.addSubnet(a, p, 'ipv6');
  return b;
})();

/** Whether an address is one a remote image may not be fetched from. */
export function isRefusedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return REFUSED.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return REFUSED.check(mapped[1]!, 'ipv4');
  return REFUSED.check(address, 'ipv6');
}

function tooBig(bytes: number, policy: ImagePolicy, what: string): ApiError {
  return new ApiError(413, `${what}: ${bytes} bytes exceeds the image limit of ${policy.maxImageBytes} bytes`, 'invalid_request_error', 'image_too_large');
}

/** Bare base64 (Ollama's `images`) to bytes. */
export function base64Image(data: string, policy: ImagePolicy, param: string): Uint8Array {
  if (!/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/.test(data)) throw badRequest(`${param}: not base64 image data`, param);
  if (Math.floor((data.length * 3) / 4) > policy.maxImageBytes + 3) throw tooBig(Math.floor((data.length * 3) / 4), policy, param);
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length === 0) throw badRequest(`${param}: empty image`, param);
  if (bytes.length > policy.maxImageBytes) throw tooBig(bytes.length, policy, param);
  return bytes;
}

/** An image URL (`data:`, `file://`, `http(s)://`) to bytes; errors name the request field. */
export async function imageBytes(url: string, policy: ImagePolicy, param: string): Promise<Uint8Array> {
  if (url.startsWith('data:')) {
    const m = /^data:([^;,]*)(;base64)?,/.exec(url);
    if (!m || !m[2]) throw badRequest(`${param}: only base64 data: URIs are accepted`, param);
    return base64Image(url.slice(m[0].length), policy, param);
  }
  if (url.startsWith('file:')) return localImage(url, policy, param);
  if (/^https?:/i.test(url)) {
    if (!policy.allowRemote) throw badRequest(`${param}: remote images are off (start the server with --allow-remote-images)`, param, 'remote_images_disabled');
    return remoteImage(url, policy, param);
  }
  throw badRequest(`${param}: unsupported image URL (use data:, file:// under --media-root, or https with --allow-remote-images)`, param);
}

function localImage(url: string, policy: ImagePolicy, param: string): Uint8Array {
  if (!policy.mediaRoot) throw badRequest(`${param}: file:// images need the server's --media-root`, param, 'file_images_disabled');
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch {
    throw badRequest(`${param}: not a valid file:// URL`, param);
  }
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw badRequest(`${param}: ${url} not found`, param, 'image_not_found');
  }
  const root = realpathSync(policy.mediaRoot);
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new ApiError(403, `${param}: ${url} is outside --media-root`, 'invalid_request_error', 'outside_media_root', param);
  const size = statSync(real).size;
  if (size > policy.maxImageBytes) throw tooBig(size, policy, param);
  return readFileSync(real);
}

/** A lookup that only ever hands out addresses a remote image may come from. */
const checkedLookup = (refuse: (address: string) => boolean): LookupFunction => (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses as LookupAddress[];
    const refused = list.find((a) => refuse(a.address));
    if (refused || list.length === 0) {
      const e = Object.assign(new Error(`${hostname} resolves to ${refused?.address ?? 'nothing'}, a non-public address`), { code: 'EREFUSEDADDRESS' });
      return callback(e, '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

async function remoteImage(url: string, policy: ImagePolicy, param: string): Promise<Uint8Array> {
  const deadline = Date.now() + policy.remoteTimeoutMs;
  const refuse = policy.refuseAddress ?? isRefusedAddress;
  let current = url;
  for (let hop = 0; hop <= policy.maxRedirects; hop++) {
    const target = new URL(current);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw badRequest(`${param}: redirect to ${target.protocol} refused`, param);
    const literal = target.hostname.replace(/^\[|\]$/g, '');
    if (isIP(literal) && refuse(literal)) throw badRequest(`${param}: ${target.hostname} is not a public address`, param, 'image_address_refused');
    const res = await get(target, checkedLookup(refuse), deadline - Date.now(), param);
    if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, target).toString();
      continue;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw badRequest(`${param}: fetching ${url} gave HTTP ${res.statusCode}`, param, 'image_fetch_failed');
    }
    return readCapped(res, policy, param, deadline);
  }
  throw badRequest(`${param}: more than ${policy.maxRedirects} redirects`, param, 'image_fetch_failed');
}

function get(target: URL, lookup: LookupFunction, ms: number, param: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return reject(badRequest(`${param}: image fetch timed out`, param, 'image_fetch_timeout'));
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: 'GET', lookup, timeout: ms, headers: { 'user-agent': 'llava-ts' } }, resolve);
    req.on('timeout', () => req.destroy(badRequest(`${param}: image fetch timed out`, param, 'image_fetch_timeout')));
    req.on('error', (e) => reject(e instanceof ApiError ? e : badRequest(`${param}: cannot fetch ${target.origin} (${(e as Error).message})`, param, 'image_fetch_failed')));
    req.end();
  });
}

function readCapped(res: IncomingMessage, policy: ImagePolicy, param: string, deadline: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > policy.maxImageBytes) {
      res.destroy();
      return reject(tooBig(declared, policy, param));
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const timer = setTimeout(() => res.destroy(badRequest(`${param}: image fetch timed out`, param, 'image_fetch_timeout')), Math.max(0, deadline - Date.now()));
    res.on('data', (c: Buffer) => {
      total += c.length;
      if (total > policy.maxImageBytes) res.destroy(tooBig(total, policy, param));
      else chunks.push(c);
    });
    res.on('error', (e) => (clearTimeout(timer), reject(e)));
    res.on('end', () => (clearTimeout(timer), resolve(Buffer.concat(chunks))));
  });
}

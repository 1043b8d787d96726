/**
 * SSRF guard for partner webhook URLs (SPEC: webhook URLs must be https and resolve to a public
 * address; only `WEBHOOK_ALLOWED_HOSTS` lets chosen hosts through, and allows http for them).
 *
 * The check runs twice: when an endpoint is created, and again at send time (see send.ts), where the
 * request then connects to the very addresses checked here, so a DNS answer that changes between the
 * check and the connection (DNS rebinding) cannot redirect a delivery into our network.
 */
import { BlockList, isIP } from 'node:net';
import { promises as dns } from 'node:dns';

export type AddressClass =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link_local'
  | 'metadata'
  | 'unique_local'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

export type ResolveHost = (host: string) => Promise<string[]>;

/** `WEBHOOK_ALLOWED_HOSTS`: comma list, trimmed, lowercased, empty entries dropped, IPv6 brackets removed. */
export function parseAllowedHosts(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((entry) => stripBrackets(entry.trim().toLowerCase()))
    .filter((entry) => entry.length > 0);
}

type Range = readonly [cls: Exclude<AddressClass, 'public'>, network: string, prefix: number];

/** First match wins, so narrower ranges come before the ranges that contain them. */
const IPV4_RANGES: readonly Range[] = [
  ['metadata', '169.254.169.254', 32], // AWS, GCP, Azure, OpenStack instance metadata
  ['metadata', '169.254.170.2', 32], // AWS ECS task metadata and credentials
  ['metadata', '100.100.100.200', 32], // Alibaba Cloud instance metadata
  ['metadata', '168.63.129.16', 32], // Azure platform (WireServer)
  ['unspecified', '0.0.0.0', 32],
  ['reserved', '0.0.0.0', 8], // "this network"
  ['private', '10.0.0.0', 8],
  ['private', '100.64.0.0', 10], // carrier-grade NAT shared space
  ['loopback', '127.0.0.0', 8],
  ['link_local', '169.254.0.0', 16],
  ['private', '172.16.0.0', 12],
  ['reserved', '192.0.0.0', 24], // IETF protocol assignments
  ['reserved', '192.0.2.0', 24], // TEST-NET-1 (documentation)
  ['reserved', '192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['private', '192.168.0.0', 16],
  ['reserved', '198.18.0.0', 15], // benchmarking
  ['reserved', '198.51.100.0', 24], // TEST-NET-2 (documentation)
  ['reserved', '203.0.113.0', 24], // TEST-NET-3 (documentation)
  ['multicast', '224.0.0.0', 4],
  ['reserved', '240.0.0.0', 4], // future use, and 255.255.255.255 broadcast
];

const IPV6_RANGES: readonly Range[] = [
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  ['metadata', 'fd00:ec2::254', 128], // AWS instance metadata over IPv6
  ['reserved', '::', 96], // deprecated IPv4-compatible addresses
  ['private', '64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['reserved', '100::', 64], // discard-only
  ['reserved', '2001::', 23], // IETF protocol assignments, incl. Teredo and benchmarking
  ['reserved', '2001:db8::', 32], // documentation
  ['reserved', '2002::', 16], // 6to4 (deprecated, RFC 7526)
  ['reserved', '3fff::', 20], // documentation (RFC 9637)
  ['reserved', '5f00::', 16], // SRv6 segment identifiers
  ['unique_local', 'fc00::', 7],
  ['link_local', 'fe80::', 10],
  ['private', 'fec0::', 10], // deprecated site-local
  ['multicast', 'ff00::', 8],
];

function buildLists(ranges: readonly Range[], family: 'ipv4' | 'ipv6') {
  return ranges.map(([cls, network, prefix]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return { cls, list };
  });
}

const IPV4_LISTS = buildLists(IPV4_RANGES, 'ipv4');
const IPV6_LISTS = buildLists(IPV6_RANGES, 'ipv6');
/** Only 2000::/3 is allocated for global unicast; anything outside it is not a partner's server. */
const IPV6_GLOBAL_UNICAST = buildLists([['reserved', '2000::', 3]], 'ipv6')[0]!.list;

/**
 * Classifies an IPv4 or IPv6 address (zone ids such as `fe80::1%eth0` are ignored). IPv4-mapped
 * (`::ffff:127.0.0.1`) and NAT64 (`64:ff9b::7f00:1`) addresses are classified by the IPv4 address
 * they carry. Throws a TypeError for anything that is not an IP address.
 */
export function classifyAddress(ip: string): AddressClass {
  const address = stripBrackets(ip.trim()).split('%')[0]!;
  const family = isIP(address);
  if (family === 4) return classifyIPv4(address);
  if (family === 6) {
    const embedded = embeddedIPv4(address);
    if (embedded) return classifyIPv4(embedded);
    for (const { cls, list } of IPV6_LISTS) if (list.check(address, 'ipv6')) return cls;
    return IPV6_GLOBAL_UNICAST.check(address, 'ipv6') ? 'public' : 'reserved';
  }
  throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
}

function classifyIPv4(address: string): AddressClass {
  for (const { cls, list } of IPV4_LISTS) if (list.check(address, 'ipv4')) return cls;
  return 'public';
}

/** The IPv4 address inside an IPv4-mapped (::ffff:0:0/96) or well-known NAT64 (64:ff9b::/96) address. */
function embeddedIPv4(ipv6: string): string | undefined {
  const words = ipv6Words(ipv6);
  const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
  const nat64 = words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0);
  if (!mapped && !nat64) return undefined;
  const high = words[6]!;
  const low = words[7]!;
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** The eight 16-bit words of a valid IPv6 address (validated by the caller with isIP). */
function ipv6Words(ipv6: string): number[] {
  const toWords = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = ipv6.split('::');
  const headWords = toWords(head);
  if (tail === undefined) return headWords;
  const tailWords = toWords(tail);
  return [...headWords, ...new Array<number>(8 - headWords.length - tailWords.length).fill(0), ...tailWords];
}

export type UnsafeWebhookUrlCode =
  | 'invalid_url'
  | 'scheme_not_allowed'
  | 'credentials_in_url'
  | 'host_not_resolved'
  | 'address_not_public';

export class UnsafeWebhookUrlError extends Error {
  override readonly name = 'UnsafeWebhookUrlError';
  /** A sentence for a human (API problem detail, delivery log) that names the problem. */
  readonly reason: string;
  readonly code: UnsafeWebhookUrlCode;

  constructor(code: UnsafeWebhookUrlCode, reason: string) {
    super(reason);
    this.code = code;
    this.reason = reason;
  }
}

export interface CheckWebhookUrlOptions {
  /** Hosts from `WEBHOOK_ALLOWED_HOSTS` (see parseAllowedHosts): allowed whatever they resolve to, and over http. */
  allowedHosts: string[];
  /** Resolves a host name to every address it has; defaults to the system resolver. */
  resolve?: ResolveHost;
}

export interface CheckedWebhookUrl {
  url: URL;
  /** The addresses the request must connect to (already checked, in resolver order). */
  addresses: string[];
}

export const resolveWithSystemDns: ResolveHost = async (host) =>
  (await dns.lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * Parses and checks a webhook URL: https only (http only for allowed hosts), no credentials, and every
 * address the host resolves to must be public unless the host is allowed. Literal IPs in any form the
 * WHATWG URL parser accepts (`http://2130706433`, `http://0x7f.1`, `http://[::ffff:127.0.0.1]`) are
 * normalised by it first, then checked like any other address.
 */
export async function checkWebhookUrl(raw: string, opts: CheckWebhookUrlOptions): Promise<CheckedWebhookUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeWebhookUrlError('invalid_url', 'the webhook URL is not a valid absolute URL');
  }
  const host = stripBrackets(url.hostname);
  const allowed = host !== '' && opts.allowedHosts.map(stripBrackets).includes(host);

  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed)) {
    throw new UnsafeWebhookUrlError(
      'scheme_not_allowed',
      url.protocol === 'http:'
        ? `the webhook URL must use https, not http (host ${host} is not in WEBHOOK_ALLOWED_HOSTS)`
        : `the webhook URL must use https, not ${url.protocol.replace(/:$/, '')}`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new UnsafeWebhookUrlError('credentials_in_url', 'the webhook URL must not contain a user name or password');
  }
  if (host === '') throw new UnsafeWebhookUrlError('invalid_url', 'the webhook URL has no host');

  const addresses = isIP(host) ? [host] : await resolveAll(host, opts.resolve ?? resolveWithSystemDns);
  if (!allowed) {
    for (const address of addresses) {
      const cls = classifyAddress(address);
      if (cls !== 'public') {
        const where = address === host ? `the address ${host}` : `host ${host} resolves to ${address}, which`;
        throw new UnsafeWebhookUrlError('address_not_public', `${where} is ${describeClass(cls)}; webhooks go only to public addresses`);
      }
    }
  }
  return { url, addresses };
}

async function resolveAll(host: string, resolve: ResolveHost): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    throw new UnsafeWebhookUrlError('host_not_resolved', `host ${host} could not be resolved${code ? ` (${code})` : ''}`);
  }
  if (addresses.length === 0) throw new UnsafeWebhookUrlError('host_not_resolved', `host ${host} has no addresses`);
  for (const address of addresses) {
    if (isIP(address.split('%')[0]!) === 0) {
      throw new UnsafeWebhookUrlError('host_not_resolved', `host ${host} resolved to something that is not an IP address`);
    }
  }
  return addresses;
}

const CLASS_DESCRIPTIONS: Record<Exclude<AddressClass, 'public'>, string> = {
  private: 'a private address',
  loopback: 'a loopback address',
  link_local: 'a link-local address',
  metadata: 'a cloud metadata service address',
  unique_local: 'a unique-local (private IPv6) address',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  reserved: 'a reserved or non-routable address',
};

function describeClass(cls: Exclude<AddressClass, 'public'>): string {
  return CLASS_DESCRIPTIONS[cls];
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkWebhookUrl,
  classifyAddress,
  parseAllowedHosts,
  UnsafeWebhookUrlError,
  type AddressClass,
  type ResolveHost,
} from '../../shared/webhooks/ssrf.ts';

/** A resolver over a fixed table; any other name fails like NXDOMAIN, so no test ever touches the network. */
const dnsTable =
  (table: Record<string, string[]>): ResolveHost =>
  async (host) => {
    const addresses = table[host];
    if (addresses) return addresses;
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };

const resolve = dnsTable({
  'partner.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'localhost.example': ['127.0.0.1'],
  'metadata.example': ['169.254.169.254'],
  'mixed.example': ['93.184.216.34', '10.1.2.3'],
  'v6-link-local.example': ['2606:4700::1', 'fe80::1%eth0'],
  'mapped.example': ['::ffff:192.168.0.10'],
  'ula.example': ['fd12:3456:789a::1'],
  'empty.example': [],
});

async function refusal(raw: string, allowedHosts: string[] = []): Promise<UnsafeWebhookUrlError> {
  const error = await checkWebhookUrl(raw, { allowedHosts, resolve }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof UnsafeWebhookUrlError)) throw new Error(`expected ${raw} to be refused, got ${String(error)}`);
  return error;
}

describe('parseAllowedHosts', () => {
  it('splits, trims, lowercases and drops empty entries', () => {
    expect(parseAllowedHosts(' 127.0.0.1, LocalHost ,,[::1],')).toEqual(['127.0.0.1', 'localhost', '::1']);
  });

  it('is empty when the variable is unset or blank', () => {
    expect(parseAllowedHosts(undefined)).toEqual([]);
    expect(parseAllowedHosts('  ,  ')).toEqual([]);
  });
});

describe('classifyAddress', () => {
  const table: [string, AddressClass][] = [
    ['93.184.216.34', 'public'],
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['100.128.0.1', 'public'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['169.254.1.1', 'link_local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:A9FE:A9FE', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::808:808', 'public'],
    ['::127.0.0.1', 'reserved'],
    ['fd00:ec2::254', 'metadata'],
    ['fd00:ec2::253', 'unique_local'],
    ['fc00::1', 'unique_local'],
    ['fdff:ffff::1', 'unique_local'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2001:0:4136:e378::1', 'reserved'],
    ['2002:7f00:1::1', 'reserved'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4007:80e::200e', 'public'],
  ];

  it.each(table)('%s is %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
  });

  it('classifies an IPv4-mapped IPv6 address exactly like the IPv4 address it carries', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(classifyAddress(`::ffff:${ip}`)).toBe(classifyAddress(ip));
      }),
    );
  });

  it('never calls an address of a private, loopback or link-local range public', () => {
    const inRange = (first: number, second: fc.Arbitrary<number>) =>
      fc.tuple(second, fc.nat(255), fc.nat(255)).map(([b, c, d]) => `${first}.${b}.${c}.${d}`);
    fc.assert(
      fc.property(
        fc.oneof(
          inRange(10, fc.nat(255)),
          inRange(127, fc.nat(255)),
          inRange(172, fc.integer({ min: 16, max: 31 })),
          inRange(192, fc.constant(168)),
          inRange(169, fc.constant(254)),
          inRange(100, fc.integer({ min: 64, max: 127 })),
        ),
        (ip) => {
          expect(classifyAddress(ip)).not.toBe('public');
        },
      ),
    );
  });

  it('rejects what is not an IP address', () => {
    expect(() => classifyAddress('localhost')).toThrow(TypeError);
    expect(() => classifyAddress('1.2.3')).toThrow(TypeError);
  });
});

describe('checkWebhookUrl refuses hostile URLs', () => {
  const hostile: [url: string, code: UnsafeWebhookUrlError['code'], mentions: RegExp][] = [
    ['https://127.0.0.1/hook', 'address_not_public', /127\.0\.0\.1.*loopback/],
    ['https://2130706433/hook', 'address_not_public', /127\.0\.0\.1.*loopback/],
    ['https://0x7f000001/hook', 'address_not_public', /loopback/],
    ['https://0177.0.0.1/hook', 'address_not_public', /loopback/],
    ['https://0x7f.1/hook', 'address_not_public', /loopback/],
    ['https://127.1/hook', 'address_not_public', /loopback/],
    ['https://[::1]/hook', 'address_not_public', /::1.*loopback/],
    ['https://[::ffff:127.0.0.1]/hook', 'address_not_public', /loopback/],
    ['https://[0:0:0:0:0:ffff:7f00:1]/hook', 'address_not_public', /loopback/],
    ['https://[64:ff9b::7f00:1]/hook', 'address_not_public', /loopback/],
    ['https://169.254.169.254/latest/meta-data/iam/security-credentials/', 'address_not_public', /metadata/],
    ['https://2852039166/latest/meta-data/', 'address_not_public', /metadata/],
    ['https://[::ffff:169.254.169.254]/latest/meta-data/', 'address_not_public', /metadata/],
    ['https://[fd00:ec2::254]/latest/meta-data/', 'address_not_public', /metadata/],
    ['https://169.254.170.2/v2/credentials', 'address_not_public', /metadata/],
    ['https://0.0.0.0/hook', 'address_not_public', /unspecified/],
    ['https://0/hook', 'address_not_public', /unspecified/],
    ['https://[::]/hook', 'address_not_public', /unspecified/],
    ['https://10.0.0.5/hook', 'address_not_public', /private/],
    ['https://172.16.3.4/hook', 'address_not_public', /private/],
    ['https://192.168.1.1:8443/hook', 'address_not_public', /private/],
    ['https://100.64.0.1/hook', 'address_not_public', /private/],
    ['https://[fc00::1]/hook', 'address_not_public', /unique-local/],
    ['https://[fe80::1]/hook', 'address_not_public', /link-local/],
    ['https://169.254.10.10/hook', 'address_not_public', /link-local/],
    ['https://224.0.0.1/hook', 'address_not_public', /multicast/],
    ['https://[ff02::1]/hook', 'address_not_public', /multicast/],
    ['https://192.0.2.10/hook', 'address_not_public', /reserved/],
    ['https://[2001:db8::1]/hook', 'address_not_public', /reserved/],
    ['https://255.255.255.255/hook', 'address_not_public', /reserved/],
    ['https://localhost.example/hook', 'address_not_public', /localhost\.example resolves to 127\.0\.0\.1.*loopback/],
    ['https://metadata.example/hook', 'address_not_public', /metadata/],
    ['https://mixed.example/hook', 'address_not_public', /10\.1\.2\.3.*private/],
    ['https://v6-link-local.example/hook', 'address_not_public', /fe80::1%eth0.*link-local/],
    ['https://mapped.example/hook', 'address_not_public', /private/],
    ['https://ula.example/hook', 'address_not_public', /unique-local/],
    ['https://nowhere.example/hook', 'host_not_resolved', /nowhere\.example.*ENOTFOUND/],
    ['https://empty.example/hook', 'host_not_resolved', /no addresses/],
    ['http://partner.example/hook', 'scheme_not_allowed', /https.*WEBHOOK_ALLOWED_HOSTS/],
    ['ftp://partner.example/hook', 'scheme_not_allowed', /ftp/],
    ['file:///etc/passwd', 'scheme_not_allowed', /file/],
    ['gopher://partner.example:25/', 'scheme_not_allowed', /gopher/],
    ['javascript:alert(1)', 'scheme_not_allowed', /javascript/],
    ['https://user:secret@partner.example/hook', 'credentials_in_url', /password/],
    ['https://user@partner.example/hook', 'credentials_in_url', /user name/],
    ['not a url', 'invalid_url', /not a valid/],
    ['/relative/path', 'invalid_url', /not a valid/],
  ];

  it.each(hostile)('%s → %s', async (url, code, mentions) => {
    const error = await refusal(url);
    expect(error.code).toBe(code);
    expect(error.reason).toMatch(mentions);
    expect(error.message).toBe(error.reason);
  });

  it('refuses every literal IPv4 address, in decimal form, that is not public', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(0xffffffff), async (n) => {
        const dotted = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
        const accepted = await checkWebhookUrl(`https://${n}/hook`, { allowedHosts: [], resolve }).then(
          (checked) => checked.addresses,
          () => null,
        );
        if (classifyAddress(dotted) === 'public') expect(accepted).toEqual([dotted]);
        else expect(accepted).toBeNull();
      }),
    );
  });

  it('refuses localhost through the system resolver (answered from /etc/hosts, no network)', async () => {
    await expect(checkWebhookUrl('https://localhost/hook', { allowedHosts: [] })).rejects.toMatchObject({ code: 'address_not_public' });
  });
});

describe('checkWebhookUrl accepts public destinations', () => {
  it('returns the parsed URL and every resolved address', async () => {
    const checked = await checkWebhookUrl('https://Partner.Example/hooks/gpu?x=1', { allowedHosts: [], resolve });
    expect(checked.url.hostname).toBe('partner.example');
    expect(checked.url.pathname).toBe('/hooks/gpu');
    expect(checked.addresses).toEqual(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']);
  });

  it('accepts public IP literals without resolving them', async () => {
    const failIfCalled: ResolveHost = async () => {
      throw new Error('a literal IP must not be resolved');
    };
    expect((await checkWebhookUrl('https://93.184.216.34/', { allowedHosts: [], resolve: failIfCalled })).addresses).toEqual(['93.184.216.34']);
    expect((await checkWebhookUrl('https://[2606:4700:4700::1111]:8443/', { allowedHosts: [], resolve: failIfCalled })).addresses).toEqual([
      '2606:4700:4700::1111',
    ]);
  });
});

describe('WEBHOOK_ALLOWED_HOSTS', () => {
  it('lets a listed loopback host through, over http too', async () => {
    const allowedHosts = parseAllowedHosts('127.0.0.1,localhost.example,::1');
    expect((await checkWebhookUrl('http://127.0.0.1:8080/hook', { allowedHosts, resolve })).addresses).toEqual(['127.0.0.1']);
    expect((await checkWebhookUrl('https://localhost.example/hook', { allowedHosts, resolve })).addresses).toEqual(['127.0.0.1']);
    expect((await checkWebhookUrl('http://[::1]:9000/hook', { allowedHosts, resolve })).addresses).toEqual(['::1']);
  });

  it('matches the host the URL parser normalised, so other spellings of an allowed address are the same host', async () => {
    expect((await checkWebhookUrl('http://2130706433/hook', { allowedHosts: ['127.0.0.1'], resolve })).addresses).toEqual(['127.0.0.1']);
  });

  it('opens only the listed hosts', async () => {
    expect((await refusal('https://127.0.0.2/hook', ['127.0.0.1'])).code).toBe('address_not_public');
    expect((await refusal('http://partner.example/hook', ['127.0.0.1'])).code).toBe('scheme_not_allowed');
    expect((await refusal('https://metadata.example/hook', ['localhost.example'])).code).toBe('address_not_public');
  });

  it('still refuses credentials and other schemes for listed hosts', async () => {
    expect((await refusal('http://a:b@127.0.0.1/hook', ['127.0.0.1'])).code).toBe('credentials_in_url');
    expect((await refusal('ftp://127.0.0.1/hook', ['127.0.0.1'])).code).toBe('scheme_not_allowed');
  });
});

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CALLBACK_PORTS,
  effectivePort,
  isForbiddenAddress,
  MAX_CALLBACK_URL_LENGTH,
  parseCallbackUrl,
} from '#shared/callback-url';
import { ValidationError } from '#shared/errors';

const strict = { allowLoopback: false };
const local = { allowLoopback: true };

/** Runs `parse` and returns what it threw, failing the test if it threw nothing. */
const refusal = (raw: string, options = strict): ValidationError => {
  try {
    parseCallbackUrl(raw, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error(`expected ${raw} to be refused`);
};

describe('isForbiddenAddress', () => {
  it.each([
    ['8.8.8.8'],
    ['1.1.1.1'],
    ['93.184.216.34'],
    ['2606:4700:4700::1111'],
    ['2a00:1450:4001:80b::200e'],
    ['::ffff:8.8.8.8'],
    ['64:ff9b::808:808'],
  ])('lets the public unicast address %s through', (ip) => {
    expect(isForbiddenAddress(ip, strict)).toBe(false);
  });

  it.each([
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local: the instance metadata service'],
    ['169.254.170.2', 'link-local: the ECS task metadata endpoint'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', "'this network'"],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['240.0.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local with a zone'],
    ['fd00:ec2::254', 'unique-local: the IPv6 instance metadata service'],
    ['fc00::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['100::1', 'discard'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata, hex form'],
    ['::ffff:0:7f00:1', 'IPv4-translated (SIIT)'],
    ['::7f00:1', 'IPv4-compatible loopback'],
    ['::a00:1', 'IPv4-compatible private'],
    ['64:ff9b::a00:1', 'NAT64 of a private address'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of the metadata service'],
    ['64:ff9b:1::808:808', 'local-use NAT64'],
    ['2002:a00:1::1', '6to4'],
    ['2002:808:808::1', '6to4 of a public address'],
    ['2001:0:4136:e378::1', 'Teredo'],
    ['4000::1', 'outside the global unicast allocation'],
    ['not-an-ip', 'a host name'],
    ['0x7f.1', 'a non-canonical IPv4 form'],
    ['2130706433', 'an IPv4 address as one integer'],
    ['', 'nothing'],
  ])('refuses %s (%s)', (ip) => {
    expect(isForbiddenAddress(ip, strict)).toBe(true);
    expect(isForbiddenAddress(ip, local)).toBe(true);
  });

  it.each([['127.0.0.1'], ['127.255.0.9'], ['::1'], ['::ffff:127.0.0.1']])(
    'allows the loopback address %s only when loopback is allowed',
    (ip) => {
      expect(isForbiddenAddress(ip, strict)).toBe(true);
      expect(isForbiddenAddress(ip, local)).toBe(false);
    },
  );

  it('never allows loopback behind a NAT64 gateway', () => {
    expect(isForbiddenAddress('64:ff9b::7f00:1', local)).toBe(true);
  });

  it('accepts the bracketed form URLs give IPv6 hosts', () => {
    expect(isForbiddenAddress('[fd00:ec2::254]', strict)).toBe(true);
    expect(isForbiddenAddress('[2606:4700:4700::1111]', strict)).toBe(false);
  });
});

describe('parseCallbackUrl', () => {
  it('accepts absolute http and https URLs and returns them parsed', () => {
    // Act
    const url = parseCallbackUrl('https://hooks.example.com:8443/media?tenant=7', strict);

    // Assess
    expect(url).toBeInstanceOf(URL);
    expect(url.href).toBe('https://hooks.example.com:8443/media?tenant=7');
    expect(parseCallbackUrl('http://93.184.216.34/hook', strict).hostname).toBe('93.184.216.34');
    expect(parseCallbackUrl('http://[2606:4700:4700::1111]/hook', strict).hostname).toBe(
      '[2606:4700:4700::1111]',
    );
  });

  it('does not resolve host names: a name is vetted again at every delivery', () => {
    expect(parseCallbackUrl('https://internal.corp.example/hook', strict).hostname).toBe(
      'internal.corp.example',
    );
  });

  it.each([
    ['hooks.example.com/path', 'absolute http:// or https:// URL'],
    ['/relative/path', 'absolute http:// or https:// URL'],
    ['', 'absolute http:// or https:// URL'],
    ['http://', 'absolute http:// or https:// URL'],
    ['ftp://example.com/hook', 'must use http:// or https://'],
    ['file:///etc/passwd', 'must use http:// or https://'],
    ['javascript:alert(1)', 'must use http:// or https://'],
    ['gopher://example.com:70/_', 'must use http:// or https://'],
    ['https://user:secret@example.com/hook', 'must not contain credentials'],
    ['https://user@example.com/hook', 'must not contain credentials'],
  ])('refuses %j and says what to fix', (raw, advice) => {
    // Act
    const error = refusal(raw);

    // Assess
    expect(error.code).toBe('Request::InvalidCallbackUrl');
    expect(error.field).toBe('callback_url');
    expect(error.message).toContain(advice);
  });

  it('refuses URLs longer than 2048 characters', () => {
    // Prepare
    const base = 'https://example.com/';
    const longest = base + 'a'.repeat(MAX_CALLBACK_URL_LENGTH - base.length);

    // Act & Assess
    expect(parseCallbackUrl(longest, strict).href).toBe(longest);
    expect(refusal(`${longest}a`).message).toContain('at most 2048 characters');
  });

  it.each([
    ['http://10.0.0.1/hook'],
    ['http://169.254.169.254/latest/meta-data/'],
    ['http://[fd00:ec2::254]/latest/meta-data/'],
    ['http://[::ffff:127.0.0.1]:8080/'],
    ['http://[::ffff:a9fe:a9fe]/'],
    ['http://100.64.0.1/'],
    ['http://0.0.0.0:8080/'],
    ['http://[::]/'],
    // The URL parser turns these spellings into 127.0.0.1 and 10.0.0.1 before the check sees them.
    ['http://2130706433/'],
    ['http://0x7f.1/'],
    ['http://012.0.0.1/'],
  ])('refuses the literal non-public address in %s at once', (raw) => {
    // Act
    const error = refusal(raw);

    // Assess
    expect(error.code).toBe('Request::InvalidCallbackUrl');
    expect(error.field).toBe('callback_url');
    expect(error.message).toContain('public address');
  });

  it('refuses loopback, by address or by the localhost name, unless loopback is allowed', () => {
    for (const raw of [
      'http://127.0.0.1:3000/hook',
      'http://[::1]:3000/hook',
      'http://localhost:3000/hook',
      'http://api.localhost./hook',
    ]) {
      expect(refusal(raw).field).toBe('callback_url');
      expect(parseCallbackUrl(raw, local).protocol).toBe('http:');
    }
  });

  describe('ports', () => {
    it.each([
      ['http://hooks.example.com/hook', 80],
      ['https://hooks.example.com/hook', 443],
      ['https://hooks.example.com:443/hook', 443],
      ['http://hooks.example.com:8080/hook', 8080],
      ['https://hooks.example.com:8443/hook', 8443],
      ['https://hooks.example.com:80/hook', 80],
    ])('accepts %s, whose port %i is one of the defaults', (raw, port) => {
      const url = parseCallbackUrl(raw, strict);

      expect(effectivePort(url)).toBe(port);
      expect(DEFAULT_CALLBACK_PORTS).toContain(port);
    });

    it.each([
      ['http://hooks.example.com:22/', 22],
      ['http://93.184.216.34:25/', 25],
      ['http://hooks.example.com:6379/', 6379],
      ['https://[2606:4700:4700::1111]:3306/', 3306],
    ])('refuses %s, saying which ports are allowed', (raw, port) => {
      const error = refusal(raw);

      expect(error).toMatchObject({ code: 'Request::InvalidCallbackUrl', field: 'callback_url' });
      expect(error.message).toBe(`callback_url must use one of the ports 80, 443, 8080, 8443, not ${port}`);
    });

    it('takes the configured list instead of the default, naming the port a scheme implies', () => {
      const only443 = { ...strict, allowedPorts: [443] };

      expect(parseCallbackUrl('https://hooks.example.com/', only443).hostname).toBe('hooks.example.com');
      expect(refusal('http://hooks.example.com/', only443).message).toBe(
        'callback_url must use port 443, not 80 (the http default)',
      );
      expect(refusal('https://hooks.example.com:8443/', only443).message).toContain('not 8443');
    });

    it('lets a loopback receiver use any port when loopback is allowed, and no other host', () => {
      for (const raw of ['http://127.0.0.1:6379/', 'http://[::1]:22/', 'http://localhost:49152/hook']) {
        expect(parseCallbackUrl(raw, local).protocol).toBe('http:');
      }
      expect(refusal('https://hooks.example.com:22/', local).message).toContain('not 22');
      expect(refusal('http://93.184.216.34:6379/', local).message).toContain('not 6379');
    });
  });

  it('keeps refusing non-loopback private addresses when loopback is allowed', () => {
    expect(refusal('http://10.0.0.1/hook', local).code).toBe('Request::InvalidCallbackUrl');
    expect(refusal('http://169.254.169.254/', local).code).toBe('Request::InvalidCallbackUrl');
  });
});

import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ValidationError } from './errors.ts';

/** Longest callback URL accepted: longer ones are almost always a mistake, and the URL is stored on every job. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

export interface AddressPolicy {
  /** Lets 127.0.0.0/8 and ::1 through: for local runs and tests whose receiver listens on loopback only. */
  allowLoopback: boolean;
}

/**
 * Ports a callback URL may use unless the deployment says otherwise: HTTP's and HTTPS's, and their
 * common alternates. Signed POSTs to any port would let a caller aim them at SSH, SMTP or Redis.
 */
export const DEFAULT_CALLBACK_PORTS: readonly number[] = [80, 443, 8080, 8443];

export interface CallbackPolicy extends AddressPolicy {
  /**
   * Ports a callback URL may name, or imply by its scheme. A loopback receiver let through by
   * `allowLoopback` (a local run) may listen on any port.
   * @default DEFAULT_CALLBACK_PORTS
   */
  allowedPorts?: readonly number[];
}

/** The port a request to `url` goes to: the one it names, or its scheme's. */
export const effectivePort = (url: URL): number =>
  url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;

const invalid = (message: string) =>
  new ValidationError('Request::InvalidCallbackUrl', message, 'callback_url');

/** The hostname without the brackets the URL syntax puts around IPv6 literals and without a trailing root dot. */
export const bareHostname = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');

/**
 * The check made when a job is created: an absolute http(s) URL without credentials, with a host, at
 * most 2048 characters, and not a literal address in a forbidden range. Host names are not resolved
 * here: DNS can change before delivery, so the delivery resolves again and checks every address.
 */
export const parseCallbackUrl = (raw: string, options: CallbackPolicy): URL => {
  const url = parseCallbackAddress(raw, options);
  const portRefusal = callbackPortRefusal(url, options.allowedPorts);
  // A loopback receiver (a local run's) may listen anywhere; a host name that resolves to loopback is
  // judged by its addresses at delivery, which this check does not resolve.
  if (portRefusal && !(options.allowLoopback && isLoopbackHost(bareHostname(url))))
    throw invalid(portRefusal);
  return url;
};

/** parseCallbackUrl without the port rule: for the delivery, which applies that rule once it has resolved the host. */
export const parseCallbackAddress = (raw: string, options: AddressPolicy): URL => {
  if (raw.length > MAX_CALLBACK_URL_LENGTH) {
    throw invalid(`callback_url must be at most ${MAX_CALLBACK_URL_LENGTH} characters long`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(
      'callback_url must be an absolute http:// or https:// URL, such as https://example.com/hooks',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(`callback_url must use http:// or https://, not ${url.protocol}//`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid(
      'callback_url must not contain credentials (user:password@); verify the webhook signature instead',
    );
  }
  const host = bareHostname(url);
  if (host === '') throw invalid('callback_url must name a host');
  if (isIP(host) !== 0 && isForbiddenAddress(host, options)) {
    throw invalid(
      'callback_url must point to a public address, not a private, loopback, link-local or other reserved one',
    );
  }
  // Names that resolve to loopback by definition (RFC 6761): refused now rather than at every delivery.
  if (
    !options.allowLoopback &&
    (host.toLowerCase() === 'localhost' || host.toLowerCase().endsWith('.localhost'))
  ) {
    throw invalid('callback_url must point to a public host, not localhost');
  }
  return url;
};

/** Why `url`'s port is not allowed, or undefined when it is. */
export const callbackPortRefusal = (
  url: URL,
  allowedPorts: readonly number[] = DEFAULT_CALLBACK_PORTS,
): string | undefined => {
  const port = effectivePort(url);
  if (allowedPorts.includes(port)) return undefined;
  const implied = url.port === '' ? ` (the ${url.protocol.slice(0, -1)} default)` : '';
  return `callback_url must use ${allowedPorts.length === 1 ? 'port' : 'one of the ports'} ${allowedPorts.join(', ')}, not ${port}${implied}`;
};

/** A literal address refused for being loopback and for nothing else (127.0.0.0/8, ::1, their mapped form). */
export const isLoopbackAddress = (ip: string): boolean =>
  isForbiddenAddress(ip, { allowLoopback: false }) && !isForbiddenAddress(ip, { allowLoopback: true });

const isLoopbackHost = (host: string): boolean => {
  const name = host.toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && isLoopbackAddress(host);
};

const isForbiddenIPv4 = (address: ipaddr.IPv4, options: AddressPolicy): boolean => {
  const range = address.range();
  if (range === 'unicast') return false;
  return !(range === 'loopback' && options.allowLoopback);
};

// The NAT64 well-known prefix (RFC 6052). Lambdas in IPv6-only subnets with DNS64 see public IPv4 hosts
// through it, so it is judged by the IPv4 address it carries instead of refused outright.
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
// IANA's global unicast allocation: everything outside it is reserved, local or special.
const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

const embeddedIPv4 = (address: ipaddr.IPv6): ipaddr.IPv4 => {
  const bytes = address.toByteArray();
  return new ipaddr.IPv4(bytes.slice(12, 16));
};

const isForbiddenIPv6 = (address: ipaddr.IPv6, options: AddressPolicy): boolean => {
  // ::ffff:a.b.c.d reaches the IPv4 host: judge it as that host.
  if (address.isIPv4MappedAddress()) return isForbiddenIPv4(address.toIPv4Address(), options);
  // Loopback behind a NAT64 gateway is the gateway's own, never ours: refused even when loopback is allowed.
  if (address.match(NAT64_WELL_KNOWN))
    return isForbiddenIPv4(embeddedIPv4(address), { allowLoopback: false });
  const range = address.range();
  if (range === 'loopback') return !options.allowLoopback;
  // Outside 2000::/3 (IPv4-compatible ::a.b.c.d, unspecified, link-local, unique-local incl. fd00:ec2::254,
  // multicast, local-use NAT64, discard) and the special blocks inside it (6to4 and Teredo, which tunnel to
  // an IPv4 host; documentation, benchmarking, ORCHID, AS112, ...): only plain global unicast goes through.
  if (!address.match(GLOBAL_UNICAST)) return true;
  return range !== 'unicast';
};

/**
 * Whether a webhook may connect to `ip`. Anything but plain public unicast is forbidden: private,
 * loopback (unless allowed), link-local (169.254.169.254, the instance metadata service, included),
 * unique-local (fd00:ec2::254 included), carrier-grade NAT, multicast, unspecified, broadcast, reserved,
 * the IPv4-mapped and NAT64 forms of those, 6to4 and Teredo. Something that is not an IP address at all
 * is forbidden too: the check fails closed.
 */
export const isForbiddenAddress = (ip: string, options: AddressPolicy): boolean => {
  const candidate = ip.replace(/^\[(.*)\]$/, '$1');
  // net.isIP accepts only the dotted-quad and standard IPv6 forms; ipaddr.js alone would also read
  // "0x7f.1" or "2130706433", which no resolver hands back and which a caller should not sneak through.
  const family = isIP(candidate);
  if (family === 0) return true;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(candidate);
  } catch {
    return true;
  }
  return address.kind() === 'ipv4'
    ? isForbiddenIPv4(address as ipaddr.IPv4, options)
    : isForbiddenIPv6(address as ipaddr.IPv6, options);
};

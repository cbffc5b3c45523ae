import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Which private targets an operator allowed (`WEBHOOK_ALLOW_PRIVATE_TARGETS`). */
export interface AllowList {
  /** `true`: every address is allowed (tests, a local mesh). */
  all: boolean;
  cidrs: [Address, number][];
}

export const NOTHING_ALLOWED: AllowList = { all: false, cidrs: [] };

/** `''` → nothing, `true` → everything, otherwise a comma list of CIDRs (or single addresses). */
export function parseAllowList(value: string): AllowList {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed === 'false') return NOTHING_ALLOWED;
  if (trimmed === 'true') return { all: true, cidrs: [] };
  const cidrs = trimmed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry): [Address, number] => {
      if (ipaddr.isValidCIDR(entry)) return ipaddr.parseCIDR(entry);
      if (ipaddr.isValid(entry) && isIP(entry)) {
        const addr = ipaddr.parse(entry);
        return [addr, addr.kind() === 'ipv4' ? 32 : 128];
      }
      throw new Error(`must be "true" or a comma list of CIDRs; "${entry.slice(0, 60)}" is not one`);
    });
  return { all: false, cidrs };
}

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged as the IPv4 address it carries. */
function canonical(addr: Address): Address {
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return (addr as ipaddr.IPv6).toIPv4Address();
  return addr;
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];

/**
 * Whether an address is publicly routable. IPv4 must be plain unicast (not loopback, private,
 * link-local — which holds the 169.254.169.254 metadata service —, CGNAT, multicast, reserved,
 * broadcast or 0/8). IPv6 must be global unicast (2000::/3) outside every special range, which
 * also refuses unique-local (fd00:ec2::254), link-local, loopback, NAT64, 6to4 and Teredo forms
 * that can embed an internal IPv4 address.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const addr = canonical(ipaddr.parse(address));
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast';
  const v6 = addr as ipaddr.IPv6;
  if (v6.zoneId) return false;
  return v6.match(GLOBAL_UNICAST_V6) && v6.range() === 'unicast';
}

function inAllowList(address: string, allow: AllowList): boolean {
  if (allow.all) return true;
  if (!ipaddr.isValid(address)) return false;
  const raw = ipaddr.parse(address);
  const forms = [raw, canonical(raw)];
  return allow.cidrs.some(([net, bits]) => forms.some((a) => a.kind() === net.kind() && a.match(net, bits)));
}

/** The one rule: may we open a connection to this (resolved) IP address? */
export function isAllowedTarget(address: string, allow: AllowList): boolean {
  return isPublicAddress(address) || inAllowList(address, allow);
}

/**
 * If a URL host is an IP literal (in any form the WHATWG URL parser normalises: `0x7f000001`,
 * `2130706433`, `[::ffff:127.0.0.1]`), that address; otherwise undefined (a name to resolve).
 */
export function ipLiteralOf(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) ? bare : undefined;
}

/** Names that always mean this machine, refused before any lookup. */
export function isLocalName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === 'localhost.localdomain';
}

import { AppError } from '@tollgate/common';
import { type AllowList, ipLiteralOf, isAllowedTarget, isLocalName } from '../ssrf/address-policy';

export interface UrlPolicy {
  allowHttp: boolean;
  allow: AllowList;
}

/**
 * Checks an endpoint URL when it is saved: scheme, no credentials, and no literal private
 * address or local name. Names are resolved and checked again at every connect; this early
 * check only gives the caller a clear 400 instead of failed deliveries.
 */
export function validateEndpointUrl(raw: string, policy: UrlPolicy): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('url must use https');
  if (url.protocol === 'http:' && !policy.allowHttp) throw invalid('url must use https');
  if (url.username || url.password) throw invalid('url must not contain credentials');
  if (url.hash) throw invalid('url must not contain a fragment');
  const literal = ipLiteralOf(url.hostname);
  if (!policy.allow.all) {
    if (literal !== undefined && !isAllowedTarget(literal, policy.allow))
      throw invalid('url points to a private, loopback, link-local or otherwise non-public address');
    if (literal === undefined && isLocalName(url.hostname)) throw invalid('url points to this machine');
  }
  return url.toString();
}

function invalid(message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { details: { param: 'url' } });
}

import { signIdentity, signServiceIdentity } from '@tollgate/common';

/** The internal secret tests sign identities with (services under test get the same). */
export const TEST_INTERNAL_SECRET = 'test-internal-secret-0123456789abcdef';

/** Headers a request has after passing the gateway as `tenantId` with these scopes. */
export function identityHeaders(tenantId: string, scopes: string[] = ['read', 'write', 'completion', 'generation'], keyId = 'key_test'): Record<string, string> {
  return { 'X-Tollgate-Identity': signIdentity({ tenantId, keyId, scopes }, TEST_INTERNAL_SECRET) };
}

export function serviceHeaders(service = 'test-service'): Record<string, string> {
  return { 'X-Tollgate-Identity': signServiceIdentity(service, TEST_INTERNAL_SECRET) };
}

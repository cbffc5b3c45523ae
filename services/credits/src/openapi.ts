/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tollgate Credits', version: '0.1.0', description: 'Per-tenant credits ledger: balances, holds, charges and history' },
  paths: {} as Record<string, unknown>,
};

/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tollgate Webhook', version: '0.1.0', description: 'Signed, retried Standard Webhooks deliveries of platform events' },
  paths: {} as Record<string, unknown>,
};

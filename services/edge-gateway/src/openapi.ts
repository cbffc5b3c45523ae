/** The gateway's own OpenAPI document; the public document merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tollgate API', version: '0.1.0', description: 'The public API of Tollgate, served through the edge gateway' },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  security: [{ bearer: [] }],
  paths: {} as Record<string, unknown>,
};

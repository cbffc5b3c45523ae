/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tollgate Image pipeline', version: '0.1.0', description: 'Prompt or upload to a print-ready image, through human review' },
  paths: {} as Record<string, unknown>,
};

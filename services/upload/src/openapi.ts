/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tollgate Upload', version: '0.1.0', description: 'Streamed, validated file uploads and resumable (tus) uploads' },
  paths: {} as Record<string, unknown>,
};

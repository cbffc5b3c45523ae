/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tollgate AI proxy', version: '0.1.0', description: 'OpenAI-compatible chat completions, embeddings and async jobs, billed through credits' },
  paths: {} as Record<string, unknown>,
};

import { ERROR_ENVELOPE_SCHEMA } from '@tollgate/common';
import { z } from 'zod';
import { generationBodySchema } from './generation/request';
import { IMAGE_STATUSES } from './images/states';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const ok = (description: string, schema: unknown) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });
const body = (schema: unknown) => ({ required: true, content: { 'application/json': { schema } } });
const imageIdPath = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^img_[A-Za-z0-9]{16,40}$' } };
const common = {
  '400': err('Invalid input'),
  '401': err('No valid identity'),
  '403': err('Missing scope'),
  '404': err('Not found (or another tenant’s)'),
};

const variant = {
  type: ['object', 'null'],
  properties: {
    url: { type: 'string' },
    content_type: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    bytes: { type: 'integer' },
    sha256: { type: 'string' },
    dpi: { type: 'integer', description: 'Pixel density written into the file (print variant)' },
  },
};

const issue = { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } };
const inches = { type: 'object', properties: { width: { type: 'number' }, height: { type: 'number' } } };

const schemas = {
  Error: ERROR_ENVELOPE_SCHEMA,
  QualityReport: {
    type: 'object',
    description: 'The image checked against its print profile. Errors fail the image; warnings are for the reviewer.',
    required: ['profile', 'passed', 'errors', 'warnings', 'info'],
    properties: {
      profile: { type: 'string' },
      passed: { type: 'boolean' },
      errors: { type: 'array', items: issue },
      warnings: { type: 'array', items: issue },
      info: {
        type: 'object',
        properties: {
          width: { type: 'integer' },
          height: { type: 'integer' },
          format: { enum: ['png', 'jpeg', 'webp'] },
          bytes: { type: 'integer' },
          color_space: { type: 'string' },
          has_alpha: { type: 'boolean' },
          dpi: { type: ['integer', 'null'], description: "DPI in the source's metadata" },
          print_size_in: { ...inches, description: "Inches the source covers at the profile's DPI" },
          effective_dpi: { type: 'integer', description: "DPI the source reaches at the profile's physical size" },
          target: { type: 'object', description: 'The profile: pixel size, DPI, alpha, fit, physical size in inches' },
        },
      },
    },
  },
  Image: {
    type: 'object',
    required: ['id', 'object', 'status', 'source', 'profile', 'variants', 'created_at', 'updated_at'],
    properties: {
      id: { type: 'string', pattern: '^img_' },
      object: { const: 'image' },
      status: { enum: [...IMAGE_STATUSES] },
      source: { enum: ['generation', 'upload'] },
      profile: { type: 'string' },
      job_id: { type: ['string', 'null'] },
      file_id: { type: ['string', 'null'] },
      prompt: { type: ['string', 'null'] },
      model: { type: ['string', 'null'] },
      failure: { type: ['object', 'null'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
      rejection_reason: { type: ['string', 'null'] },
      quality: { oneOf: [ref('QualityReport'), { type: 'null' }] },
      variants: { type: 'object', properties: { original: variant, print: variant, thumb: variant } },
      charge: {
        type: 'object',
        properties: {
          amount: { type: 'integer', description: 'Micro-credits' },
          status: { enum: ['none', 'held', 'captured', 'released'] },
        },
      },
      publication: {
        type: ['object', 'null'],
        properties: {
          publisher: { type: 'string' },
          external_id: { type: 'string' },
          url: { type: ['string', 'null'] },
          published_at: { type: 'string' },
        },
      },
      created_at: { type: 'string', format: 'date-time' },
      updated_at: { type: 'string', format: 'date-time' },
    },
  },
  ImageList: {
    type: 'object',
    required: ['data', 'next_cursor'],
    properties: { data: { type: 'array', items: ref('Image') }, next_cursor: { type: ['string', 'null'] } },
  },
  Generation: {
    type: 'object',
    required: ['id', 'object', 'status', 'deduplicated', 'image_ids'],
    properties: {
      id: { type: 'string', pattern: '^igen_' },
      object: { const: 'image.generation' },
      status: { enum: ['in_progress', 'completed', 'failed'] },
      deduplicated: { type: 'boolean', description: 'True when an identical request inside the dedup window already made these images' },
      prompt: { type: 'string' },
      model: { type: 'string' },
      profile: { type: 'string' },
      width: { type: 'integer' },
      height: { type: 'integer' },
      n: { type: 'integer' },
      seed: { type: 'integer' },
      image_ids: { type: 'array', items: { type: 'string' } },
      images: {
        type: 'array',
        items: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, url: { type: 'string' } } },
      },
      counts: { type: 'object', additionalProperties: { type: 'integer' } },
      created_at: { type: 'string', format: 'date-time' },
    },
  },
  BatchResult: {
    type: 'object',
    required: ['batch_id', 'action', 'successful', 'failed', 'skipped', 'counts'],
    properties: {
      batch_id: { type: 'string' },
      action: { enum: ['approve', 'reject', 'publish', 'delete'] },
      successful: { type: 'array', items: { type: 'string' } },
      failed: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'code', 'message'],
          properties: { id: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
        },
      },
      skipped: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, reason: { type: 'string' } } } },
      counts: {
        type: 'object',
        properties: {
          requested: { type: 'integer' },
          successful: { type: 'integer' },
          failed: { type: 'integer' },
          skipped: { type: 'integer' },
        },
      },
    },
  },
  GenerationRequest: json(generationBodySchema(4000)),
};

const batchBody = {
  type: 'object',
  required: ['image_ids'],
  properties: {
    image_ids: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 100 },
    reason: { type: 'string', description: 'Required for reject' },
  },
};

const singleAction = (action: 'approve' | 'reject' | 'publish', summary: string) => ({
  post: {
    operationId: `${action}Image`,
    summary,
    parameters: [imageIdPath],
    ...(action === 'reject'
      ? { requestBody: body({ type: 'object', required: ['reason'], properties: { reason: { type: 'string', maxLength: 1000 } } }) }
      : {}),
    responses: {
      [action === 'publish' ? '202' : '200']: ok(action === 'publish' ? 'Publishing queued' : 'Done', ref('Image')),
      ...common,
      '409': err('The image is not in a state this action accepts; details.current_status says which it is in'),
    },
  },
});

/** This service's OpenAPI 3.1 document; the gateway merges every service's /v1 paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Tollgate Image pipeline',
    version: '0.1.0',
    description: 'Prompt or upload to a print-ready image, through human review',
  },
  components: { schemas },
  paths: {
    '/v1/images/generations': {
      post: {
        operationId: 'createImageGeneration',
        summary:
          'Generate n images from a prompt (async). Each image is charged; identical requests inside the dedup window return the existing images.',
        requestBody: body(ref('GenerationRequest')),
        responses: {
          '202': ok('Queued (or deduplicated)', ref('Generation')),
          ...common,
          '402': err('Not enough credits for n images'),
          '503': err('Could not be queued'),
        },
      },
    },
    '/v1/images/generations/{id}': {
      get: {
        operationId: 'getImageGeneration',
        summary: 'A generation and its images',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': ok('The generation', ref('Generation')), ...common },
      },
    },
    '/v1/images/ingest': {
      post: {
        operationId: 'ingestImage',
        summary: 'Turn an uploaded file (PNG, JPEG or WebP) into an image record',
        requestBody: body({
          type: 'object',
          required: ['file_id'],
          properties: { file_id: { type: 'string' }, profile: { type: 'string' } },
        }),
        responses: {
          '202': ok('Queued for processing', ref('Image')),
          ...common,
          '413': err('File too large'),
          '415': err('Not a PNG, JPEG or WebP'),
        },
      },
    },
    '/v1/images': {
      get: {
        operationId: 'listImages',
        summary: 'Images of the tenant, newest first (the review queue with ?status=pending_review)',
        parameters: [
          { name: 'status', in: 'query', schema: { enum: [...IMAGE_STATUSES] } },
          { name: 'job_id', in: 'query', schema: { type: 'string' } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
        ],
        responses: { '200': ok('A page of images', ref('ImageList')), ...common },
      },
    },
    '/v1/images/{id}': {
      get: {
        operationId: 'getImage',
        summary: 'One image with its quality report and variants',
        parameters: [imageIdPath],
        responses: { '200': ok('The image', ref('Image')), ...common },
      },
      delete: {
        operationId: 'deleteImage',
        summary: 'Delete an image and its files (not while in flight)',
        parameters: [imageIdPath],
        responses: { '200': ok('Deleted', { type: 'object' }), ...common, '409': err('In flight') },
      },
    },
    '/v1/images/{id}/content': {
      get: {
        operationId: 'getImageContent',
        summary: 'The bytes of a variant',
        parameters: [imageIdPath, { name: 'variant', in: 'query', schema: { enum: ['original', 'print', 'thumb'], default: 'original' } }],
        responses: {
          '200': { description: 'The image', content: { 'image/png': {}, 'image/jpeg': {}, 'image/webp': {} } },
          '304': { description: 'Not modified (If-None-Match)' },
          ...common,
        },
      },
    },
    '/v1/images/{id}/approve': singleAction('approve', 'Approve an image in review'),
    '/v1/images/{id}/reject': singleAction('reject', 'Reject an image, with a reason'),
    '/v1/images/{id}/publish': singleAction('publish', 'Publish an approved image through the configured publisher'),
    '/v1/images/batch/{action}': {
      post: {
        operationId: 'batchImageAction',
        summary: 'Apply one action to up to 100 images, each independently; another tenant’s id is reported as not found',
        parameters: [{ name: 'action', in: 'path', required: true, schema: { enum: ['approve', 'reject', 'publish', 'delete'] } }],
        requestBody: body(batchBody),
        responses: { '200': ok('Per-id outcome', ref('BatchResult')), ...common },
      },
    },
  } as Record<string, unknown>,
};

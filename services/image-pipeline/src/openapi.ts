import { ApiDocument, errors, jsonBody, jsonResponse } from '@tollgate/common';
import { z } from 'zod';
import { generationBodySchema } from './generation/request';
import { BATCH_ACTIONS, batchBody, batchRejectBody, contentQuery, listQuery, rejectBody } from './images/routes';
import { IMAGE_STATUSES } from './images/states';
import { ingestBody } from './ingest/routes';

const api = new ApiDocument({
  title: 'Tollgate Image pipeline',
  description: 'Prompt or upload to a print-ready image, through human review',
});

const timestamp = z.iso.datetime({ offset: true });
const variant = z
  .object({
    url: z.string(),
    content_type: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    bytes: z.number().int(),
    sha256: z.string(),
    dpi: z.number().int().optional().meta({ description: 'Pixel density written into the file (print variant)' }),
  })
  .partial()
  .nullable();
const issue = z.object({ code: z.string(), message: z.string() });
const inches = z.object({ width: z.number(), height: z.number() }).partial();

const qualityReport = api.schema(
  'QualityReport',
  z
    .object({
      profile: z.string(),
      passed: z.boolean(),
      errors: z.array(issue),
      warnings: z.array(issue),
      info: z
        .object({
          width: z.number().int(),
          height: z.number().int(),
          format: z.enum(['png', 'jpeg', 'webp']),
          bytes: z.number().int(),
          color_space: z.string(),
          has_alpha: z.boolean(),
          dpi: z.number().int().nullable().meta({ description: "DPI in the source's metadata" }),
          print_size_in: inches.meta({ description: "Inches the source covers at the profile's DPI" }),
          effective_dpi: z.number().int().meta({ description: "DPI the source reaches at the profile's physical size" }),
          target: z.looseObject({}).meta({ description: 'The profile: pixel size, DPI, alpha, fit, physical size in inches' }),
        })
        .partial(),
    })
    .meta({ description: 'The image checked against its print profile. Errors fail the image; warnings are for the reviewer.' }),
);

const image = api.schema(
  'Image',
  z.object({
    id: z.string().regex(/^img_/),
    object: z.literal('image'),
    status: z.enum(IMAGE_STATUSES),
    source: z.enum(['generation', 'upload']),
    profile: z.string(),
    job_id: z.string().nullable().optional(),
    file_id: z.string().nullable().optional(),
    prompt: z.string().nullable().optional(),
    model: z.string().nullable().optional(),
    failure: z.object({ code: z.string(), message: z.string() }).partial().nullable().optional(),
    rejection_reason: z.string().nullable().optional(),
    // A union, not .nullable(): zod-to-openapi renders a nullable $ref as allOf[$ref, object|null], which refuses null.
    quality: z.union([qualityReport, z.null()]).optional(),
    variants: z.object({ original: variant, print: variant, thumb: variant }).partial(),
    charge: z
      .object({ amount: z.number().int().meta({ description: 'Micro-credits' }), status: z.enum(['none', 'held', 'captured', 'released']) })
      .partial()
      .optional(),
    publication: z
      .object({ publisher: z.string(), external_id: z.string(), url: z.string().nullable(), published_at: z.string() })
      .partial()
      .nullable()
      .optional(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
);

const imageList = api.schema('ImageList', z.object({ data: z.array(image), next_cursor: z.string().nullable() }));

const generation = api.schema(
  'Generation',
  z.object({
    id: z.string().regex(/^igen_/),
    object: z.literal('image.generation'),
    status: z.enum(['in_progress', 'completed', 'failed']),
    deduplicated: z.boolean().meta({ description: 'True when an identical request inside the dedup window already made these images' }),
    prompt: z.string().optional(),
    model: z.string().optional(),
    profile: z.string().optional(),
    width: z.number().int().optional(),
    height: z.number().int().optional(),
    n: z.number().int().optional(),
    seed: z.number().int().optional(),
    image_ids: z.array(z.string()),
    images: z.array(z.object({ id: z.string(), status: z.string(), url: z.string() }).partial()).optional(),
    counts: z.record(z.string(), z.number().int()).optional(),
    created_at: timestamp.optional(),
  }),
);

const batchResult = api.schema(
  'BatchResult',
  z.object({
    batch_id: z.string(),
    action: z.enum(BATCH_ACTIONS),
    successful: z.array(z.string()),
    failed: z.array(z.object({ id: z.string(), code: z.string(), message: z.string() })),
    skipped: z.array(z.object({ id: z.string(), reason: z.string() }).partial()),
    counts: z
      .object({ requested: z.number().int(), successful: z.number().int(), failed: z.number().int(), skipped: z.number().int() })
      .partial(),
  }),
);

const imageParams = z.object({ id: z.string().regex(/^img_[A-Za-z0-9]{16,40}$/) });
const notFound = errors([404, 'Not found (or another tenant’s)']);
const wrongState = errors([409, 'The image is not in a state this action accepts; details.current_status says which it is in']);

api.route({
  method: 'post',
  path: '/v1/images/generations',
  operationId: 'createImageGeneration',
  summary:
    'Generate n images from a prompt (async). Each image is charged; identical requests inside the dedup window return the existing images.',
  tags: ['image-pipeline'],
  scope: 'generation',
  request: { body: jsonBody(api.schema('GenerationRequest', generationBodySchema(4000))) },
  responses: {
    202: jsonResponse('Queued (or deduplicated)', generation),
    ...errors([402, 'Not enough credits for n images'], [503, 'Could not be queued']),
  },
});
api.route({
  method: 'get',
  path: '/v1/images/generations/{id}',
  operationId: 'getImageGeneration',
  summary: 'A generation and its images',
  tags: ['image-pipeline'],
  scope: 'read',
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonResponse('The generation', generation), ...notFound },
});
api.route({
  method: 'post',
  path: '/v1/images/ingest',
  operationId: 'ingestImage',
  summary: 'Turn an uploaded file (PNG, JPEG or WebP) into an image record',
  tags: ['image-pipeline'],
  scope: 'write',
  request: { body: jsonBody(ingestBody) },
  responses: {
    202: jsonResponse('Queued for processing', image),
    ...notFound,
    ...errors([413, 'File too large'], [415, 'Not a PNG, JPEG or WebP']),
  },
});
api.route({
  method: 'get',
  path: '/v1/images',
  operationId: 'listImages',
  summary: 'Images of the tenant, newest first (the review queue with ?status=pending_review)',
  tags: ['image-pipeline'],
  scope: 'read',
  request: { query: listQuery },
  responses: { 200: jsonResponse('A page of images', imageList) },
});
api.route({
  method: 'get',
  path: '/v1/images/{id}',
  operationId: 'getImage',
  summary: 'One image with its quality report and variants',
  tags: ['image-pipeline'],
  scope: 'read',
  request: { params: imageParams },
  responses: { 200: jsonResponse('The image', image), ...notFound },
});
api.route({
  method: 'delete',
  path: '/v1/images/{id}',
  operationId: 'deleteImage',
  summary: 'Delete an image and its files (not while in flight)',
  tags: ['image-pipeline'],
  scope: 'write',
  request: { params: imageParams },
  responses: {
    200: jsonResponse('Deleted', z.object({ id: z.string(), object: z.literal('image'), deleted: z.literal(true) })),
    ...notFound,
    ...errors([409, 'In flight']),
  },
});
const imageBytes = { schema: { type: 'string', format: 'binary' } } as const;
api.route({
  method: 'get',
  path: '/v1/images/{id}/content',
  operationId: 'getImageContent',
  summary: 'The bytes of a variant',
  tags: ['image-pipeline'],
  scope: 'read',
  request: { params: imageParams, query: contentQuery },
  responses: {
    200: { description: 'The image', content: { 'image/png': imageBytes, 'image/jpeg': imageBytes, 'image/webp': imageBytes } },
    304: { description: 'Not modified (If-None-Match)' },
    ...errors([404, 'No such image (or another tenant’s), or the variant is not made yet']),
  },
});
for (const [action, summary] of [
  ['approve', 'Approve an image in review'],
  ['reject', 'Reject an image, with a reason'],
  ['publish', 'Publish an approved image through the configured publisher'],
] as const) {
  api.route({
    method: 'post',
    path: `/v1/images/{id}/${action}`,
    operationId: `${action}Image`,
    summary,
    tags: ['image-pipeline'],
    scope: 'write',
    request: { params: imageParams, ...(action === 'reject' ? { body: jsonBody(rejectBody) } : {}) },
    responses: {
      [action === 'publish' ? 202 : 200]: jsonResponse(action === 'publish' ? 'Publishing queued' : 'Done', image),
      ...notFound,
      ...wrongState,
    },
  });
}
api.route({
  method: 'post',
  path: '/v1/images/batch/{action}',
  operationId: 'batchImageAction',
  summary: 'Apply one action to up to 100 images, each independently; another tenant’s id is reported as not found',
  tags: ['image-pipeline'],
  scope: 'write',
  request: {
    params: z.object({ action: z.enum(BATCH_ACTIONS) }),
    body: jsonBody(z.union([batchBody, batchRejectBody]), 'For reject, `reason` is required'),
  },
  responses: { 200: jsonResponse('Per-id outcome', batchResult) },
});

/** This service's OpenAPI 3.1 document, generated from the zod schemas above and the routes'. */
export const openapiDocument = api.build();

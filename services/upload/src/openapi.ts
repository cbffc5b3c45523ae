import { ApiDocument, errors, jsonResponse } from '@tollgate/common';
import { z } from 'zod';
import { listFilesQuery } from './files/routes';
import { PURPOSE_NAMES, PURPOSES } from './files/purposes';
import { internalQuery } from './internal/routes';

const api = new ApiDocument({ title: 'Tollgate Upload', description: 'Streamed, validated file uploads and resumable (tus) uploads' });

const timestamp = z.iso.datetime({ offset: true });
const file = api.schema(
  'File',
  z.object({
    id: z.string().regex(/^file_/),
    object: z.literal('file'),
    filename: z.string().meta({
      description: "The client's filename, sanitised (last path segment, no control or bidi characters, at most 255 bytes). Metadata only.",
    }),
    purpose: z.enum(PURPOSE_NAMES),
    bytes: z.number().int().min(1),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .meta({ description: 'Also the ETag of the content' }),
    mime_type: z.string().meta({ description: 'Detected from the content (magic bytes), not from the name or the client' }),
    status: z.literal('ready'),
    created_at: timestamp,
    expires_at: timestamp.nullable(),
  }),
);
const upload = api.schema(
  'Upload',
  z.object({
    id: z.string().regex(/^upl_/),
    object: z.literal('upload'),
    offset: z.number().int().min(0),
    length: z.number().int().min(1),
    status: z.enum(['in_progress', 'completed']),
    expires_at: timestamp,
    // A union, not file.nullable(): zod-to-openapi renders a nullable $ref as allOf[$ref, object|null], which refuses null.
    file: z.union([file, z.null()]).meta({ description: 'The file object once complete' }),
  }),
);

const fileParams = z.object({ id: z.string().regex(/^file_/) });
const uploadParams = z.object({ id: z.string().regex(/^upl_/) });
const tusResumable = z.object({ 'Tus-Resumable': z.literal('1.0.0') });
const contentHeaders = z.object({
  Range: z.string().optional().meta({ example: 'bytes=0-1023' }),
  'If-None-Match': z.string().optional(),
  'If-Range': z.string().optional(),
});
const notFound = errors([404, 'No such file for this tenant (another tenant’s file is a 404 too)']);
const noUpload = errors([404, 'No such upload (or expired)']);
const binary = { type: 'string', format: 'binary' } as const;
/** Range answers carry the bytes; 304 and 416 carry none. */
const contentResponses = {
  200: {
    description:
      'The bytes. Content-Type is the detected type; Content-Disposition is `inline` (or `attachment` with `?download=1`), always `attachment` for SVG/HTML; X-Content-Type-Options: nosniff; ETag = "sha256"; Accept-Ranges: bytes.',
    content: { '*/*': { schema: binary } },
  },
  206: { description: 'The requested single byte range (Content-Range)', content: { '*/*': { schema: binary } } },
  304: { description: 'If-None-Match matched the ETag' },
  416: { description: 'The range starts past the end (Content-Range: bytes */size)' },
  ...notFound,
};
const purposeDescription = Object.entries(PURPOSES)
  .map(([name, types]) => `\`${name}\`: ${types.join(', ')}`)
  .join('; ');

api.route({
  method: 'post',
  path: '/v1/files',
  summary: 'Upload a file (streamed)',
  description: `Multipart upload, streamed to storage while hashed and counted. The type is detected from the content and must be allowed for the purpose (${purposeDescription}); the extension must agree. Per-tenant quotas (bytes and files) include uploads in flight.`,
  tags: ['upload'],
  scope: 'write',
  request: {
    body: {
      required: true,
      content: {
        'multipart/form-data': {
          schema: z.object({
            purpose: z
              .enum(PURPOSE_NAMES)
              .default('general')
              .meta({ description: 'Send before `file` to have wrong content refused after its first bytes' }),
            expires_in: z.number().int().min(1).optional().meta({ description: 'Seconds until the file expires and is deleted' }),
            file: z.string().meta({ format: 'binary' }),
          }),
        },
      },
    },
  },
  responses: {
    201: { ...jsonResponse('Stored', file), headers: { Location: { schema: { type: 'string' } } } },
    ...errors(
      [400, 'No `file` field, more than one file, empty file, bad purpose or expires_in'],
      [403, 'Missing scope `write`, or quota exceeded (`details.reason = quota_exceeded`, `details.quota = bytes|files`)'],
      [413, 'Larger than the size limit (`details.max_bytes`); nothing is kept'],
      [415, 'Not multipart, or the content type is not allowed for the purpose or disagrees with the extension (`details.detected_type`)'],
    ),
  },
});
api.route({
  method: 'get',
  path: '/v1/files',
  summary: 'List files (newest first)',
  tags: ['upload'],
  scope: 'read',
  request: { query: listFilesQuery },
  responses: { 200: jsonResponse('A page', z.object({ data: z.array(file), next_cursor: z.string().nullable() })) },
});
api.route({
  method: 'get',
  path: '/v1/files/{id}',
  summary: 'File metadata',
  tags: ['upload'],
  scope: 'read',
  request: { params: fileParams },
  responses: { 200: jsonResponse('The file', file), ...notFound },
});
api.route({
  method: 'delete',
  path: '/v1/files/{id}',
  summary: 'Delete a file (its quota is given back; `file.deleted` is emitted)',
  tags: ['upload'],
  scope: 'write',
  request: { params: fileParams },
  responses: {
    200: jsonResponse('Deleted', z.object({ id: z.string(), object: z.literal('file'), deleted: z.literal(true) })),
    ...notFound,
  },
});
api.route({
  method: 'get',
  path: '/v1/files/{id}/content',
  summary: 'File bytes (Range, ETag)',
  tags: ['upload'],
  scope: 'read',
  request: {
    params: fileParams,
    headers: contentHeaders,
    query: z.object({ download: z.enum(['1', 'true']).optional().meta({ description: 'Force Content-Disposition: attachment' }) }),
  },
  responses: contentResponses,
});
api.route({
  method: 'options',
  path: '/v1/uploads',
  summary: 'tus discovery',
  tags: ['upload'],
  scope: 'none',
  responses: {
    204: {
      description:
        'Tus-Version, Tus-Extension (creation, creation-with-upload, termination, expiration, checksum), Tus-Checksum-Algorithm (sha1, sha256, md5), Tus-Max-Size',
    },
  },
});
api.route({
  method: 'post',
  path: '/v1/uploads',
  summary: 'tus: create an upload',
  description:
    'Upload-Length is required (deferred length is not supported) and is reserved against the quota at once. Upload-Metadata keys: `filename`, `purpose`, `expires_in`. With Content-Type application/offset+octet-stream the body is the first chunk.',
  tags: ['upload'],
  scope: 'write',
  request: {
    headers: tusResumable.extend({ 'Upload-Length': z.number().int().min(1), 'Upload-Metadata': z.string().optional() }),
  },
  responses: {
    201: { description: 'Created: Location, Upload-Offset, Upload-Expires' },
    ...errors(
      [400, 'Missing/invalid Upload-Length or Upload-Metadata'],
      [403, 'Missing scope `write`, or quota exceeded'],
      [412, 'Unsupported Tus-Resumable'],
      [413, 'Upload-Length over the size limit'],
      [460, 'The first chunk does not match Upload-Checksum'],
    ),
  },
});
api.route({
  method: 'head',
  path: '/v1/uploads/{id}',
  summary: 'tus: current offset',
  tags: ['upload'],
  scope: 'write',
  request: { params: uploadParams, headers: tusResumable },
  responses: {
    200: { description: 'Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires; X-Tollgate-File-Id once complete' },
    404: { description: 'No such upload (or expired); a HEAD answer has no body' },
    412: { description: 'Unsupported Tus-Resumable' },
  },
});
api.route({
  method: 'patch',
  path: '/v1/uploads/{id}',
  summary: 'tus: append bytes at Upload-Offset',
  description:
    'The content type is checked once the first 4 KiB are in and again on completion; the last PATCH answers with X-Tollgate-File-Id, the same file object as POST /v1/files.',
  tags: ['upload'],
  scope: 'write',
  request: {
    params: uploadParams,
    headers: tusResumable.extend({
      'Upload-Offset': z.number().int().min(0),
      'Upload-Checksum': z
        .string()
        .optional()
        .meta({ description: 'tus checksum extension: `<sha1|sha256|md5> <base64 digest>` of this request body' }),
    }),
    body: { required: true, content: { 'application/offset+octet-stream': { schema: binary } } },
  },
  responses: {
    204: { description: 'Appended: Upload-Offset (and X-Tollgate-File-Id when complete)' },
    ...noUpload,
    ...errors(
      [409, 'Upload-Offset mismatch, or another PATCH is writing (`details.offset`)'],
      [412, 'Unsupported Tus-Resumable'],
      [413, 'Past Upload-Length'],
      [415, 'Wrong Content-Type, or content not allowed (`details.detected_type`); the upload is terminated'],
      [460, 'The body does not match Upload-Checksum; the chunk was discarded (Upload-Offset unchanged)'],
    ),
  },
});
api.route({
  method: 'delete',
  path: '/v1/uploads/{id}',
  summary: 'tus termination',
  tags: ['upload'],
  scope: 'write',
  request: { params: uploadParams, headers: tusResumable },
  responses: { 204: { description: 'Terminated; bytes and quota released' }, ...noUpload, ...errors([412, 'Unsupported Tus-Resumable']) },
});
api.route({
  method: 'get',
  path: '/v1/uploads/{id}',
  summary: 'Upload progress and, once complete, its file object (not part of tus)',
  tags: ['upload'],
  scope: 'read',
  request: { params: uploadParams },
  responses: { 200: jsonResponse('Progress', upload), ...noUpload },
});

// Service-to-service routes (scope `service`): x-internal-paths, never in the public document.
api.route({
  method: 'get',
  path: '/internal/v1/files/{id}',
  summary: 'File metadata for a service (scope `service`)',
  scope: 'service',
  request: { params: fileParams, query: internalQuery },
  responses: { 200: jsonResponse('The file', file), ...notFound },
});
api.route({
  method: 'get',
  path: '/internal/v1/files/{id}/content',
  summary: 'File bytes for a service (scope `service`), e.g. the image pipeline',
  scope: 'service',
  request: { params: fileParams, query: internalQuery, headers: contentHeaders },
  responses: contentResponses,
});

/** This service's OpenAPI 3.1 document, generated from the zod schemas above and the routes'. */
export const openapiDocument = api.build();

import { ERROR_ENVELOPE_SCHEMA } from '@tollgate/common';
import { PURPOSE_NAMES, PURPOSES } from './files/purposes';

const errorEnvelope = ERROR_ENVELOPE_SCHEMA;

const fileObject = {
  type: 'object',
  required: ['id', 'object', 'filename', 'purpose', 'bytes', 'sha256', 'mime_type', 'status', 'created_at', 'expires_at'],
  properties: {
    id: { type: 'string', pattern: '^file_' },
    object: { const: 'file' },
    filename: {
      type: 'string',
      description: "The client's filename, sanitised (last path segment, no control or bidi characters, at most 255 bytes). Metadata only.",
    },
    purpose: { enum: PURPOSE_NAMES },
    bytes: { type: 'integer', minimum: 1 },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Also the ETag of the content' },
    mime_type: { type: 'string', description: 'Detected from the content (magic bytes), not from the name or the client' },
    status: { const: 'ready' },
    created_at: { type: 'string', format: 'date-time' },
    expires_at: { type: ['string', 'null'], format: 'date-time' },
  },
};

const error = (description: string) => ({ description, content: { 'application/json': { schema: errorEnvelope } } });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^file_' } };
const uploadIdParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^upl_' } };
const tusResumable = { name: 'Tus-Resumable', in: 'header', required: true, schema: { const: '1.0.0' } };
const tenantIdQuery = {
  name: 'tenant_id',
  in: 'query',
  required: false,
  schema: { type: 'string' },
  description: "The tenant the call acts for; defaults to the service token's `sub`. A file of another tenant is a 404.",
};
const notFound = error('No such file for this tenant (another tenant’s file is a 404 too)');
const unauthenticated = error('No or invalid X-Tollgate-Identity');
const forbiddenScope = error('Missing scope');

const contentResponses = {
  '200': {
    description:
      'The bytes. Content-Type is the detected type; Content-Disposition is `inline` (or `attachment` with `?download=1`), always `attachment` for SVG/HTML; X-Content-Type-Options: nosniff; ETag = "sha256"; Accept-Ranges: bytes.',
    content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
  },
  '206': { description: 'The requested single byte range (Content-Range)' },
  '304': { description: 'If-None-Match matched the ETag' },
  '404': notFound,
  '416': { description: 'The range starts past the end (Content-Range: bytes */size)' },
};
const contentParams = [
  { name: 'Range', in: 'header', required: false, schema: { type: 'string', example: 'bytes=0-1023' } },
  { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
  { name: 'If-Range', in: 'header', required: false, schema: { type: 'string' } },
];

const purposeDescription = Object.entries(PURPOSES)
  .map(([name, types]) => `\`${name}\`: ${types.join(', ')}`)
  .join('; ');

/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tollgate Upload', version: '0.1.0', description: 'Streamed, validated file uploads and resumable (tus) uploads' },
  components: { schemas: { File: fileObject, Error: errorEnvelope } },
  paths: {
    '/v1/files': {
      post: {
        summary: 'Upload a file (streamed)',
        description: `Multipart upload, streamed to storage while hashed and counted. The type is detected from the content and must be allowed for the purpose (${purposeDescription}); the extension must agree. Per-tenant quotas (bytes and files) include uploads in flight.`,
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['file'],
                properties: {
                  purpose: {
                    enum: PURPOSE_NAMES,
                    default: 'general',
                    description: 'Send before `file` to have wrong content refused after its first bytes',
                  },
                  expires_in: { type: 'integer', minimum: 1, description: 'Seconds until the file expires and is deleted' },
                  file: { type: 'string', format: 'binary' },
                },
              },
            },
          },
        },
        responses: {
          '201': {
            description: 'Stored',
            headers: { Location: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: fileObject } },
          },
          '400': error('No `file` field, more than one file, empty file, bad purpose or expires_in'),
          '401': unauthenticated,
          '403': error('Missing scope `write`, or quota exceeded (`details.reason = quota_exceeded`, `details.quota = bytes|files`)'),
          '413': error('Larger than the size limit (`details.max_bytes`); nothing is kept'),
          '415': error(
            'Not multipart, or the content type is not allowed for the purpose or disagrees with the extension (`details.detected_type`)',
          ),
        },
      },
      get: {
        summary: 'List files (newest first)',
        parameters: [
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          { name: 'purpose', in: 'query', schema: { enum: PURPOSE_NAMES } },
        ],
        responses: {
          '200': {
            description: 'A page',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { data: { type: 'array', items: fileObject }, next_cursor: { type: ['string', 'null'] } },
                },
              },
            },
          },
          '400': error('Bad cursor or limit'),
          '401': unauthenticated,
        },
      },
    },
    '/v1/files/{id}': {
      get: {
        summary: 'File metadata',
        parameters: [idParam],
        responses: { '200': { description: 'The file', content: { 'application/json': { schema: fileObject } } }, '404': notFound },
      },
      delete: {
        summary: 'Delete a file (its quota is given back; `file.deleted` is emitted)',
        parameters: [idParam],
        responses: {
          '200': {
            description: 'Deleted',
            content: {
              'application/json': {
                schema: { type: 'object', properties: { id: { type: 'string' }, object: { const: 'file' }, deleted: { const: true } } },
              },
            },
          },
          '403': forbiddenScope,
          '404': notFound,
        },
      },
    },
    '/v1/files/{id}/content': {
      get: {
        summary: 'File bytes (Range, ETag)',
        parameters: [
          idParam,
          ...contentParams,
          { name: 'download', in: 'query', schema: { enum: ['1', 'true'] }, description: 'Force Content-Disposition: attachment' },
        ],
        responses: contentResponses,
      },
    },
    '/v1/uploads': {
      options: {
        summary: 'tus discovery',
        responses: {
          '204': { description: 'Tus-Version, Tus-Extension (creation, creation-with-upload, termination, expiration, checksum), Tus-Checksum-Algorithm (sha1, sha256, md5), Tus-Max-Size' },
        },
      },
      post: {
        summary: 'tus: create an upload',
        description:
          'Upload-Length is required (deferred length is not supported) and is reserved against the quota at once. Upload-Metadata keys: `filename`, `purpose`, `expires_in`. With Content-Type application/offset+octet-stream the body is the first chunk.',
        parameters: [
          tusResumable,
          { name: 'Upload-Length', in: 'header', required: true, schema: { type: 'integer', minimum: 1 } },
          { name: 'Upload-Metadata', in: 'header', required: false, schema: { type: 'string' } },
        ],
        responses: {
          '201': { description: 'Created: Location, Upload-Offset, Upload-Expires' },
          '400': error('Missing/invalid Upload-Length or Upload-Metadata'),
          '403': error('Quota exceeded'),
          '412': { description: 'Unsupported Tus-Resumable' },
          '413': error('Upload-Length over the size limit'),
        },
      },
    },
    '/v1/uploads/{id}': {
      head: {
        summary: 'tus: current offset',
        parameters: [uploadIdParam, tusResumable],
        responses: {
          '200': { description: 'Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires; X-Tollgate-File-Id once complete' },
          '404': { description: 'No such upload (or expired)' },
        },
      },
      patch: {
        summary: 'tus: append bytes at Upload-Offset',
        description:
          'The content type is checked once the first 4 KiB are in and again on completion; the last PATCH answers with X-Tollgate-File-Id, the same file object as POST /v1/files.',
        parameters: [
          uploadIdParam,
          tusResumable,
          { name: 'Upload-Offset', in: 'header', required: true, schema: { type: 'integer', minimum: 0 } },
          {
            name: 'Upload-Checksum',
            in: 'header',
            required: false,
            description: 'tus checksum extension: `<sha1|sha256|md5> <base64 digest>` of this request body',
            schema: { type: 'string' },
          },
        ],
        requestBody: { required: true, content: { 'application/offset+octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          '204': { description: 'Appended: Upload-Offset (and X-Tollgate-File-Id when complete)' },
          '404': { description: 'No such upload' },
          '409': error('Upload-Offset mismatch, or another PATCH is writing (`details.offset`)'),
          '413': error('Past Upload-Length'),
          '415': error('Wrong Content-Type, or content not allowed (`details.detected_type`); the upload is terminated'),
          '460': error('The body does not match Upload-Checksum; the chunk was discarded (Upload-Offset unchanged)'),
        },
      },
      delete: {
        summary: 'tus termination',
        parameters: [uploadIdParam, tusResumable],
        responses: { '204': { description: 'Terminated; bytes and quota released' }, '404': { description: 'No such upload' } },
      },
      get: {
        summary: 'Upload progress and, once complete, its file object (not part of tus)',
        parameters: [uploadIdParam],
        responses: { '200': { description: 'Progress' }, '404': { description: 'No such upload' } },
      },
    },
    '/internal/v1/files/{id}': {
      get: {
        summary: 'File metadata for a service (scope `service`)',
        parameters: [idParam, tenantIdQuery],
        responses: {
          '200': { description: 'The file', content: { 'application/json': { schema: fileObject } } },
          '403': forbiddenScope,
          '404': notFound,
        },
      },
    },
    '/internal/v1/files/{id}/content': {
      get: {
        summary: 'File bytes for a service (scope `service`), e.g. the image pipeline',
        parameters: [idParam, tenantIdQuery, ...contentParams],
        responses: contentResponses,
      },
    },
  } as Record<string, unknown>,
};

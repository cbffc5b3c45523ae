import { ERROR_ENVELOPE_SCHEMA } from '@tollgate/common';
import { z } from 'zod';
import { MAX_AMOUNT } from './ledger/validation';
import { chargeBody, topUpBody } from './transactions/routes';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

const microCredits = { type: 'integer', minimum: 0, description: 'Micro-credits (1 credit = 1,000,000)' };
const errorEnvelope = ERROR_ENVELOPE_SCHEMA;
const balance = {
  type: 'object',
  required: ['tenant_id', 'available', 'held', 'currency'],
  properties: {
    tenant_id: { type: 'string' },
    available: {
      type: 'integer',
      description:
        'What can be spent now: posted balance minus active holds; below zero while a late charge is owed (nothing can be held until topped up)',
    },
    held: { ...microCredits, description: 'Reserved by active holds' },
    currency: { const: 'credits' },
  },
};
const transaction = {
  type: 'object',
  required: ['id', 'tenant_id', 'type', 'amount', 'balance_after', 'created_at'],
  properties: {
    id: { type: 'string', pattern: '^txn_' },
    tenant_id: { type: 'string' },
    type: { enum: ['top_up', 'charge', 'capture'] },
    amount: { ...microCredits, description: 'Always positive; `type` says the direction' },
    balance_after: { type: 'integer', description: "The account's posted balance right after this transaction (holds not deducted)" },
    description: { type: ['string', 'null'] },
    hold_id: { type: ['string', 'null'], description: 'For captures: the hold captured' },
    created_at: { type: 'string', format: 'date-time' },
  },
};
const hold = {
  type: 'object',
  required: ['id', 'tenant_id', 'amount', 'status', 'captured_amount', 'released_amount', 'expires_at', 'created_at'],
  properties: {
    id: { type: 'string', pattern: '^hold_' },
    tenant_id: { type: 'string' },
    amount: microCredits,
    status: { enum: ['held', 'captured', 'released', 'expired'] },
    captured_amount: microCredits,
    released_amount: microCredits,
    transaction_id: { type: ['string', 'null'] },
    description: { type: ['string', 'null'] },
    expires_at: { type: 'string', format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
    finalized_at: { type: ['string', 'null'], format: 'date-time' },
  },
};

const ok = (description: string, schema: unknown) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const body = (schema: unknown) => ({ required: true, content: { 'application/json': { schema } } });
const tenantPath = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } };
const holdPath = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^hold_[A-Za-z0-9]{16,40}$' } };
const common = { '400': err('Invalid input'), '401': err('No valid identity'), '403': err('Missing scope') };

/** This service's OpenAPI 3.1 document; the gateway merges every service's (public) paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Tollgate Credits',
    version: '0.1.0',
    description: 'Per-tenant credits ledger: balances, holds, charges and history. Amounts are integer micro-credits.',
  },
  components: {
    schemas: {
      Error: errorEnvelope,
      Balance: balance,
      Transaction: transaction,
      TransactionList: {
        type: 'object',
        required: ['data', 'next_cursor'],
        properties: { data: { type: 'array', items: ref('Transaction') }, next_cursor: { type: ['string', 'null'] } },
      },
      Hold: hold,
    },
  },
  paths: {
    '/v1/credits/balance': {
      get: { summary: "The caller's balance", tags: ['credits'], responses: { '200': ok('Balance', ref('Balance')), ...common } },
    },
    '/v1/credits/transactions': {
      get: {
        summary: "The caller's transactions, newest first",
        tags: ['credits'],
        parameters: [
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
        ],
        responses: { '200': ok('A page of transactions', ref('TransactionList')), ...common },
      },
    },
    '/v1/admin/tenants/{id}/credits': {
      get: {
        summary: "A tenant's balance (admin)",
        tags: ['admin'],
        parameters: [tenantPath],
        responses: { '200': ok('Balance', ref('Balance')), ...common },
      },
      post: {
        summary: 'Top up a tenant (admin); emits credits.topped_up',
        tags: ['admin'],
        parameters: [tenantPath, { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
        requestBody: body(json(topUpBody)),
        responses: {
          '201': ok('The top-up transaction (also on an idempotent replay, with Idempotent-Replayed: true)', ref('Transaction')),
          ...common,
          '409': err('Balance would exceed the largest amount held'),
          '422': err('Idempotency-Key reused with a different body'),
        },
      },
    },
    '/v1/admin/tenants/{id}/credits/threshold': {
      put: {
        summary: 'Set the low-balance threshold (admin); null returns to the default',
        tags: ['admin'],
        parameters: [tenantPath],
        requestBody: body({
          type: 'object',
          required: ['threshold'],
          properties: { threshold: { type: ['integer', 'null'], minimum: 0, maximum: MAX_AMOUNT } },
        }),
        responses: { '200': ok('The threshold in force', { type: 'object' }), ...common },
      },
    },
  } as Record<string, unknown>,
  /** Service-to-service routes (scope `service`), kept out of `paths` so the public document never lists them. */
  'x-internal-paths': {
    '/internal/v1/charges': {
      post: {
        summary: 'One-step charge',
        requestBody: body(json(chargeBody)),
        responses: {
          '201': ok('The charge', ref('Transaction')),
          '402': err('INSUFFICIENT_CREDITS, details {available, requested}'),
          '422': err('IDEMPOTENCY_KEY_REUSED'),
          ...common,
        },
      },
    },
    '/internal/v1/holds': {
      post: {
        summary: 'Reserve credits (two-phase); expires after ttl_s unless captured or released',
        requestBody: body({
          type: 'object',
          required: ['tenant_id', 'amount', 'idempotency_key'],
          properties: {
            tenant_id: { type: 'string' },
            amount: { type: 'integer', minimum: 1, maximum: MAX_AMOUNT },
            idempotency_key: { type: 'string' },
            ttl_s: { type: 'integer', minimum: 1 },
            description: { type: 'string' },
          },
        }),
        responses: {
          '201': ok('The hold', ref('Hold')),
          '402': err('INSUFFICIENT_CREDITS'),
          '422': err('IDEMPOTENCY_KEY_REUSED'),
          ...common,
        },
      },
    },
    '/internal/v1/holds/{id}/capture': {
      post: {
        summary: 'Capture up to the held amount; the rest is released',
        parameters: [holdPath],
        requestBody: body({ type: 'object', required: ['amount'], properties: { amount: { type: 'integer', minimum: 0 } } }),
        responses: {
          '200': ok('The captured hold (same answer on a repeat with the same amount)', ref('Hold')),
          '404': err('No such hold'),
          '409': err('Already captured with another amount, released or expired: details.status'),
          ...common,
        },
      },
    },
    '/internal/v1/holds/{id}/release': {
      post: {
        summary: 'Release the whole hold',
        parameters: [holdPath],
        responses: {
          '200': ok('The released (or already expired) hold', ref('Hold')),
          '404': err('No such hold'),
          '409': err('Already captured'),
          ...common,
        },
      },
    },
    '/internal/v1/accounts/{tenant_id}/balance': {
      get: {
        summary: "A tenant's balance",
        parameters: [{ ...tenantPath, name: 'tenant_id' }],
        responses: { '200': ok('Balance', ref('Balance')), ...common },
      },
    },
    '/internal/v1/reconcile': {
      post: {
        summary: 'Check the whole ledger; reports the first mismatch',
        responses: {
          '200': ok('Reconciliation report', { type: 'object', properties: { ok: { type: 'boolean' }, mismatch: {} } }),
          ...common,
        },
      },
    },
  },
};

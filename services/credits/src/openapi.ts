import { ApiDocument, errors, jsonBody, jsonResponse, paginationQuery } from '@tollgate/common';
import { z } from 'zod';
import { thresholdBody } from './accounts/routes';
import { captureBody, holdBodyWith } from './holds/routes';
import { adminTenantParams, holdParams, idempotencyKeySchema, tenantParams } from './ledger/validation';
import { chargeBody, topUpBody } from './transactions/routes';

const api = new ApiDocument({
  title: 'Tollgate Credits',
  description: 'Per-tenant credits ledger: balances, holds, charges and history. Amounts are integer micro-credits.',
});

const microCredits = z.number().int().min(0).meta({ description: 'Micro-credits (1 credit = 1,000,000)' });
const timestamp = z.iso.datetime({ offset: true });

const balance = api.schema(
  'Balance',
  z.object({
    tenant_id: z.string(),
    available: z.number().int().meta({
      description:
        'What can be spent now: posted balance minus active holds; below zero while a late charge is owed (nothing can be held until topped up)',
    }),
    held: microCredits.meta({ description: 'Reserved by active holds' }),
    currency: z.literal('credits'),
  }),
);

const transaction = api.schema(
  'Transaction',
  z.object({
    id: z.string().regex(/^txn_/),
    tenant_id: z.string(),
    type: z.enum(['top_up', 'charge', 'capture']),
    amount: microCredits.meta({ description: 'Always positive; `type` says the direction' }),
    balance_after: z.number().int().meta({ description: "The account's posted balance right after this transaction (holds not deducted)" }),
    description: z.string().nullable().optional(),
    hold_id: z.string().nullable().optional().meta({ description: 'For captures: the hold captured' }),
    created_at: timestamp,
  }),
);

const transactionList = api.schema('TransactionList', z.object({ data: z.array(transaction), next_cursor: z.string().nullable() }));

const hold = api.schema(
  'Hold',
  z.object({
    id: z.string().regex(/^hold_/),
    tenant_id: z.string(),
    amount: microCredits,
    status: z.enum(['held', 'captured', 'released', 'expired']),
    captured_amount: microCredits,
    released_amount: microCredits,
    transaction_id: z.string().nullable().optional(),
    description: z.string().nullable().optional(),
    expires_at: timestamp,
    created_at: timestamp,
    finalized_at: timestamp.nullable().optional(),
  }),
);

const threshold = api.schema(
  'Threshold',
  z.object({
    tenant_id: z.string(),
    low_balance_threshold: microCredits,
    custom: z.boolean().meta({ description: 'False when the tenant uses the configured default' }),
    available: z.number().int(),
    held: microCredits,
  }),
);

const reconcileReport = api.schema(
  'ReconcileReport',
  z.object({
    ok: z.boolean(),
    checked_at: timestamp,
    counts: z.object({
      accounts: z.number().int(),
      transactions: z.number().int(),
      entries: z.number().int(),
      active_holds: z.number().int(),
    }),
    mismatch: z
      .looseObject({ check: z.string() })
      .nullable()
      .meta({ description: 'The first check that failed (its fields depend on the check); null when every check passed' }),
  }),
);

const idempotencyHeader = z.object({ 'Idempotency-Key': idempotencyKeySchema.optional() });

api.route({
  method: 'get',
  path: '/v1/credits/balance',
  summary: "The caller's balance",
  tags: ['credits'],
  scope: 'read',
  responses: { 200: jsonResponse('Balance', balance) },
});
api.route({
  method: 'get',
  path: '/v1/credits/transactions',
  summary: "The caller's transactions, newest first",
  tags: ['credits'],
  scope: 'read',
  request: { query: paginationQuery },
  responses: { 200: jsonResponse('A page of transactions', transactionList) },
});
api.route({
  method: 'get',
  path: '/v1/admin/tenants/{id}/credits',
  summary: "A tenant's balance (admin)",
  tags: ['admin'],
  scope: 'admin',
  request: { params: adminTenantParams },
  responses: { 200: jsonResponse('Balance', balance) },
});
api.route({
  method: 'post',
  path: '/v1/admin/tenants/{id}/credits',
  summary: 'Top up a tenant (admin); emits credits.topped_up',
  tags: ['admin'],
  scope: 'admin',
  request: { params: adminTenantParams, headers: idempotencyHeader, body: jsonBody(topUpBody) },
  responses: {
    201: jsonResponse('The top-up transaction (also on an idempotent replay, with Idempotent-Replayed: true)', transaction),
    ...errors([409, 'Balance would exceed the largest amount held'], 422),
  },
});
api.route({
  method: 'put',
  path: '/v1/admin/tenants/{id}/credits/threshold',
  summary: 'Set the low-balance threshold (admin); null returns to the default',
  tags: ['admin'],
  scope: 'admin',
  request: { params: adminTenantParams, body: jsonBody(thresholdBody) },
  responses: { 200: jsonResponse('The threshold in force', threshold) },
});

// Service-to-service routes (scope `service`): x-internal-paths, never in the public document.
api.route({
  method: 'post',
  path: '/internal/v1/charges',
  summary: 'One-step charge',
  scope: 'service',
  request: { body: jsonBody(chargeBody) },
  responses: {
    201: jsonResponse('The charge', transaction),
    ...errors(
      [402, 'INSUFFICIENT_CREDITS, details {available, requested}'],
      [409, 'The balance would exceed the largest amount held'],
      422,
    ),
  },
});
api.route({
  method: 'post',
  path: '/internal/v1/holds',
  summary: 'Reserve credits (two-phase); expires after ttl_s unless captured or released',
  scope: 'service',
  request: { body: jsonBody(holdBodyWith(7 * 86_400)) },
  responses: {
    201: jsonResponse('The hold', hold),
    ...errors([402, 'INSUFFICIENT_CREDITS, or BUDGET_EXCEEDED with details.resets_at'], 422),
  },
});
api.route({
  method: 'post',
  path: '/internal/v1/holds/{id}/capture',
  summary: 'Capture up to the held amount; the rest is released',
  scope: 'service',
  request: { params: holdParams, body: jsonBody(captureBody) },
  responses: {
    200: jsonResponse('The captured hold (same answer on a repeat with the same amount)', hold),
    ...errors([404, 'No such hold'], [409, 'Already captured with another amount, released or expired: details.status']),
  },
});
api.route({
  method: 'post',
  path: '/internal/v1/holds/{id}/release',
  summary: 'Release the whole hold',
  scope: 'service',
  request: { params: holdParams },
  responses: {
    200: jsonResponse('The released (or already expired) hold', hold),
    ...errors([404, 'No such hold'], [409, 'Already captured']),
  },
});
api.route({
  method: 'get',
  path: '/internal/v1/accounts/{tenant_id}/balance',
  summary: "A tenant's balance",
  scope: 'service',
  request: { params: tenantParams },
  responses: { 200: jsonResponse('Balance', balance) },
});
api.route({
  method: 'post',
  path: '/internal/v1/reconcile',
  summary: 'Check the whole ledger; reports the first mismatch',
  scope: 'service',
  responses: { 200: jsonResponse('Reconciliation report', reconcileReport) },
});

/** This service's OpenAPI 3.1 document, generated from the zod schemas above and the routes'. */
export const openapiDocument = api.build();

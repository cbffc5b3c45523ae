import { conflict, decodeTimeCursor, newId, notFound, type Page, toTimePage, validationFailed } from '@tollgate/common';
import type { EndpointUpdate } from '../db/schema';
import type { WebhookDeps } from '../deps';
import { unknownPatterns } from './event-filter';
import * as repo from './repository';
import { generateSigningSecret, isValidSigningSecret } from './secrets';
import { validateEndpointUrl } from './url-policy';

export interface EndpointObject {
  id: string;
  object: 'webhook.endpoint';
  url: string;
  description: string;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: string | null;
  failing_since: string | null;
  /** While a rotation overlaps, until when the previous secret still signs. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toEndpointObject(row: repo.PublicEndpoint, now: Date = new Date()): EndpointObject {
  const overlap = row.previous_secret_expires_at && row.previous_secret_expires_at > now ? row.previous_secret_expires_at : null;
  return {
    id: row.id,
    object: 'webhook.endpoint',
    url: row.url,
    description: row.description,
    event_types: row.event_types,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    disabled_at: iso(row.disabled_at),
    failing_since: iso(row.failing_since),
    previous_secret_expires_at: iso(overlap),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function checkEventTypes(patterns: string[]): string[] {
  const unique = [...new Set(patterns)];
  const unknown = unknownPatterns(unique);
  if (unknown.length > 0)
    throw validationFailed(`event_types matches no known event type: ${unknown.join(', ')}`, { param: 'event_types', unknown });
  return unique;
}

function checkSecret(secret: string | undefined): string {
  if (secret === undefined) return generateSigningSecret();
  if (!isValidSigningSecret(secret))
    throw validationFailed('secret must be whsec_ followed by base64 of 24 to 64 bytes', { param: 'secret' });
  return secret;
}

export interface CreateEndpointInput {
  url: string;
  description?: string | undefined;
  event_types?: string[] | undefined;
  enabled?: boolean | undefined;
  secret?: string | undefined;
}

/** Creates an endpoint; the signing secret is returned this once. */
export async function createEndpoint(
  rt: WebhookDeps,
  tenantId: string,
  input: CreateEndpointInput,
): Promise<EndpointObject & { secret: string }> {
  const url = validateEndpointUrl(input.url, rt.urlPolicy);
  const eventTypes = checkEventTypes(input.event_types ?? ['*']);
  const secret = checkSecret(input.secret);
  const now = rt.clock.now();
  const enabled = input.enabled ?? true;
  const row = await rt.db.transaction().execute(async (trx) => {
    // Serialise creates per tenant so the cap holds under concurrency.
    await trx
      .selectNoFrom((eb) => eb.fn('pg_advisory_xact_lock', [eb.fn('hashtext', [eb.val(`webhook-endpoints:${tenantId}`)])]).as('locked'))
      .execute();
    if ((await repo.countEndpoints(trx, tenantId)) >= rt.config.WEBHOOK_MAX_ENDPOINTS_PER_TENANT) {
      throw conflict(`A tenant may have at most ${rt.config.WEBHOOK_MAX_ENDPOINTS_PER_TENANT} webhook endpoints`, {
        limit: rt.config.WEBHOOK_MAX_ENDPOINTS_PER_TENANT,
      });
    }
    return repo.insertEndpoint(trx, {
      id: newId('ep'),
      tenant_id: tenantId,
      url,
      description: input.description ?? '',
      event_types: eventTypes,
      enabled,
      disabled_reason: enabled ? null : 'manual',
      disabled_at: enabled ? null : now,
      failing_since: null,
      secret_sealed: rt.secretBox.seal(secret),
      previous_secret_sealed: null,
      previous_secret_expires_at: null,
      created_at: now,
      updated_at: now,
    });
  });
  return { ...toEndpointObject(row, now), secret };
}

export async function listEndpoints(
  rt: WebhookDeps,
  tenantId: string,
  cursor: string | undefined,
  limit: number,
): Promise<Page<EndpointObject>> {
  const after = cursor ? decodeTimeCursor(cursor) : undefined;
  const rows = await repo.listEndpoints(rt.db, tenantId, limit, after);
  const now = rt.clock.now();
  return toTimePage(rows, limit, (r) => toEndpointObject(r, now));
}

export async function requireEndpoint(rt: WebhookDeps, tenantId: string, id: string): Promise<repo.PublicEndpoint> {
  const row = await repo.findEndpoint(rt.db, tenantId, id);
  if (!row) throw notFound('Webhook endpoint');
  return row;
}

export async function getEndpoint(rt: WebhookDeps, tenantId: string, id: string): Promise<EndpointObject> {
  return toEndpointObject(await requireEndpoint(rt, tenantId, id), rt.clock.now());
}

export interface UpdateEndpointInput {
  url?: string | undefined;
  description?: string | undefined;
  event_types?: string[] | undefined;
  enabled?: boolean | undefined;
}

/** `enabled: true` is the explicit way back for a disabled endpoint: its failure window restarts. */
export async function updateEndpoint(
  rt: WebhookDeps,
  tenantId: string,
  id: string,
  input: UpdateEndpointInput,
): Promise<EndpointObject> {
  const now = rt.clock.now();
  const patch: EndpointUpdate = { updated_at: now };
  if (input.url !== undefined) patch.url = validateEndpointUrl(input.url, rt.urlPolicy);
  if (input.description !== undefined) patch.description = input.description;
  if (input.event_types !== undefined) patch.event_types = checkEventTypes(input.event_types);
  const row = await rt.db.transaction().execute(async (trx) => {
    const current = await repo.lockEndpoint(trx, tenantId, id);
    if (!current) throw notFound('Webhook endpoint');
    if (input.enabled === true && !current.enabled)
      Object.assign(patch, { enabled: true, disabled_reason: null, disabled_at: null, failing_since: null });
    if (input.enabled === false && current.enabled) Object.assign(patch, { enabled: false, disabled_reason: 'manual', disabled_at: now });
    return repo.updateEndpoint(trx, tenantId, id, patch);
  });
  if (!row) throw notFound('Webhook endpoint');
  return toEndpointObject(row, now);
}

export async function deleteEndpoint(rt: WebhookDeps, tenantId: string, id: string): Promise<void> {
  if (!(await repo.deleteEndpoint(rt.db, tenantId, id))) throw notFound('Webhook endpoint');
}

/**
 * A new secret signs from now on; the previous one keeps signing (both signatures are sent)
 * until the overlap ends, so receivers can switch without dropping a delivery.
 */
export async function rotateSecret(
  rt: WebhookDeps,
  tenantId: string,
  id: string,
  requested?: string,
): Promise<{ id: string; object: 'webhook.endpoint.secret'; secret: string; previous_secret_expires_at: string }> {
  const secret = checkSecret(requested);
  const now = rt.clock.now();
  const expiresAt = new Date(now.getTime() + rt.config.WEBHOOK_SECRET_OVERLAP_MS);
  await rt.db.transaction().execute(async (trx) => {
    const current = await repo.lockEndpoint(trx, tenantId, id);
    if (!current) throw notFound('Webhook endpoint');
    const state = await repo.signingStateOf(trx, id);
    await repo.updateEndpoint(trx, tenantId, id, {
      secret_sealed: rt.secretBox.seal(secret),
      previous_secret_sealed: state!.secret_sealed,
      previous_secret_expires_at: expiresAt,
      updated_at: now,
    });
  });
  return { id, object: 'webhook.endpoint.secret', secret, previous_secret_expires_at: expiresAt.toISOString() };
}

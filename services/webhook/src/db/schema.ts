import type { ColumnType, Insertable, Kysely, Selectable, Transaction, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Generated<T> = ColumnType<T, T | undefined, T>;

export type DeliveryStatus = 'pending' | 'sending' | 'succeeded' | 'failed';
export type DisabledReason = 'manual' | 'failing' | 'gone';
export type RoundTrigger = 'event' | 'manual' | 'replay';

export interface EndpointsTable {
  id: string;
  tenant_id: string;
  url: string;
  description: Generated<string>;
  event_types: string[];
  enabled: Generated<boolean>;
  disabled_reason: DisabledReason | null;
  disabled_at: Timestamp | null;
  /** Start of the current run of failed attempts; cleared by any success. */
  failing_since: Timestamp | null;
  /** AES-GCM sealed `whsec_` secrets; never selected outside the signing path. */
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EventsTable {
  id: string;
  tenant_id: string;
  type: string;
  created_at: Timestamp;
  received_at: Timestamp;
  /** The exact body sent with every attempt: `{"type","timestamp","data"}`, serialised once. */
  payload: string;
}

export interface DeliveriesTable {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  event_created_at: Timestamp;
  status: DeliveryStatus;
  /** A manual retry or a replay starts a new round with the full retry schedule. */
  round: Generated<number>;
  round_trigger: Generated<RoundTrigger>;
  round_attempts: Generated<number>;
  attempt_count: Generated<number>;
  next_attempt_at: Timestamp | null;
  /** While `sending`: nobody else may attempt before this (it outlasts the request timeout). */
  lease_until: Timestamp | null;
  last_attempt_at: Timestamp | null;
  last_status_code: number | null;
  last_error: string | null;
  succeeded_at: Timestamp | null;
  failed_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AttemptsTable {
  id: string;
  delivery_id: string;
  endpoint_id: string;
  attempt_number: number;
  round: number;
  trigger: RoundTrigger;
  started_at: Timestamp;
  latency_ms: number;
  status_code: number | null;
  outcome: 'succeeded' | 'failed';
  error_class: string | null;
  error_message: string | null;
  response_body: string | null;
  response_body_truncated: boolean;
}

export interface Database {
  endpoints: EndpointsTable;
  events: EventsTable;
  deliveries: DeliveriesTable;
  attempts: AttemptsTable;
}

export type Db = Kysely<Database> | Transaction<Database>;

export type EndpointRow = Selectable<EndpointsTable>;
export type NewEndpoint = Insertable<EndpointsTable>;
export type EndpointUpdate = Updateable<EndpointsTable>;
export type EventRow = Selectable<EventsTable>;
export type DeliveryRow = Selectable<DeliveriesTable>;
export type NewDelivery = Insertable<DeliveriesTable>;
export type AttemptRow = Selectable<AttemptsTable>;
export type NewAttempt = Insertable<AttemptsTable>;

/**
 * A secret shown once (an API key, a webhook signing secret) must not be kept for an idempotent
 * replay: the stored copy has the field set to null and `<field>_redacted: true`, so a replay
 * tells the caller to rotate or create another. A body that is not JSON is not kept at all.
 */
export function redactSecretField(field: string): (body: Buffer) => Buffer {
  return (body) => {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (typeof parsed[field] !== 'string') return body;
      return Buffer.from(JSON.stringify({ ...parsed, [field]: null, [`${field}_redacted`]: true }));
    } catch {
      return Buffer.alloc(0);
    }
  };
}

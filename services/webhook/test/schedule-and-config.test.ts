import { ConfigError, parseConfig } from '@tollgate/common';
import { TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import { allowHttpTargets, configSchema, DEFAULT_RETRY_SCHEDULE, parseDuration } from '../src/config';
import { MAX_RETRY_AFTER_MS, nextRetryDelay } from '../src/deliveries/schedule';
import { matchesEventType } from '../src/endpoints/event-filter';
import { createSecretBox, generateSigningSecret, signPayload } from '../src/endpoints/secrets';
import { Webhook } from 'standardwebhooks';

const base = { INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET };

describe('retry schedule', () => {
  it('defaults to the Standard Webhooks-like schedule: immediately, 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h', () => {
    const config = parseConfig(configSchema, base);
    expect(DEFAULT_RETRY_SCHEDULE).toBe('0,5s,5m,30m,2h,5h,10h,14h,20h,24h');
    expect(config.WEBHOOK_RETRY_SCHEDULE).toEqual([
      0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000,
    ]);
    expect(config.WEBHOOK_REQUEST_TIMEOUT_MS).toBe(15_000);
    expect(config.WEBHOOK_DISABLE_AFTER_MS).toBe(5 * 86_400_000);
    expect(config.WEBHOOK_SECRET_OVERLAP_MS).toBe(86_400_000);
    expect(config.WEBHOOK_LOCK_DURATION_MS).toBeGreaterThan(config.WEBHOOK_REQUEST_TIMEOUT_MS);
  });

  it('jitters each delay within ±jitter and stops after the last entry', () => {
    const policy = { schedule: [0, 1_000, 10_000], jitter: 0.2 };
    for (let i = 0; i < 200; i++) {
      // After two attempts, the third waits schedule[2].
      const d = nextRetryDelay(policy, 2, null)!;
      expect(d).toBeGreaterThanOrEqual(8_000);
      expect(d).toBeLessThanOrEqual(12_000);
    }
    expect(nextRetryDelay({ ...policy, random: () => 0 }, 2, null)).toBe(8_000);
    expect(nextRetryDelay({ ...policy, random: () => 1 }, 2, null)).toBe(12_000);
    expect(nextRetryDelay(policy, 0, null)).toBe(0);
    expect(nextRetryDelay(policy, 3, null)).toBeNull();
  });

  it('honours Retry-After as a minimum, capped at a day', () => {
    const policy = { schedule: [0, 1_000, 2_000], jitter: 0 };
    expect(nextRetryDelay(policy, 1, 60_000)).toBe(60_000);
    expect(nextRetryDelay(policy, 1, 10)).toBe(1_000);
    expect(nextRetryDelay(policy, 1, 10 * 86_400_000)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('parses durations', () => {
    expect([
      parseDuration('250'),
      parseDuration('250ms'),
      parseDuration('5s'),
      parseDuration('5m'),
      parseDuration('2h'),
      parseDuration('1d'),
      parseDuration('1.5s'),
    ]).toEqual([250, 250, 5_000, 300_000, 7_200_000, 86_400_000, 1_500]);
    expect(parseDuration('soon')).toBeUndefined();
  });
});

describe('configuration', () => {
  it('names every bad setting in one line', () => {
    expect(() =>
      parseConfig(configSchema, { ...base, WEBHOOK_RETRY_SCHEDULE: '0,5x', WEBHOOK_ALLOW_PRIVATE_TARGETS: '10.0.0.0/99' }),
    ).toThrow(ConfigError);
    try {
      parseConfig(configSchema, { ...base, WEBHOOK_RETRY_SCHEDULE: '0,5x', WEBHOOK_ALLOW_PRIVATE_TARGETS: '10.0.0.0/99' });
    } catch (err) {
      expect((err as Error).message).toMatch(/^Invalid configuration: .*WEBHOOK_RETRY_SCHEDULE must be/);
      expect((err as Error).message).toMatch(/WEBHOOK_ALLOW_PRIVATE_TARGETS must be/);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('refuses a job lock that does not outlast the request timeout', () => {
    expect(() => parseConfig(configSchema, { ...base, WEBHOOK_REQUEST_TIMEOUT_MS: '30000', WEBHOOK_LOCK_DURATION_MS: '30000' })).toThrow(
      /WEBHOOK_LOCK_DURATION_MS must exceed/,
    );
  });

  it('allows plain http outside production only, unless told', () => {
    expect(allowHttpTargets(parseConfig(configSchema, base))).toBe(true);
    const production = { ...base, NODE_ENV: 'production', INTERNAL_JWT_SECRET: 'p'.repeat(40), WEBHOOK_SECRETS_KEY: 'k'.repeat(40) };
    expect(allowHttpTargets(parseConfig(configSchema, production))).toBe(false);
    expect(allowHttpTargets(parseConfig(configSchema, { ...production, WEBHOOK_ALLOW_HTTP: 'true' }))).toBe(true);
    // The secrets key is required (and strong) in production.
    expect(() => parseConfig(configSchema, { ...production, WEBHOOK_SECRETS_KEY: undefined })).toThrow(/WEBHOOK_SECRETS_KEY/);
  });
});

describe('filters and secrets', () => {
  it.each([
    ['*', 'image.approved', true],
    ['image.*', 'image.approved', true],
    ['image.*', 'image.generation.completed', true],
    ['image.generation.*', 'image.approved', false],
    ['image.*', 'images.approved', false],
    ['credits.topped_up', 'credits.topped_up', true],
    ['credits.topped_up', 'credits.low_balance', false],
  ])('%s matches %s: %s', (pattern, type, expected) => {
    expect(matchesEventType(pattern, type)).toBe(expected);
  });

  it('signs exactly like the standardwebhooks library', () => {
    const secret = generateSigningSecret();
    const body = Buffer.from('{"type":"x","data":{"é":"🙂"}}');
    const at = new Date(1_700_000_000_000);
    expect(signPayload(secret, 'evt_abc', 1_700_000_000, body)).toBe(new Webhook(secret).sign('evt_abc', at, body.toString('utf8')));
  });

  it('seals secrets so that only the right key opens them', () => {
    const box = createSecretBox('key-one');
    const sealed = box.seal('whsec_abc');
    expect(sealed).not.toContain('whsec_abc');
    expect(box.open(sealed)).toBe('whsec_abc');
    expect(() => createSecretBox('key-two').open(sealed)).toThrow();
  });
});

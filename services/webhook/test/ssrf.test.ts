import dns, { type LookupAddress } from 'node:dns';
import { createEventPublisher } from '@tollgate/common';
import { listen, type Listening, startWebhookReceiver, type WebhookReceiver } from '@tollgate/testkit';
import request from 'supertest';
import { isAllowedTarget, NOTHING_ALLOWED, parseAllowList } from '../src/ssrf/address-policy';
import { createSafeHttpClient, type Resolver } from '../src/ssrf/safe-http-client';
import { asTenant, eventually, type Harness, startHarness } from './support/harness';

/** DNS is outside the project: names are served from this table (unknown names fall through to the system). */
const DNS: Record<string, LookupAddress[]> = {
  'rebind.test': [{ address: '127.0.0.1', family: 4 }],
  'mixed.test': [
    { address: '93.184.216.34', family: 4 },
    { address: '10.1.2.3', family: 4 },
  ],
  'metadata.test': [{ address: '169.254.169.254', family: 4 }],
  'v6local.test': [{ address: '::1', family: 6 }],
};
const tableResolver: Resolver = (hostname, options, callback) => {
  const entry = DNS[hostname];
  if (entry) return setImmediate(() => callback(null, entry));
  return dns.lookup(hostname, options, callback);
};

describe('address policy', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '::1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.100.100.200',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd00:ec2::254',
    'ff02::1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::1',
    '::127.0.0.1',
    'not-an-ip',
  ])('refuses %s by default', (address) => {
    expect(isAllowedTarget(address, NOTHING_ALLOWED)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows public %s', (address) => {
    expect(isAllowedTarget(address, NOTHING_ALLOWED)).toBe(true);
  });

  it('allows exactly the configured CIDRs, or everything with true', () => {
    const allow = parseAllowList('10.0.0.0/8, 127.0.0.1, fd00::/8');
    expect(isAllowedTarget('10.9.8.7', allow)).toBe(true);
    expect(isAllowedTarget('::ffff:10.9.8.7', allow)).toBe(true);
    expect(isAllowedTarget('127.0.0.1', allow)).toBe(true);
    expect(isAllowedTarget('127.0.0.2', allow)).toBe(false);
    expect(isAllowedTarget('fd00:ec2::254', allow)).toBe(true);
    expect(isAllowedTarget('::1', allow)).toBe(false);
    expect(isAllowedTarget('169.254.169.254', allow)).toBe(false);
    expect(isAllowedTarget('::1', parseAllowList('true'))).toBe(true);
    expect(() => parseAllowList('10.0.0.0/33')).toThrow(/CIDR/);
    expect(() => parseAllowList('everything')).toThrow(/CIDR/);
  });
});

describe('connect-time guard', () => {
  let receiver: WebhookReceiver;
  let receiver6: Listening;
  let port: number;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    port = receiver.port;
    // The same port on ::1 too, so an unguarded [::1] request would really arrive.
    receiver6 = await listen((_req, res) => res.end('ok'));
    receiver6.server.close();
    await new Promise<void>((resolve) => receiver6.server.listen(port, '::1', () => resolve()));
  });
  afterAll(async () => {
    await receiver.close();
    await receiver6.close();
  });

  const targets = () => [
    `http://127.0.0.1:${port}/`,
    `http://localhost:${port}/`,
    `http://[::1]:${port}/`,
    `http://0x7f000001:${port}/`,
    `http://2130706433:${port}/`,
    `http://[::ffff:127.0.0.1]:${port}/`,
    `http://rebind.test:${port}/`,
    `http://v6local.test:${port}/`,
    `http://mixed.test:${port}/`,
    'http://10.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://metadata.test/',
  ];

  it('refuses every private target at connect time without the allow setting', async () => {
    const client = createSafeHttpClient({ allow: NOTHING_ALLOWED, timeoutMs: 1_000, responseBodyLimit: 1024, resolver: tableResolver });
    try {
      for (const url of targets()) {
        const result = await client.send({ url, headers: {}, body: Buffer.from('{}') });
        expect({ url, ok: result.ok, errorClass: result.errorClass }).toEqual({ url, ok: false, errorClass: 'blocked_target' });
      }
      expect(receiver.received).toHaveLength(0);
    } finally {
      await client.close();
    }
  });

  it('reaches the same loopback targets when allowed (so the refusals above are the guard, not the network)', async () => {
    const client = createSafeHttpClient({
      allow: parseAllowList('127.0.0.0/8,::1'),
      timeoutMs: 1_000,
      responseBodyLimit: 1024,
      resolver: tableResolver,
    });
    try {
      for (const url of [
        `http://127.0.0.1:${port}/`,
        `http://0x7f000001:${port}/`,
        `http://rebind.test:${port}/`,
        `http://[::ffff:127.0.0.1]:${port}/`,
        `http://[::1]:${port}/`,
      ]) {
        const result = await client.send({ url, headers: {}, body: Buffer.from('{}') });
        expect({ url, status: result.statusCode }).toEqual({ url, status: 200 });
      }
      // Still refused: 10/8 and the metadata address are not in this allow list.
      expect((await client.send({ url: 'http://169.254.169.254/', headers: {}, body: Buffer.alloc(0) })).errorClass).toBe('blocked_target');
    } finally {
      await client.close();
    }
  });
});

describe('SSRF through the API and the workers', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    h = await startHarness('wh_ssrf', {
      config: { WEBHOOK_ALLOW_PRIVATE_TARGETS: '', WEBHOOK_RETRY_SCHEDULE: '0' },
      resolver: tableResolver,
    });
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await h.close();
  });

  it.each([
    'http://127.0.0.1/hook',
    'http://localhost/hook',
    'http://api.localhost/hook',
    'http://[::1]/hook',
    'http://10.0.0.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://0x7f000001/hook',
    'http://2130706433/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[fd00:ec2::254]/',
  ])('refuses to save %s', async (url) => {
    const res = await request(h.app).post('/v1/webhooks/endpoints').set(asTenant('tenant_ssrf')).send({ url });
    expect(res.status).toBe(400);
    expect(res.body.error.details.param).toBe('url');
  });

  it('refuses a name that resolves to 127.0.0.1 when delivering, and logs why', async () => {
    const created = await request(h.app)
      .post('/v1/webhooks/endpoints')
      .set(asTenant('tenant_ssrf'))
      .send({ url: `http://rebind.test:${receiver.port}/hook` });
    expect(created.status).toBe(201);
    const publisher = createEventPublisher({ connection: h.queueRedis, prefix: h.config.REDIS_PREFIX });
    const event = await publisher.publish({ type: 'file.uploaded', tenant_id: 'tenant_ssrf', data: {} });
    await publisher.close();
    const attempt = await eventually(async () =>
      h.env.db
        .selectFrom('attempts')
        .innerJoin('deliveries', 'deliveries.id', 'attempts.delivery_id')
        .select(['attempts.error_class', 'attempts.status_code', 'deliveries.status'])
        .where('deliveries.event_id', '=', event.id)
        .executeTakeFirst(),
    );
    expect(attempt).toMatchObject({ error_class: 'blocked_target', status_code: null });
    expect(receiver.received).toHaveLength(0);
  });
});

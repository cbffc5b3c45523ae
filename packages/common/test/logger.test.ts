import { captureLogger } from '@tollgate/testkit';
import { runWithContext } from '../src/context';
import { redact } from '../src/logger';

describe('logger', () => {
  it('writes JSON lines with service, level and the request id of the context', () => {
    const { logger, lines } = captureLogger('credits');
    runWithContext({ requestId: 'req-abcdef12', tenantId: 'ten_1' }, () => logger.info('charged', { amount: 10 }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      service: 'credits',
      level: 'info',
      message: 'charged',
      amount: 10,
      request_id: 'req-abcdef12',
      tenant_id: 'ten_1',
    });
    expect(typeof lines[0]!['timestamp']).toBe('string');
  });

  it('drops a line below the level before formatting it, and follows a level changed at run time', () => {
    const { logger, lines } = captureLogger('gateway');
    logger.level = 'warn';
    // A value whose serialisation throws: formatting an access line at info would blow up here.
    const poisoned = {
      toJSON: () => {
        throw new Error('formatted a dropped line');
      },
    };
    expect(() => logger.info('GET /v1/models 200', { poisoned })).not.toThrow();
    logger.warn('slow upstream');
    logger.level = 'info';
    logger.info('GET /v1/models 200');
    expect(lines.map((l) => [l['level'], l['message']])).toEqual([
      ['warn', 'slow upstream'],
      ['info', 'GET /v1/models 200'],
    ]);
  });

  it('redacts secrets by key and by shape', () => {
    const { logger, lines } = captureLogger();
    logger.info('calling upstream with Bearer abc.def.ghi', {
      headers: { authorization: 'Bearer sk-live-123', 'x-api-key': 'k', accept: 'json' },
      password: 'hunter2',
      note: 'key tg_AbCdEf1234567890 leaked',
      nested: { deeper: { client_secret: 's', token: 't' } },
    });
    const line = JSON.stringify(lines[0]);
    expect(line).not.toMatch(/sk-live-123|hunter2|tg_AbCdEf1234567890|abc\.def\.ghi/);
    expect(lines[0]).toMatchObject({
      headers: { authorization: '[REDACTED]', 'x-api-key': '[REDACTED]', accept: 'json' },
      password: '[REDACTED]',
    });
    expect((lines[0]!['nested'] as { deeper: Record<string, string> }).deeper).toEqual({
      client_secret: '[REDACTED]',
      token: '[REDACTED]',
    });
  });

  it('keeps error stacks but redacts their messages', () => {
    const out = redact(new Error('failed with whsec_c2VjcmV0c2VjcmV0')) as { message: string; stack: string };
    expect(out.message).toBe('failed with [REDACTED]');
    expect(out.stack).toContain('Error');
  });
});

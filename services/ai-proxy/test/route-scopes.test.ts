import { listRoutes, routesMissingScopeChecks, sendTo } from '@tollgate/testkit';
import { type Harness, startHarness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ label: 'ai_route_scopes', routing: { models: { m: { price: { input_per_1k: 1, output_per_1k: 1 }, targets: [{ provider: 'mock', model: 'm' }] } } } });
});
afterAll(() => h.close());

it('every route checks its own scope where it is served: 401 without an identity, 403 without the scope', async () => {
  expect(listRoutes(h.app.app)).toEqual(
    expect.arrayContaining([
      { method: 'POST', path: '/v1/chat/completions' },
      { method: 'GET', path: '/v1/async/jobs/:id' },
      { method: 'GET', path: '/v1/usage' },
      { method: 'GET', path: '/v1/usage/requests' },
      { method: 'GET', path: '/v1/usage/export' },
      { method: 'GET', path: '/v1/admin/usage' },
    ]),
  );
  expect(await routesMissingScopeChecks(h.app.app, sendTo(h.url))).toEqual([]);
});

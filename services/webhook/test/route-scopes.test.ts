import { listen, type Listening, listRoutes, routesMissingScopeChecks, sendTo } from '@tollgate/testkit';
import { type Harness, startHarness } from './support/harness';

let h: Harness;
let server: Listening;
beforeAll(async () => {
  h = await startHarness('wh_route_scopes', { workers: false });
  server = await listen(h.app);
});
afterAll(async () => {
  await server?.close();
  await h?.close();
});

it('every route checks its own scope where it is served: 401 without an identity, 403 without the scope', async () => {
  expect(listRoutes(h.app)).toEqual(expect.arrayContaining([{ method: 'POST', path: '/v1/webhooks/endpoints/:id/rotate-secret' }, { method: 'POST', path: '/internal/v1/events' }]));
  expect(await routesMissingScopeChecks(h.app, sendTo(server.url))).toEqual([]);
});

import { listen, type Listening, listRoutes, routesMissingScopeChecks, sendTo } from '@tollgate/testkit';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let server: Listening;
beforeAll(async () => {
  h = await createHarness({ label: 'img_route_scopes' });
  server = await listen(h.app);
});
afterAll(async () => {
  await server?.close();
  await h?.close();
});

it('every route checks its own scope where it is served: 401 without an identity, 403 without the scope', async () => {
  expect(listRoutes(h.app)).toEqual(expect.arrayContaining([{ method: 'POST', path: '/v1/images/generations' }, { method: 'POST', path: '/v1/images/batch/:action' }]));
  expect(await routesMissingScopeChecks(h.app, sendTo(server.url))).toEqual([]);
});

import { listRoutes, routesMissingScopeChecks, sendTo } from '@tollgate/testkit';
import { type CreditsHarness, startCredits } from './helpers';

let h: CreditsHarness;
beforeAll(async () => {
  h = await startCredits('credits_route_scopes');
});
afterAll(async () => {
  await h.close();
  await h.env.cleanup();
});

it('every route checks its own scope where it is served: 401 without an identity, 403 without the scope', async () => {
  expect(listRoutes(h.app)).toEqual(expect.arrayContaining([{ method: 'POST', path: '/v1/admin/tenants/:id/credits' }, { method: 'POST', path: '/internal/v1/holds' }]));
  expect(await routesMissingScopeChecks(h.app, sendTo(h.url))).toEqual([]);
});

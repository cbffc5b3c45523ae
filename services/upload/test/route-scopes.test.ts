import { listRoutes, routesMissingScopeChecks, sendTo } from '@tollgate/testkit';
import { type Harness, startHarness } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('upload_route_scopes');
});
afterAll(() => h.close());

it('every route checks its own scope where it is served: 401 without an identity, 403 without the scope', async () => {
  expect(listRoutes(h.app.app)).toEqual(expect.arrayContaining([{ method: 'PATCH', path: '/v1/uploads/:id' }, { method: 'GET', path: '/internal/v1/files/:id' }]));
  expect(await routesMissingScopeChecks(h.app.app, sendTo(h.url, { 'tus-resumable': '1.0.0' }))).toEqual([]);
});

import { identityHeaders, TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import { type Harness as UploadHarness, startHarness as startUpload } from '@tollgate/upload/test/helpers';
import request from 'supertest';
import { createHttpUploadClient } from '../src/clients/upload';
import { createHarness, type Harness } from './support/harness';
import { makePng } from './support/images';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

/** The contract with the real upload service, in-process: its internal routes, as this service calls them. */
describe('ingest from the real upload service', () => {
  let upload: UploadHarness;
  let h: Harness;

  beforeAll(async () => {
    // The upload service's own test harness, with its production size limit (ingest reads real PNGs).
    upload = await startUpload('img_upload_contract', { env: { UPLOAD_MAX_BYTES: String(100 * 1024 * 1024) } });
    h = await createHarness({ label: 'img_upload_ingest', uploadUrl: upload.url });
  });
  afterAll(async () => {
    await h?.close();
    await upload?.close();
  });

  async function uploadFile(tenant: string, data: Buffer, filename = 'art.png'): Promise<string> {
    const res = await request(upload.url)
      .post('/v1/files')
      .set(identityHeaders(tenant, ['write']))
      .field('purpose', 'image')
      .attach('file', data, { filename, contentType: 'image/png' });
    if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  }

  it("reads a tenant's file (metadata and bytes) and not another tenant's", async () => {
    const png = await makePng(64, 64);
    const fileId = await uploadFile('ten_up_a', png);
    const client = createHttpUploadClient({ baseUrl: upload.url, internalSecret: TEST_INTERNAL_SECRET });
    expect(await client.getFile('ten_up_a', fileId)).toEqual({
      id: fileId,
      filename: 'art.png',
      bytes: png.length,
      contentType: 'image/png',
    });
    expect((await client.readContent('ten_up_a', fileId, 1_000_000)).equals(png)).toBe(true);
    await expect(client.getFile('ten_up_b', fileId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(client.readContent('ten_up_b', fileId, 1_000_000)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(client.readContent('ten_up_a', fileId, 100)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('an uploaded PNG becomes an image ready for review', async () => {
    const fileId = await uploadFile('ten_up_a', await makePng(1200, 1200));
    const res = await request(h.app)
      .post('/v1/images/ingest')
      .set(identityHeaders('ten_up_a', ['write']))
      .send({ file_id: fileId, profile: 'sticker' });
    expect(res.status).toBe(202);
    const row = await h.waitForStatus(res.body.id, ['pending_review', 'failed']);
    expect(row).toMatchObject({ status: 'pending_review', file_id: fileId });
    const stranger = await request(h.app)
      .post('/v1/images/ingest')
      .set(identityHeaders('ten_up_b', ['write']))
      .send({ file_id: fileId });
    expect(stranger.status).toBe(404);
  });
});

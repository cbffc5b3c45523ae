import { randomIds } from '@tollgate/common';
import sharp from 'sharp';
import { json, type ImageRow, type StoredVariant } from '../../src/db';
import { insertImages } from '../../src/images/repository';
import type { ImageStatus } from '../../src/images/states';
import { variantKey } from '../../src/storage/storage';
import type { Harness } from './harness';

let printFile: Promise<Buffer> | undefined;

/**
 * An image row in any state, with a small real print file stored, for review and publish
 * tests that need not run the whole pipeline first.
 */
export async function seedImage(
  h: Harness,
  tenantId: string,
  status: ImageStatus,
  extra: Partial<Pick<ImageRow, 'profile'>> = {},
): Promise<ImageRow> {
  printFile ??= sharp({ create: { width: 120, height: 144, channels: 4, background: '#884422' } })
    .withMetadata({ density: 300 })
    .png()
    .toBuffer();
  const id = randomIds.next('img');
  const data = await printFile;
  const stored = await h.deps.storage.put(variantKey(tenantId, id, 'print', 'png'), data);
  const print: StoredVariant = {
    key: stored.key,
    format: 'png',
    content_type: 'image/png',
    width: 120,
    height: 144,
    bytes: stored.bytes,
    sha256: stored.sha256,
    dpi: 300,
  };
  const hasVariants = !['queued', 'generating', 'processing', 'failed'].includes(status);
  const [row] = await insertImages(h.db, [
    {
      id,
      tenant_id: tenantId,
      source: 'upload',
      job_id: null,
      job_index: null,
      file_id: 'file_seeded0000000000000',
      prompt: null,
      model: null,
      seed: null,
      profile: extra.profile ?? 'sticker',
      requested_width: null,
      requested_height: null,
      status,
      failure_code: status === 'failed' ? 'QUALITY_CHECK_FAILED' : null,
      failure_message: status === 'failed' ? 'seeded failure' : null,
      variants: json(hasVariants ? { print } : {}),
      charge_amount: 0,
      hold_id: null,
      charge_status: 'none',
      rejection_reason: null,
    },
  ]);
  return row!;
}

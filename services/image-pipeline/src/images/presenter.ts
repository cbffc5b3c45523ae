import type { GenerationJobRow, ImageRow, StoredVariant, VariantName } from '../db';

const iso = (d: Date | string) => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

function variantView(imageId: string, name: VariantName, v: StoredVariant | undefined) {
  if (!v) return null;
  return {
    url: `/v1/images/${imageId}/content?variant=${name}`,
    content_type: v.content_type,
    width: v.width,
    height: v.height,
    bytes: v.bytes,
    sha256: v.sha256,
    ...(v.dpi !== undefined ? { dpi: v.dpi } : {}),
  };
}

/** The public image object. Storage keys and hold ids stay inside. */
export function toImageView(row: ImageRow) {
  const variants = row.variants ?? {};
  return {
    id: row.id,
    object: 'image' as const,
    status: row.status,
    source: row.source,
    profile: row.profile,
    job_id: row.job_id,
    file_id: row.file_id,
    prompt: row.prompt,
    model: row.model,
    failure: row.failure_code ? { code: row.failure_code, message: row.failure_message } : null,
    rejection_reason: row.rejection_reason,
    quality: row.quality,
    variants: {
      original: variantView(row.id, 'original', variants.original),
      print: variantView(row.id, 'print', variants.print),
      thumb: variantView(row.id, 'thumb', variants.thumb),
    },
    charge: { amount: row.charge_amount, status: row.charge_status },
    publication: row.publication,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

export type ImageView = ReturnType<typeof toImageView>;

export function toGenerationView(job: GenerationJobRow, images: ImageRow[], deduplicated: boolean) {
  const counts: Record<string, number> = {};
  for (const image of images) counts[image.status] = (counts[image.status] ?? 0) + 1;
  return {
    id: job.id,
    object: 'image.generation' as const,
    status: job.status === 'failed' ? 'failed' : summarise(images),
    deduplicated,
    prompt: job.prompt,
    model: job.model,
    profile: job.profile,
    width: job.width,
    height: job.height,
    n: job.n,
    seed: job.seed,
    image_ids: images.map((i) => i.id),
    images: images.map((i) => ({ id: i.id, status: i.status, url: `/v1/images/${i.id}` })),
    counts,
    created_at: iso(job.created_at),
  };
}

/** A job is in progress while any image is in the pipeline, else completed (or failed if all failed). */
function summarise(images: ImageRow[]): 'in_progress' | 'completed' | 'failed' {
  if (images.some((i) => i.status === 'queued' || i.status === 'generating' || i.status === 'processing')) return 'in_progress';
  if (images.length > 0 && images.every((i) => i.status === 'failed')) return 'failed';
  return 'completed';
}

/** Deterministic event ids, so a retried step never announces the same change twice. */
export const eventIdFor = (what: 'uploaded' | 'deleted' | 'expired', fileId: string): string =>
  `evt_file_${what}_${fileId.replace(/^file_/, '')}`;

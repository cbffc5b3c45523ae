import { AppError } from '@tollgate/common';

/** `X-Tollgate-Tags: team=search,feature=summary`: attribution a tenant chooses, kept on the usage row. */
export const TAGS_HEADER = 'x-tollgate-tags';
export const MAX_TAGS = 10;
const MAX_HEADER_LENGTH = 1_024;
/** Names are what `group_by=tag:<name>` takes, so they are plain; values may hold ids and paths. */
export const TAG_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const TAG_VALUE = /^[A-Za-z0-9_.:/@+-]{1,128}$/;

export type Tags = Record<string, string>;

const invalid = (message: string) => new AppError('VALIDATION_FAILED', message, { details: { header: 'X-Tollgate-Tags' } });

/** Parses the header; absent or blank is no tags; anything malformed is a 400 naming the problem. */
export function parseTags(header: string | undefined): Tags {
  if (header === undefined || header.trim() === '') return {};
  if (header.length > MAX_HEADER_LENGTH) throw invalid(`X-Tollgate-Tags is too long: at most ${MAX_HEADER_LENGTH} characters`);
  const tags: Tags = Object.create(null) as Tags;
  const pairs = header.split(',');
  if (pairs.length > MAX_TAGS) throw invalid(`X-Tollgate-Tags holds at most ${MAX_TAGS} tags`);
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw invalid('X-Tollgate-Tags must be name=value pairs separated by commas, e.g. team=search,feature=summary');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!TAG_NAME.test(name)) throw invalid('A tag name is 1-64 letters, digits, "_", "." or "-"');
    if (!TAG_VALUE.test(value)) throw invalid(`The value of tag "${name}" must be 1-128 letters, digits or _.:/@+-`);
    if (name in tags) throw invalid(`Tag "${name}" is given twice`);
    tags[name] = value;
  }
  return { ...tags };
}

// The README and docs are the contract (docs/architecture.md): a link in them that points outside
// the repository (the workspace's shared/ folder, a deleted file) sends a reader nowhere on a fresh
// clone. Every relative link in the repository's Markdown must name a file or folder that exists.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers/repo';

const SKIP_DIRS = new Set(['node_modules', '.git', '.data', 'dist', '.turbo', 'coverage']);

function markdownFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (SKIP_DIRS.has(entry)) continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) found.push(...markdownFiles(full));
    else if (entry.endsWith('.md')) found.push(full);
  }
  return found;
}

// Inline links and images `[text](target)` and reference definitions `[id]: target`; code spans
// and fenced blocks are removed first so examples in them are not taken for links.
export function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
}

describe('Markdown links', () => {
  test('the link finder sees inline, image and reference links and skips URLs, anchors and code', () => {
    const sample = [
      'See [the card](docs/a.md#x) and ![shot](docs/console/x.png "title").',
      '[ref]: services/b/README.md',
      'Not [web](https://example.com) nor [anchor](#top) nor `[code](nope.md)`.',
      '```\n[fenced](nope2.md)\n```',
    ].join('\n');
    expect(relativeLinks(sample)).toEqual(['docs/a.md#x', 'docs/console/x.png', 'services/b/README.md']);
  });

  const files = markdownFiles(REPO);
  test('the repository has Markdown to check', () => {
    expect(files.map((f) => path.relative(REPO, f))).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md']));
  });

  test.each(files.map((f) => [path.relative(REPO, f), f]))('%s links only to files in the repository', (_name, file) => {
    const broken = relativeLinks(readFileSync(file, 'utf8')).filter((target) => {
      const clean = decodeURIComponent(target.split('#')[0]!.split('?')[0]!);
      if (clean === '') return false;
      const resolved = path.resolve(path.dirname(file), clean);
      return !resolved.startsWith(REPO + path.sep) || !existsSync(resolved);
    });
    expect(broken).toEqual([]);
  });
});

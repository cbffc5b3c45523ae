import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** The size budget (issue 18): everything the console page loads, gzipped, under 250 KB. */
test('the built console is under 250 KB gzipped', () => {
  const dist = path.join(__dirname, '..', 'dist');
  const files = ['index.html', ...readdirSync(path.join(dist, 'assets')).map((f) => path.join('assets', f))];
  const gzipped = files.reduce((sum, f) => sum + gzipSync(readFileSync(path.join(dist, f)), { level: 9 }).length, 0);
  process.stdout.write(`console bundle: ${files.length} files, ${(gzipped / 1024).toFixed(1)} KB gzipped\n`);
  expect(gzipped).toBeLessThan(250 * 1024);
  expect(gzipped).toBeGreaterThan(1024); // a real build, not an empty page
});

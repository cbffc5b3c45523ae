// docs/api.md from the merged OpenAPI document: one section per tag, one entry per operation
// (method, path, scope, summary, request fields, responses). Generated, never edited by hand.

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'];
const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Follows a local `$ref` (one or more hops). */
function resolve(document, value) {
  let node = value;
  for (let hops = 0; isObject(node) && typeof node.$ref === 'string' && hops < 10; hops++) {
    node = node.$ref
      .replace(/^#\//, '')
      .split('/')
      .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((at, key) => (isObject(at) ? at[key] : undefined), document);
  }
  return node;
}

const refName = (value) => (isObject(value) && typeof value.$ref === 'string' ? value.$ref.split('/').pop() : undefined);
const cell = (text) =>
  String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');

/** A short type for a schema: `integer`, `string (date-time)`, `credits.Hold`, `array of string`, `"a" \| "b"`. */
function typeOf(document, schema) {
  const name = refName(schema);
  if (name) return `\`${name}\``;
  if (!isObject(schema)) return 'any';
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if ('const' in schema) return `\`${JSON.stringify(schema.const)}\``;
  for (const key of ['anyOf', 'oneOf']) if (Array.isArray(schema[key])) return schema[key].map((s) => typeOf(document, s)).join(' \\| ');
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  return (
    types
      .map((t) =>
        t === 'array' ? `array of ${typeOf(document, schema.items)}` : schema.format && t !== 'null' ? `${t} (${schema.format})` : t,
      )
      .join(' \\| ') || 'any'
  );
}

/** Constraints worth showing next to a field. */
function constraintsOf(schema) {
  if (!isObject(schema)) return '';
  const parts = [];
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) parts.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined) parts.push(`min length ${schema.minLength}`);
  if (schema.maxLength !== undefined) parts.push(`max length ${schema.maxLength}`);
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.join(', ');
}

/** The top-level fields of a request body, as table rows. */
function bodyFields(document, schema) {
  const resolved = resolve(document, schema);
  if (!isObject(resolved) || !isObject(resolved.properties)) return [];
  const required = new Set(Array.isArray(resolved.required) ? resolved.required : []);
  return Object.entries(resolved.properties).map(([name, property]) => {
    const field = resolve(document, property);
    const notes = [constraintsOf(field), isObject(field) ? field.description : ''].filter(Boolean).join('; ');
    return `| \`${name}\` | body | ${typeOf(document, property)} | ${required.has(name) ? 'yes' : 'no'} | ${cell(notes)} |`;
  });
}

function operationEntry(document, path, method, operation) {
  const lines = [`### \`${method.toUpperCase()} ${path}\``, ''];
  if (operation.summary) lines.push(operation.summary, '');
  if (operation.description) lines.push(operation.description, '');
  const security = operation.security ?? document.security ?? [];
  const scope = operation['x-scope'];
  const auth = security.length === 0 ? 'none' : `bearer${scope && scope !== 'none' ? `, scope \`${scope}\`` : ''}`;
  lines.push(`Authentication: ${auth}`, '');

  const rows = [];
  for (const raw of Array.isArray(operation.parameters) ? operation.parameters : []) {
    const p = resolve(document, raw);
    if (!isObject(p)) continue;
    const notes = [constraintsOf(p.schema), p.description].filter(Boolean).join('; ');
    rows.push(`| \`${p.name}\` | ${p.in} | ${typeOf(document, p.schema)} | ${p.required ? 'yes' : 'no'} | ${cell(notes)} |`);
  }
  const content = isObject(operation.requestBody) ? resolve(document, operation.requestBody).content : undefined;
  const bodyTypes = isObject(content) ? Object.keys(content) : [];
  if (bodyTypes.includes('application/json')) rows.push(...bodyFields(document, content['application/json'].schema));
  if (rows.length > 0) lines.push('| Field | In | Type | Required | Notes |', '| --- | --- | --- | --- | --- |', ...rows, '');
  const otherBodies = bodyTypes.filter((t) => t !== 'application/json');
  if (otherBodies.length > 0) lines.push(`Request body: ${otherBodies.map((t) => `\`${t}\``).join(', ')}`, '');

  lines.push('| Status | Description | Body |', '| --- | --- | --- |');
  for (const [status, raw] of Object.entries(operation.responses ?? {})) {
    const response = resolve(document, raw);
    const media = isObject(response?.content) ? Object.entries(response.content) : [];
    const body = media.map(([type, m]) => (type.endsWith('json') ? typeOf(document, m.schema) : `\`${type}\``)).join(', ');
    lines.push(`| ${status} | ${cell(response?.description)} | ${body || '—'} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** The whole reference, as Markdown. */
export function renderApiReference(document) {
  const byTag = new Map((document.tags ?? []).map((tag) => [tag.name, { tag, entries: [] }]));
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!isObject(operation)) continue;
      const tag = operation.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, entries: [] });
      byTag.get(tag).entries.push(operationEntry(document, path, method, operation));
    }
  }
  const sections = [...byTag.values()].filter((s) => s.entries.length > 0);
  const out = [
    `# ${document.info.title} reference`,
    '',
    '<!-- Generated from docs/openapi.json by `npm run openapi` (scripts/openapi-export.mjs); do not edit by hand. -->',
    '',
    document.info.description ?? '',
    '',
    'Errors use the envelope `{"error": {"code", "message", "request_id", "details"?}}`, but the',
    "OpenAI-compatible routes, which answer in OpenAI's error shape. Schemas named `service.Name` are",
    'in `components.schemas` of [openapi.json](openapi.json).',
    '',
    ...sections.map(
      (s) =>
        `- [${s.tag.name}](#${s.tag.name
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-')})`,
    ),
    '',
  ];
  for (const { tag, entries } of sections) {
    out.push(`## ${tag.name}`, '');
    if (tag.description) out.push(tag.description, '');
    out.push(...entries);
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

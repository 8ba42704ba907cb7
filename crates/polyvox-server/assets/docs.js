// Renders /openapi.json as readable docs without any external library (works offline).
// Only textContent is used, so nothing in the document can inject markup.
'use strict';

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

function typeOf(schema, doc) {
  if (!schema) return '';
  if (schema.$ref) return schema.$ref.split('/').pop();
  const t = Array.isArray(schema.type) ? schema.type.filter((x) => x !== 'null').join('|') : schema.type;
  if (t === 'array') return `${typeOf(schema.items, doc)}[]`;
  if (schema.oneOf || schema.anyOf) return (schema.oneOf || schema.anyOf).map((s) => typeOf(s, doc)).filter(Boolean).join(' | ');
  return t || 'object';
}

function resolve(schema, doc) {
  let s = schema;
  for (let i = 0; s && s.$ref && i < 10; i++) s = doc.components.schemas[s.$ref.split('/').pop()];
  return s || {};
}

function schemaTable(schema, doc) {
  const s = resolve(schema, doc);
  if (!s.properties) return el('p', { textContent: `Type: ${typeOf(schema, doc)}` });
  const required = new Set(s.required || []);
  const rows = Object.entries(s.properties).map(([name, p]) => el('tr', {},
    el('td', {}, el('code', { textContent: name + (required.has(name) ? ' *' : '') })),
    el('td', { textContent: typeOf(p, doc) }),
    el('td', { textContent: (p.description || '') + (p.example !== undefined ? `  e.g. ${JSON.stringify(p.example)}` : '') })));
  return el('table', {}, el('tr', {}, el('th', { textContent: 'field' }), el('th', { textContent: 'type' }), el('th', { textContent: 'description' })), ...rows);
}

function renderOp(path, method, op, doc) {
  const box = el('section', { className: 'op' });
  box.append(el('h3', {}, el('span', { className: 'method', textContent: method }), path));
  if (op.summary) box.append(el('p', { textContent: op.summary }));
  if (op.description && op.description !== op.summary) box.append(el('p', { textContent: op.description }));
  const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
  if (body) box.append(el('h4', { textContent: 'Request body (application/json, * = required)' }), schemaTable(body.schema, doc));
  const responses = Object.entries(op.responses || {}).map(([status, r]) => {
    const types = Object.keys(r.content || {});
    const schema = types.length && r.content[types[0]].schema;
    return el('tr', {},
      el('td', { textContent: status }),
      el('td', { textContent: r.description || '' }),
      el('td', { textContent: types.join(', ') + (schema ? ` → ${typeOf(schema, doc)}` : '') }));
  });
  box.append(el('h4', { textContent: 'Responses' }), el('table', {}, ...responses));
  return box;
}

async function main() {
  const ops = document.getElementById('ops');
  try {
    const res = await fetch('/openapi.json');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const doc = await res.json();
    document.getElementById('title').textContent = `${doc.info.title} API ${doc.info.version}`;
    document.getElementById('description').textContent = doc.info.description || '';
    const byTag = new Map();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const tag = (op.tags && op.tags[0]) || 'other';
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push(renderOp(path, method, op, doc));
      }
    }
    const tagInfo = new Map((doc.tags || []).map((t) => [t.name, t.description]));
    // Declared tag order first (speech before the plumbing), then any undeclared tag.
    const order = [...tagInfo.keys()].filter((t) => byTag.has(t)).concat([...byTag.keys()].filter((t) => !tagInfo.has(t)));
    for (const tag of order) {
      const sections = byTag.get(tag);
      ops.append(el('h2', { textContent: tagInfo.get(tag) || tag }), ...sections);
    }
  } catch (e) {
    const err = document.getElementById('error');
    err.textContent = `Could not load /openapi.json: ${e.message}`;
    err.hidden = false;
  }
}

main();

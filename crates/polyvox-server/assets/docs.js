// Renders /openapi.json as readable docs without any external library (works offline): each
// operation with its Markdown description, parameters, body and responses, and two examples to
// copy — curl, and the OpenAI Python SDK pointed at this server. Descriptions go through
// markdown.js, which builds elements with textContent only, so the document cannot inject markup.
// Browser tests run the examples (`pre.example[data-kind]`) against a real server.
'use strict';

import { render, renderInline } from './markdown.js';

const ORIGIN = window.location.origin;
/** Path parameters filled in the examples: shell/env variables or a real value. */
const PATH_VALUES = {
  id: { sh: '$JOB_ID', py: 'job_id' }, voice: { sh: 'af_bella', py: 'af_bella' }, asset: { sh: 'app.js', py: 'app.js' },
  name: { sh: 'brand', py: 'brand' },
};
/** The live text socket: examples speak WebSocket, not plain HTTP. */
const LIVE = '/v1/audio/speech/stream';
/** Bodies for the examples where the schema's examples alone would show every optional field. */
const BODIES = {
  'post /v1/audio/speech': { model: 'tts-1', input: 'Hello from Polyvox.', voice: 'af_heart', response_format: 'mp3' },
  'post /v1/jobs': { input: 'A long chapter to narrate.', voice: 'af_heart', response_format: 'mp3' },
  'put /v1/lexicons/{name}': { lang: 'en-us', entries: [{ grapheme: 'Polyvox', alias: 'polly vox' }] },
};

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) if (c != null) e.append(c);
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

function table(head, rows) {
  return el('div', { className: 'table-wrap' }, el('table', {},
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { textContent: h })))),
    el('tbody', {}, ...rows)));
}

function schemaTable(schema, doc) {
  const s = resolve(schema, doc);
  if (!s.properties) return el('p', { textContent: `Type: ${typeOf(schema, doc)}` });
  const required = new Set(s.required || []);
  const rows = Object.entries(s.properties).map(([name, p]) => {
    const desc = el('td', {}, renderInline(p.description || ''));
    if (p.example !== undefined) desc.append(' e.g. ', el('code', { textContent: JSON.stringify(p.example) }));
    return el('tr', {},
      el('td', {}, el('code', { textContent: name + (required.has(name) ? ' *' : '') })),
      el('td', { textContent: typeOf(p, doc) }),
      desc);
  });
  return table(['field', 'type', 'description'], rows);
}

/** Public operations declare an empty security requirement (`security: [{}]`). */
function isPublic(op, doc) {
  const sec = op.security || doc.security || [];
  return !sec.length || sec.some((r) => Object.keys(r).length === 0);
}

/** An example body: curated where one exists, else required fields and those with examples. */
function exampleBody(method, path, op, doc) {
  if (BODIES[`${method} ${path}`]) return BODIES[`${method} ${path}`];
  const content = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
  if (!content) return null;
  const s = resolve(content.schema, doc);
  const body = {};
  for (const [name, p] of Object.entries(s.properties || {})) {
    if (p.example !== undefined) body[name] = p.example;
    else if ((s.required || []).includes(name)) body[name] = typeOf(p, doc) === 'string' ? 'text' : 1;
  }
  return body;
}

/** The file extension of an audio response, or null for JSON/text. */
function audioExtension(op) {
  for (const r of Object.values(op.responses || {})) {
    for (const type of Object.keys(r.content || {})) {
      const m = /^audio\/(mpeg|ogg|flac|wav|pcm)/.exec(type);
      if (m) return { mpeg: 'mp3', ogg: 'opus', flac: 'flac', wav: 'wav', pcm: 'pcm' }[m[1]];
    }
  }
  return null;
}

function fill(path, kind) {
  return path.replace(/\{(\w+)\}/g, (_, name) => (PATH_VALUES[name] || { sh: name, py: name })[kind]);
}

function curlExample(method, path, op, doc) {
  if (path === LIVE) {
    // curl cannot speak WebSocket; it can show the upgrade (101), after which the server closes
    // the socket when no session message comes within the handshake timeout.
    return [`curl -sS --http1.1 -o /dev/null -w "%{http_code}\\n" "${ORIGIN}${path}"`,
      '-H "Authorization: Bearer $POLYVOX_API_KEY"', '-H "Connection: Upgrade" -H "Upgrade: websocket"',
      '-H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: cG9seXZveC1kb2NzLWtleQ=="'].join(' \\\n  ');
  }
  const lines = [`curl -sS${method === 'get' ? '' : ` -X ${method.toUpperCase()}`} "${ORIGIN}${fill(path, 'sh')}"`];
  if (!isPublic(op, doc)) lines.push('-H "Authorization: Bearer $POLYVOX_API_KEY"');
  const body = exampleBody(method, path, op, doc);
  if (body) lines.push('-H "Content-Type: application/json"', `-d '${JSON.stringify(body)}'`);
  const ext = audioExtension(op);
  if (ext) lines.push(`--output ${path.includes('preview') ? 'preview' : 'speech'}.${ext}`);
  return lines.join(' \\\n  ');
}

function pyLiteral(v) {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null) return 'None';
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(', ')}}`;
  }
  return JSON.stringify(v);
}

function pythonExample(method, path, op, doc) {
  if (path === LIVE) {
    return ['import json, os', 'from websockets.sync.client import connect  # pip install websockets', '',
      `url = "${ORIGIN.replace(/^http/, 'ws')}${path}"`,
      'auth = {"Authorization": "Bearer " + os.environ.get("POLYVOX_API_KEY", "none")}',
      'with connect(url, additional_headers=auth) as ws, open("live.mp3", "wb") as out:',
      '    ws.send(json.dumps({"type": "session", "voice": "af_heart", "format": "mp3"}))',
      '    for delta in ["Hello from ", "the live ", "text socket."]:  # e.g. tokens of a language model',
      '        ws.send(json.dumps({"type": "text", "text": delta}))',
      '    ws.send(json.dumps({"type": "close"}))',
      '    for message in ws:  # binary frames: the audio; text frames: ready, done, error',
      '        if isinstance(message, bytes):',
      '            out.write(message)',
      '        else:',
      '            print(message)'].join('\n');
  }
  const head = ['import os', 'from openai import OpenAI', '',
    `client = OpenAI(base_url="${ORIGIN}/v1", api_key=os.environ.get("POLYVOX_API_KEY", "none"))`];
  const ext = audioExtension(op);
  const body = exampleBody(method, path, op, doc);
  const lines = [];
  if (method === 'post' && path === '/v1/audio/speech') {
    const args = Object.entries(body).map(([k, v]) => `${k}=${pyLiteral(v)}`).join(', ');
    lines.push(`with client.audio.speech.with_streaming_response.create(${args}) as r:`,
      `    r.stream_to_file("speech.${ext}")`);
    return head.concat(lines).join('\n');
  }
  if (method === 'get' && path === '/v1/models') {
    lines.push('for model in client.models.list():', '    print(model.id)');
    return head.concat(lines).join('\n');
  }
  // Other routes through the SDK's own HTTP methods: paths under /v1 are relative to base_url,
  // others absolute. cast_to=httpx.Response keeps the raw response (audio, HTML, scripts).
  if (path.includes('{id}')) lines.push('job_id = os.environ["JOB_ID"]');
  const rel = path.startsWith('/v1/') ? fill(path.slice(3), 'py') : `${ORIGIN}${fill(path, 'py')}`;
  const url = path.includes('{id}') ? `f"${rel.replace('job_id', '{job_id}')}"` : `"${rel}"`;
  const raw = ext || !/json/.test(Object.keys(Object.values(op.responses || {})[0]?.content || {}).join(' '));
  const cast = raw ? 'httpx.Response' : 'object';
  const args = [url, `cast_to=${cast}`];
  if (body) args.push(`body=${pyLiteral(body)}`);
  lines.push(`r = client.${method}(${args.join(', ')})`);
  if (ext) lines.push(`open("${path.includes('preview') ? 'preview' : 'speech'}.${ext}", "wb").write(r.content)`);
  else if (raw) lines.push('print(r.status_code, r.headers.get("content-type"))');
  else lines.push('print(r)');
  if (raw) head.unshift('import httpx');
  return head.concat(lines).join('\n');
}

function renderOp(path, method, op, doc) {
  const box = el('section', { className: 'op' });
  box.id = `${method}-${path}`.replace(/[^\w-]+/g, '-');
  box.append(el('h3', {}, el('span', { className: 'method', textContent: method }), path,
    isPublic(op, doc) ? el('span', { className: 'hint', textContent: '  public' }) : null));
  if (op.summary) box.append(render(op.summary));
  if (op.description && op.description !== op.summary) box.append(render(op.description));
  const params = (op.parameters || []).map((p) => el('tr', {},
    el('td', {}, el('code', { textContent: p.name + (p.required ? ' *' : '') })),
    el('td', { textContent: p.in }),
    el('td', {}, renderInline(p.description || ''))));
  if (params.length) box.append(el('h4', { textContent: 'Parameters (* = required)' }), table(['name', 'in', 'description'], params));
  const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
  if (body) box.append(el('h4', { textContent: 'Request body (application/json, * = required)' }), schemaTable(body.schema, doc));
  const responses = Object.entries(op.responses || {}).map(([status, r]) => {
    const types = Object.keys(r.content || {});
    const schema = types.length && r.content[types[0]].schema;
    return el('tr', {},
      el('td', { textContent: status }),
      el('td', {}, renderInline(r.description || '')),
      el('td', { textContent: types.join(', ') + (schema ? ` → ${typeOf(schema, doc)}` : '') }));
  });
  box.append(el('h4', { textContent: 'Responses' }), table(['status', 'description', 'content'], responses));
  const curl = el('pre', { className: 'example', textContent: curlExample(method, path, op, doc) });
  curl.dataset.kind = 'curl';
  const py = el('pre', { className: 'example', textContent: pythonExample(method, path, op, doc) });
  py.dataset.kind = 'python';
  for (const pre of [curl, py]) {
    pre.dataset.method = method;
    pre.dataset.path = path;
    pre.tabIndex = 0; // scrollable code must be reachable by keyboard
  }
  box.append(el('div', { className: 'examples' },
    el('h4', { textContent: 'curl' }), curl,
    el('h4', { textContent: 'OpenAI Python SDK (pip install openai)' }), py));
  return box;
}

async function main() {
  const ops = document.getElementById('ops');
  try {
    const res = await fetch('/openapi.json');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const doc = await res.json();
    document.getElementById('title').textContent = `${doc.info.title} API ${doc.info.version}`;
    document.getElementById('description').replaceChildren(render(doc.info.description || ''));
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
      ops.append(el('h2', {}, renderInline(tagInfo.get(tag) || tag)), ...byTag.get(tag));
    }
  } catch (e) {
    const err = document.getElementById('error');
    err.textContent = `Could not load /openapi.json: ${e.message}`;
    err.hidden = false;
  }
}

main();

// A small Markdown renderer for the OpenAPI descriptions on /docs: paragraphs, `code`, **bold**,
// *emphasis*, [links](url), bullet and numbered lists, fenced code blocks and headings.
//
// It never builds HTML strings: `parse` yields a tree of {tag, attrs, children} and `toDom` turns it
// into elements with textContent, so nothing in a description can inject markup or script, and
// links are kept only for http(s), same-origin paths and fragments (no javascript: URLs).
'use strict';

const INLINE = new RegExp([
  '`([^`]+)`', // 1: code
  '\\*\\*(.+?)\\*\\*', // 2: bold
  '\\[([^\\]]+)\\]\\(([^)\\s]+)\\)', // 3, 4: link
  '(?<![\\w*])\\*(?!\\s)(.+?)(?<!\\s)\\*(?![\\w*])', // 5: *emphasis*
  '(?<![\\w_])_(?!\\s)(.+?)(?<!\\s)_(?![\\w_])', // 6: _emphasis_
].join('|'), 'g');

export function safeHref(url) {
  return /^(https?:\/\/|\/(?!\/)|#)/i.test(url) ? url : null;
}

/** Inline Markdown → an array of strings and {tag, attrs, children}. */
export function parseInline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push({ tag: 'code', children: [m[1]] });
    else if (m[2] !== undefined) out.push({ tag: 'strong', children: parseInline(m[2]) });
    else if (m[3] !== undefined) {
      const href = safeHref(m[4]);
      out.push(href ? { tag: 'a', attrs: { href }, children: parseInline(m[3]) } : m[0]);
    } else out.push({ tag: 'em', children: parseInline(m[5] !== undefined ? m[5] : m[6]) });
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
const HEADING = /^(#{1,6})\s+(.*)$/;
const FENCE = /^\s*```/;

/** Block Markdown → an array of {tag, attrs, children}. Headings start at h4 (inside an operation). */
export function parse(src) {
  const lines = String(src || '').replace(/\r\n?/g, '\n').split('\n');
  const blocks = [];
  let para = [];
  let list = null;
  const flushPara = () => {
    if (para.length) blocks.push({ tag: 'p', children: parseInline(para.join(' ')) });
    para = [];
  };
  const flushList = () => {
    if (list) blocks.push(list);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (FENCE.test(line)) {
      flushPara();
      flushList();
      const code = [];
      for (i += 1; i < lines.length && !FENCE.test(lines[i]); i++) code.push(lines[i]);
      blocks.push({ tag: 'pre', children: [{ tag: 'code', children: [code.join('\n')] }] });
      continue;
    }
    if (!line.trim()) {
      flushPara();
      flushList();
      continue;
    }
    const h = HEADING.exec(line);
    if (h) {
      flushPara();
      flushList();
      blocks.push({ tag: `h${Math.min(6, h[1].length + 3)}`, children: parseInline(h[2]) });
      continue;
    }
    const item = BULLET.exec(line) || NUMBERED.exec(line);
    if (item) {
      flushPara();
      const tag = BULLET.test(line) ? 'ul' : 'ol';
      if (!list || list.tag !== tag) {
        flushList();
        list = { tag, children: [] };
      }
      list.children.push({ tag: 'li', children: parseInline(item[1]) });
      continue;
    }
    if (list && /^\s+\S/.test(line)) {
      // An indented line continues the list item above it.
      const li = list.children[list.children.length - 1];
      li.children.push(' ', ...parseInline(line.trim()));
      continue;
    }
    flushList();
    para.push(line.trim());
  }
  flushPara();
  flushList();
  return blocks;
}

/** A parsed tree → DOM nodes (text through textContent only). */
export function toDom(nodes) {
  const frag = document.createDocumentFragment();
  for (const n of nodes) {
    if (typeof n === 'string') {
      frag.append(document.createTextNode(n));
      continue;
    }
    const e = document.createElement(n.tag);
    for (const [k, v] of Object.entries(n.attrs || {})) e.setAttribute(k, v);
    e.append(toDom(n.children || []));
    frag.append(e);
  }
  return frag;
}

/** Markdown → a <div class="md"> of rendered blocks. */
export function render(src) {
  const div = document.createElement('div');
  div.className = 'md';
  div.append(toDom(parse(src)));
  return div;
}

/** Inline Markdown (a table cell, a summary) → a fragment. */
export function renderInline(src) {
  return toDom(parseInline(String(src || '')));
}

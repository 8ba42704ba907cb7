// Same-origin calls to the Polyvox API with this tab's API key.
//
// The key lives in sessionStorage only: it survives a reload of this tab, and is gone when the tab
// closes (localStorage would outlive the session on a shared machine). Whether the server wants a
// key at all is written into the page by the server (<meta name="polyvox-auth">), so the page never
// has to probe a protected route to find out.
'use strict';

const KEY = 'polyvox-key';

/** The server requires `Authorization: Bearer <key>` on speech, jobs and usage. */
export const keyRequired =
  (document.querySelector('meta[name="polyvox-auth"]') || {}).content === 'required';

export function getKey() {
  return sessionStorage.getItem(KEY) || '';
}

export function setKey(key) {
  const k = (key || '').trim();
  if (k) sessionStorage.setItem(KEY, k);
  else sessionStorage.removeItem(KEY);
}

/** An API error: the server's message, its stable `code` and the request id. */
export class ApiError extends Error {
  constructor(message, status, code, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

async function toError(res) {
  let e = {};
  try {
    e = (await res.json()).error || {};
  } catch (_) {
    // Not our JSON (a proxy's page): the status line is all there is.
  }
  const id = e.request_id ? `, request ${e.request_id}` : '';
  const err = new ApiError(`${e.message || res.statusText || 'request failed'} (${e.code || res.status}${id})`,
    res.status, e.code || '', e.request_id || '');
  if (res.status === 401) window.dispatchEvent(new CustomEvent('polyvox:unauthorized', { detail: err }));
  return err;
}

/** fetch() with the key and JSON body; resolves to the Response, throws ApiError unless 2xx. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = {};
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await toError(res);
  return res;
}

export async function getJson(path, opts) {
  return (await api(path, opts)).json();
}

/** The error of a failed GET whose body the browser did not show us (an <audio src>). */
export async function errorOf(path) {
  try {
    await api(path);
    return null;
  } catch (e) {
    return e;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

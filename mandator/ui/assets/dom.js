'use strict';
// DOM helpers. Every dynamic value goes in as text (textContent or an
// attribute), never as HTML: values from the server cannot become markup.
const dom = {
  // el('td', {class: 'ok'}, 'text', childNode, ...)
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'class') node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  },
  // A table from header names and rows of cells (strings or nodes).
  table(headers, rows, attrs) {
    return dom.el('table', attrs || {},
      dom.el('thead', {}, dom.el('tr', {}, headers.map((h) => dom.el('th', {}, h)))),
      dom.el('tbody', {}, rows.map((r) => dom.el('tr', {}, r.map((c) => dom.el('td', {}, c))))));
  },
  link(href, text, attrs) { return dom.el('a', Object.assign({href}, attrs || {}), text); },
  state(ok, text) { return dom.el('span', {class: ok ? 'ok' : 'bad'}, text); },
  clear(node) { node.replaceChildren(); return node; },
  ago(ms) {
    if (ms === null || ms === undefined) return 'unknown';
    if (ms < 1000) return ms + ' ms ago';
    return (ms / 1000).toFixed(1) + ' s ago';
  },
};

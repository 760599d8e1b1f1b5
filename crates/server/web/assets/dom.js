// A tiny element builder: the app builds its DOM with createElement and textContent only, so
// text from the server is never parsed as HTML.

/** `h('button', { class: 'x', dataset: { testid: 'y' }, onclick }, 'label', child)` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A button whose pressed state is announced (`aria-pressed`) and visible. */
export function toggle(label, testid, onclick) {
  return h('button', { type: 'button', class: 'control', 'aria-pressed': 'false', 'aria-label': label, dataset: { testid }, onclick }, label);
}

export function setPressed(button, pressed, label) {
  button.setAttribute('aria-pressed', String(pressed));
  if (label) {
    button.textContent = label;
    button.setAttribute('aria-label', label);
  }
}

/** A short, readable time: today's as `14:05`, older as `3 Mar 14:05`. */
export function shortTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

export function duration(seconds) {
  if (typeof seconds !== 'number' || seconds < 0) return '';
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

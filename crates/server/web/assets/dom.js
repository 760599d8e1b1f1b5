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

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * Keeps Tab and Shift+Tab inside `container` while `active()` is true (WAI-ARIA's modal
 * dialog pattern): focus wraps from the last control to the first and back, and focus that
 * lands outside (a click, a screen reader) is brought back in.
 */
export function trapFocus(container, active) {
  // The tab stops inside: one per radio group (its checked button, else its first).
  function stops() {
    const seen = new Set();
    return [...container.querySelectorAll(FOCUSABLE)]
      .filter((el) => el.getClientRects().length > 0)
      .filter((el) => {
        if (el.type !== 'radio') return true;
        if (seen.has(el.name)) return false;
        seen.add(el.name);
        return true;
      })
      .map((el) => (el.type === 'radio' ? (container.querySelector(`input[name="${el.name}"]:checked`) ?? el) : el));
  }
  document.addEventListener('keydown', (e) => {
    if (!active() || e.key !== 'Tab') return;
    const items = stops();
    if (!items.length) return;
    const at = document.activeElement;
    const here = items.findIndex((el) => el === at || (at?.type === 'radio' && el.type === 'radio' && el.name === at.name));
    const next = here < 0 ? (e.shiftKey ? items.length - 1 : 0) : (here + (e.shiftKey ? -1 : 1) + items.length) % items.length;
    e.preventDefault();
    items[next].focus();
  });
  document.addEventListener('focusin', (e) => {
    if (active() && !container.contains(e.target)) stops()[0]?.focus();
  });
}

/** `m:ss` (or `h:mm:ss`) of a running timer. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** The same length in words, for screen readers and the end-of-visit screen. */
export function spokenLength(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  if (m === 0) return `${s} second${s === 1 ? '' : 's'}`;
  const rest = s % 60;
  return `${m} minute${m === 1 ? '' : 's'}${rest ? ` ${rest} second${rest === 1 ? '' : 's'}` : ''}`;
}

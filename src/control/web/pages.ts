/**
 * The two pages the dashboard server writes itself, without the bundle: the login form (the answer
 * to every request without a valid session) and the notice that the front end was not built. Both
 * are self-contained: one inline style, allowed by its hash in the page's Content-Security-Policy,
 * and no script.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1b1f24;--muted:#5b6470;--card:#fff;--line:#d8dde3;--accent:#1f6feb;--bad:#c62828}
@media (prefers-color-scheme:dark){:root{--bg:#0f1318;--fg:#e6e9ee;--muted:#9aa4b1;--card:#171c23;--line:#2a313b;--accent:#4c8dff;--bad:#ff6b6b}}
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg);display:flex;min-height:100vh;align-items:center;justify-content:center;padding:16px}
main{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:24px;width:100%;max-width:420px}
h1{font-size:20px;margin:0 0 4px}p{margin:8px 0;color:var(--muted)}code{font-size:14px}
label{display:block;margin:16px 0 6px;font-weight:600}
input{width:100%;font:inherit;padding:10px 12px;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
button{margin-top:14px;width:100%;font:inherit;font-weight:600;padding:10px;border:0;border-radius:6px;background:var(--accent);color:#fff;cursor:pointer}
.error{color:var(--bad);font-weight:600}
`;

/** The `style-src` source that allows {@link STYLE} and nothing else. */
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** The Content-Security-Policy of the pages of this file. */
export const PAGE_CSP = `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`;
}

/** The login form: the control token, posted to `/login`. `error` says why the last try failed. */
export function loginPage(opts: { error?: string; tokenHint: string }): string {
  return page('gracevisor — log in', `
<h1>gracevisor</h1>
<p>This dashboard needs the control token.</p>
${opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>
<p>The token is ${escapeHtml(opts.tokenHint)}. Opening <code>/?token=…</code> logs in too.</p>`);
}

/** What `/` answers when dist/web/ is missing. */
export function notBuiltPage(dir: string): string {
  return page('gracevisor — dashboard not built', `
<h1>The dashboard was not built</h1>
<p>Its front end is not in <code>${escapeHtml(dir)}</code>. Build it with <code>npm run build</code> and restart gracevisord.</p>`);
}

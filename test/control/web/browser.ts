// The dashboard's browser tests' shared part: Debian's Chromium driven by playwright-core (never a
// downloaded browser), tracked like every process a test starts and closed in teardown; and a real
// daemon (the build output) with the dashboard on.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { track } from '../../helpers/registry.js';
import { freePort, TestDaemon, type TestApp } from '../../cli/harness.js';

/** Debian's chromium package (`.ci/run` installs it). */
export const CHROMIUM = process.env.GV_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Set to 1 to skip the browser tests on a machine without Chromium (they fail otherwise: a missing
 * browser is a broken test setup, not a pass).
 */
export const SKIP_ENV = 'GV_SKIP_BROWSER_TESTS';

/** Why the browser tests cannot run here, when they are asked to skip; else null. */
export function skipReason(): string | null {
  if (process.env[SKIP_ENV] === '1' && !existsSync(CHROMIUM)) return `${SKIP_ENV}=1 and no ${CHROMIUM}`;
  return null;
}

/** Headless Chromium for `t`: killed with its children at teardown even when the test failed. */
export async function launchBrowser(t: Tap.Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does), or set ${SKIP_ENV}=1 to skip these tests`);
  // A browser server, so that its process is known (tracked: killed with its children even when the
  // test process dies), and a client connected to it.
  const server = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
  track(t, server.process().pid!, { label: 'chromium' });
  t.teardown(() => server.close().catch(() => undefined));
  const browser = await chromium.connect(server.wsEndpoint(), { timeout: 60_000 });
  t.teardown(() => browser.close().catch(() => undefined));
  return browser;
}

/** A daemon whose dashboard listens on a free 127.0.0.1 port with a known token. */
export interface WebDaemon {
  d: TestDaemon;
  token: string;
  /** http://127.0.0.1:PORT */
  base: string;
}

/** Start a real gracevisord with these apps and `web` on; resolves once the dashboard listens. */
export async function startWebDaemon(t: Tap.Test, apps: TestApp[], token = 'dash-test-token-0123456789'): Promise<WebDaemon> {
  const d = await TestDaemon.create(t);
  const webPort = await freePort();
  d.rpcExtra = [`token: ${token}`];
  await d.writeConfig(apps, `web:\n  listen: 127.0.0.1:${webPort}\n`);
  await d.start();
  const line = await d.waitForEvent('web_listening');
  return { d, token, base: line.fields.url!.replace(/\/$/, '') };
}

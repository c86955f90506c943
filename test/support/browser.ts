/**
 * Real headless Chromium for the e2e tests: Debian's `chromium` driven by playwright-core
 * (no browser download). Under CI=true a missing browser is a failure, not a skip — the
 * CI script installs it (`.ci/install-browser`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { it } from 'vitest';

export const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const inCi = process.env['CI'] === 'true' || process.env['CI'] === '1';

export interface BrowserAvailability {
  available: boolean;
  /** Why the browser tests cannot run (shown when they are skipped outside CI). */
  reason: string;
}

export function browserAvailability(): BrowserAvailability {
  if (existsSync(chromiumPath)) return { available: true, reason: '' };
  return { available: false, reason: `${chromiumPath} is missing: run .ci/install-browser (apt-get install chromium) to enable the browser tests` };
}

/**
 * Call at the top of a browser test file; skip the suite when it returns true. With no
 * browser: outside CI the suite is skipped with a clear message; under CI a failing test
 * is registered instead, so the totals say "failed", never a quiet skip.
 */
export function shouldSkipBrowserTests(): boolean {
  const { available, reason } = browserAvailability();
  if (available) return false;
  if (inCi) {
    it('has headless Chromium installed (required under CI)', () => {
      throw new Error(reason);
    });
  } else {
    process.stderr.write(`[e2e] skipped: ${reason}\n`);
  }
  return true;
}

export interface LaunchedBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** A fresh, empty profile per launch (Playwright wants it as userDataDir, not as an arg). */
export async function launchChromium(): Promise<LaunchedBrowser> {
  const { available, reason } = browserAvailability();
  if (!available) throw new Error(reason);
  const { chromium } = await import('playwright-core');
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'chorus-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 1000 },
    timeout: 20_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

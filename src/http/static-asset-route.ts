/**
 * The inspector page: plain files from src/http/public/, no build step. The set of files
 * is fixed at start-up, so a request can only ever name one of them.
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteTable } from './route-table.js';

export const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

const typeByExtension: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

async function serveAsset(res: import('node:http').ServerResponse, method: string | undefined, name: string): Promise<void> {
  const body = await readFile(path.join(publicDir, name));
  res.writeHead(200, {
    'content-type': typeByExtension[path.extname(name)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    // The page loads only its own scripts; images come from /files/ on the same origin.
    'content-security-policy': "default-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self' ws: wss:; style-src 'self'",
  });
  res.end(method === 'HEAD' ? undefined : body);
}

export function addStaticAssetRoutes(routes: RouteTable): void {
  routes.add('GET', '/', ({ req, res }) => serveAsset(res, req.method, 'index.html'));
  // Browsers ask for /favicon.ico whatever the page links to; the SVG answers it.
  routes.add('GET', '/favicon.ico', ({ req, res }) => serveAsset(res, req.method, 'favicon.svg'));
  for (const name of readdirSync(publicDir)) {
    if (name in typeByExtension || path.extname(name) in typeByExtension) {
      routes.add('GET', `/${name}`, ({ req, res }) => serveAsset(res, req.method, name));
    }
  }
}

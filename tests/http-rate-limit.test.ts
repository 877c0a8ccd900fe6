/**
 * HTTP routes are rate limited per client address like the socket (issue 11, item 4): requests
 * from 127.0.0.2 past the limit get 429 {code: 42901} on every route that does work, while
 * 127.0.0.3 (another client address) and /healthz go on.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '@opencall/server';
import { ErrorCode } from '@opencall/client/node';
import { ADMIN_TOKEN, sig, startTestServer } from './support/harness.js';

/** One HTTP request from a given loopback address. */
function from(localAddress: string, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, localAddress }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let body: any = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode!, body, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('HTTP rate limit per client address', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const routes = (url: string): [string, Parameters<typeof from>[2]][] => [
    [`${url}/v1/config`, {}],
    [`${url}/v1/dev/usersig`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userID: 'alice' }) }],
    [`${url}/v1/history`, { headers: { authorization: `Bearer ${sig('alice')}`, 'x-opencall-user': 'alice' } }],
    [`${url}/v1/admin/groups/team`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }],
    [`${url}/v1/admin/history/alice`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }],
    [`${url}/metrics`, {}],
    [`${url}/no/such/route`, {}],
  ];

  it('past the limit: 429 {code: 42901} on every route that does work; other addresses and /healthz unaffected', async () => {
    const limit = 3;
    server = await startTestServer({ devUserSig: true, httpRateLimit: limit, httpRateWindowMs: 60_000 });
    for (const [url, init] of routes(server.url)) {
      // Each route on a fresh address so one route's count does not hide another's.
      server && (await server.close());
      server = await startTestServer({ devUserSig: true, httpRateLimit: limit, httpRateWindowMs: 60_000 });
      const u = url.replace(/^http:\/\/[^/]+/, server.url);
      for (let i = 0; i < limit; i++) expect((await from('127.0.0.2', u, init)).status, `${u} #${i + 1}`).not.toBe(429);
      const over = await from('127.0.0.2', u, init);
      expect([over.status, over.body], u).toEqual([429, { code: ErrorCode.RATE_LIMITED, message: expect.stringMatching(/too many requests/) }]);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
      expect((await from('127.0.0.3', u, init)).status, `${u} from another address`).not.toBe(429);
      expect((await from('127.0.0.2', `${server.url}/healthz`)).status).toBe(200);
    }
  });

  it('behind a trusted proxy, the limit applies to the client named in X-Forwarded-For', async () => {
    server = await startTestServer({ httpRateLimit: 2, httpRateWindowMs: 60_000, trustProxy: ['127.0.0.2'] });
    const as = (client: string) => from('127.0.0.2', `${server!.url}/v1/config`, { headers: { 'x-forwarded-for': client } });
    expect((await as('198.51.100.1')).status).toBe(200);
    expect((await as('198.51.100.1')).status).toBe(200);
    expect((await as('198.51.100.1')).status).toBe(429);
    expect((await as('198.51.100.2')).status).toBe(200);
  });

  it('httpRateLimit 0 turns it off', async () => {
    server = await startTestServer({ httpRateLimit: 0 });
    for (let i = 0; i < 320; i++) expect((await from('127.0.0.2', `${server.url}/v1/config`)).status).toBe(200);
  });
});

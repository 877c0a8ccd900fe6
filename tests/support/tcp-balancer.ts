/**
 * Test helper: the load balancer in front of a cluster. A plain TCP round robin on 127.0.0.1,
 * so consecutive connections (and reconnects) land on different nodes, and a backend that is
 * down is skipped, like a balancer with health checks.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpBalancer {
  url: string;
  port: number;
  /** Backends (ports on 127.0.0.1), in round-robin order; replace to add or drop nodes. */
  backends: number[];
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: number[]): Promise<TcpBalancer> {
  let next = 0;
  const sockets = new Set<Socket>();
  const balancer: TcpBalancer = { url: '', port: 0, backends: [...backends], close: async () => {} };
  const connectTo = (client: Socket, tries: number): void => {
    if (tries >= balancer.backends.length || client.destroyed) {
      client.destroy();
      return;
    }
    const port = balancer.backends[next++ % balancer.backends.length]!;
    const upstream = createConnection({ port, host: '127.0.0.1' });
    sockets.add(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => undefined); // 'close' follows
    upstream.once('close', () => {
      sockets.delete(upstream);
      if (connected) client.destroy();
      else connectTo(client, tries + 1); // that node is down: the next one
    });
    client.once('close', () => upstream.destroy());
  };
  const server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    client.once('close', () => sockets.delete(client));
    connectTo(client, 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  balancer.port = (server.address() as { port: number }).port;
  balancer.url = `http://127.0.0.1:${balancer.port}`;
  balancer.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return balancer;
}

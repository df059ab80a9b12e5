/**
 * Free ports for tests: one from the kernel (port 0), or a block of consecutive ports below the
 * kernel's ephemeral range for a config's `port_range`, so tests running in parallel rarely meet.
 */
import { createServer } from 'node:net';

/** A port the kernel says is free right now on 127.0.0.1. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** True when host:port binds now. */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** `size` consecutive ports, all free now, between 12000 and 32000 (below Linux's ephemeral range). */
export async function freePortRange(size: number, host = '127.0.0.1'): Promise<{ from: number; to: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const from = 12000 + Math.floor(Math.random() * (20000 - size));
    let ok = true;
    for (let p = from; p < from + size && ok; p++) ok = await portFree(p, host);
    if (ok) return { from, to: from + size - 1 };
  }
  throw new Error(`no block of ${size} free ports found`);
}

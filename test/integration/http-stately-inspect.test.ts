import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createActor, setup } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { createStatelyInspector, type StatelyInspector } from '../../src/http/stately-inspect.js';

let server: WebSocketServer | undefined;
let inspector: StatelyInspector | undefined;
afterEach(async () => {
  inspector?.stop();
  for (const client of server?.clients ?? []) client.terminate();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = inspector = undefined;
});

describe('createStatelyInspector', () => {
  it("streams an actor's inspection events to a Stately WebSocket inspector", async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const received: { type: string; sessionId?: string; event?: { type?: string } }[] = [];
    let resolveSeen: () => void;
    const sawCancel = new Promise<void>((resolve) => (resolveSeen = resolve));
    server.on('connection', (ws) =>
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        received.push(msg);
        if (msg.type === '@xstate.event' && msg.event?.type === 'job.cancel') resolveSeen();
      }),
    );

    inspector = createStatelyInspector(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const machine = setup({}).createMachine({
      id: 'job',
      initial: 'queued',
      states: { queued: { on: { 'job.cancel': 'cancelled' } }, cancelled: { type: 'final' } },
    });
    const actor = createActor(machine, { inspect: inspector.inspect });
    actor.start();
    actor.send({ type: 'job.cancel' });
    await sawCancel;

    expect(received.some((m) => m.type === '@xstate.actor')).toBe(true);
    expect(received.some((m) => m.type === '@xstate.snapshot')).toBe(true);
    expect(actor.getSnapshot().value).toBe('cancelled');
  });
});

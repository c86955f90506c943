/**
 * `--inspect`: connect job actors to Stately's inspector over its WebSocket protocol.
 * Callers import this module dynamically (`await import('./http/stately-inspect.js')`) only
 * when `--inspect` is given, so the inspector's dependencies are not loaded otherwise.
 * Pass the returned `inspect` to `createActor(machine, { inspect })`.
 */
import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';

export const defaultStatelyInspectorUrl = 'ws://localhost:8080';

export interface StatelyInspector {
  inspect: Observer<InspectionEvent>;
  url: string;
  stop(): void;
}

export function createStatelyInspector(url: string = defaultStatelyInspectorUrl): StatelyInspector {
  const inspector = createWebSocketInspector({ url });
  return { inspect: inspector.inspect, url, stop: () => inspector.stop() };
}

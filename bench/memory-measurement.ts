/** What the memory benchmark's child process measures, and the dead port it points at. */
import { createServer } from 'node:net';
import { z } from 'zod';

export const memoryMeasurementSchema = z.strictObject({
  jobs: z.number().int(),
  queued: z.number().int(),
  /** Jobs with a live XState actor, and jobs waiting as a row plus a scheduler entry. */
  liveActors: z.number().int(),
  parked: z.number().int(),
  heapBeforeBytes: z.number(),
  heapAfterBytes: z.number(),
  rssBeforeBytes: z.number(),
  rssAfterBytes: z.number(),
  admitMs: z.number(),
});
export type MemoryMeasurement = z.infer<typeof memoryMeasurementSchema>;

/** A port that was free a moment ago and now has no listener: connections are refused. */
export async function freePortThatRefuses(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

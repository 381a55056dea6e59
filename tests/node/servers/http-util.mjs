// Pieces the test servers share: reading a request body, a JSON answer, and
// an in-memory event store for SSE resumption (Last-Event-ID).

import { randomUUID } from 'node:crypto';

/** The whole request body, as one Buffer. */
export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Answers with status and obj as JSON. */
export function sendJson(res, status, obj) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(obj));
}

/**
 * The SDK's EventStore, in memory: every event a transport sends is kept, and
 * a GET with Last-Event-ID replays the same stream's events after that one.
 */
export class MemoryEventStore {
  constructor() {
    this.events = new Map();
  }

  async storeEvent(streamId, message) {
    const id = `${streamId}_${randomUUID()}`;
    this.events.set(id, { streamId, message });
    return id;
  }

  async getStreamIdForEventId(eventId) {
    return this.events.get(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId, { send }) {
    const entry = this.events.get(lastEventId);
    if (!entry) return '';
    let found = false;
    for (const [id, { streamId, message }] of this.events) {
      if (id === lastEventId) {
        found = true;
        continue;
      }
      if (found && streamId === entry.streamId && Object.keys(message).length) await send(id, message);
    }
    return entry.streamId;
  }
}

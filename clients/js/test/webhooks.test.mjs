// The SDK's webhook event types are the server's: every type in docs/webhooks.md's table is
// in WEBHOOK_EVENT_TYPES and the other way round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WEBHOOK_EVENT_TYPES, isWebhookEventType } from '../dist/index.js';

test('the webhook event types match docs/webhooks.md', () => {
  const docs = readFileSync(new URL('../../../docs/webhooks.md', import.meta.url), 'utf8');
  const documented = [...docs.matchAll(/^\| `([a-z-]+\.[a-z]+)` \| /gm)].map((m) => m[1]);
  assert.deepEqual([...WEBHOOK_EVENT_TYPES].sort(), [...new Set(documented)].sort());
  assert.equal(isWebhookEventType('call.ended'), true);
  assert.equal(isWebhookEventType('waiting-room.entered'), true);
  assert.equal(isWebhookEventType('call.exploded'), false);
});

'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { isRefusal } = require('../../services/gateway/widget/lib/logic.js');

test('only 4000-4099 close codes are permanent refusals', () => {
  assert.equal(isRefusal(4001), true); // unknown write key
  assert.equal(isRefusal(4003), true); // origin not allowed
  // outages, restarts, abuse closes and a full queue: reconnect with backoff
  for (const code of [1000, 1001, 1006, 1008, 1009, 1011, 1013, 4100, 3000, undefined]) {
    assert.equal(isRefusal(code), false, String(code));
  }
});

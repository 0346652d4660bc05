'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');

test('widget script exists and defines the parley global', () => {
  const src = fs.readFileSync(path.join(__dirname, '..', 'widget.js'), 'utf8');
  assert.match(src, /window\.parley/);
});

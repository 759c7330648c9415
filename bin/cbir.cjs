#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the same lib/ sources serve the CLI, the notebooks and the tests.
"use strict";
require("tsx/cjs");
const { main } = require("../lib/cli/main.ts");
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // a backend or worker may keep the event loop alive; stdout is flushed by then
  setTimeout(() => process.exit(code), 500).unref();
});

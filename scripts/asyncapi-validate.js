#!/usr/bin/env node
// Parses offerflow's AsyncAPI document with @asyncapi/parser (the version
// scripts/check.sh pins and installs into .tools/) and fails on any
// diagnostic of error severity. Warnings are printed and do not fail.
//
//   node scripts/asyncapi-validate.js [contract/asyncapi.yaml]
//
// NODE_PATH or the .tools/node_modules next to this script's repository
// must hold @asyncapi/parser. The document's relative $refs (the schema
// files) are resolved from its own path.
'use strict';

const fs = require('fs');
const path = require('path');

function load() {
  try {
    return require('@asyncapi/parser');
  } catch (_) {
    return require(path.join(__dirname, '..', '.tools', 'node_modules', '@asyncapi', 'parser'));
  }
}

async function main() {
  const file = path.resolve(process.argv[2] || path.join(__dirname, '..', 'contract', 'asyncapi.yaml'));
  const { Parser, DiagnosticSeverity } = load();
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(file, 'utf8'), { source: file });
  const names = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning',
    [DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };
  let errors = 0;
  for (const d of diagnostics) {
    if (d.severity === DiagnosticSeverity.Error) errors++;
    const where = (d.path || []).join('.');
    const line = d.range ? d.range.start.line + 1 : 0;
    console.log(`${names[d.severity] || d.severity}: ${d.code}: ${d.message} (${where || '-'}, line ${line})`);
  }
  if (errors > 0 || !document) {
    console.error(`${path.relative(process.cwd(), file)}: ${errors} error(s)`);
    process.exit(1);
  }
  console.log(`${path.relative(process.cwd(), file)}: AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${document.messages().length} messages, no errors`);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});

'use strict';
// Grants check: @sap/xssec configured with the OWNER app's credentials must
// accept the token of a consumer app that accepted a granted authority (and
// see the scope with checkLocalScope), and reject, with WrongAudienceError,
// the token of an app that was granted the scope but did not accept it.
//
// Usage: node grants.js cfg.json
//   cfg.json = {"owner": {...owner binding credentials...}, "scope": "JOBSCHEDULER",
//               "accepting": "<consumer token>", "nonAccepting": "<token>"}
// Prints "ok <name>" / "FAIL <name>: <error>" and "N passed, M failed".

const fs = require('fs');
const { XsuaaService, createSecurityContext, errors } = require('@sap/xssec');
const { run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const owner = new XsuaaService(cfg.owner);

const checks = {
  async acceptingConsumerAccepted() {
    const ctx = await createSecurityContext(owner, { jwt: cfg.accepting });
    if (!ctx.checkLocalScope(cfg.scope)) throw new Error(`checkLocalScope('${cfg.scope}') is false`);
    if (ctx.checkLocalScope('Unknown')) throw new Error("checkLocalScope('Unknown') is true");
  },
  async nonAcceptingConsumerRejected() {
    try {
      await createSecurityContext(owner, { jwt: cfg.nonAccepting });
    } catch (e) {
      if (e instanceof errors.WrongAudienceError) return;
      throw new Error(`rejected with ${e.constructor.name} (${e.message}), want WrongAudienceError`);
    }
    throw new Error('accepted the token of an app that did not accept the grant');
  },
};

run(checks);

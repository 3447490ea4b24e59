'use strict';
// Several replicas: SAP's @sap/xssec (4.x) validates a token issued by each
// replica of a set that shares one PostgreSQL database behind a load
// balancer. The credentials' url is the load balancer's; xssec fetches the
// key set from the token's jku through it, so whichever replica answers,
// it must publish the key that signed each token.
//
// Usage: node replicas.js cfg.json
//   cfg.json = {"credentials": {...binding credentials...},
//               "tokens": ["<token from replica 0>", "<from replica 1>", ...]}

const fs = require('fs');
const { XsuaaService, createSecurityContext } = require('@sap/xssec');
const { assert, assertEqual, run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const creds = cfg.credentials;
const service = new XsuaaService(creds);

const checks = {};
cfg.tokens.forEach((jwt, i) => {
  checks[`tokenFromReplica${i}`] = async () => {
    const ctx = await createSecurityContext(service, { jwt });
    assertEqual(ctx.getClientId(), creds.clientid, 'getClientId()');
    assertEqual(ctx.getZoneId(), creds.identityzoneid, 'getZoneId()');
    assertEqual(ctx.checkLocalScope('Read'), true, "checkLocalScope('Read')");
    assert(ctx.token.payload.iss.startsWith(creds.url), `iss ${ctx.token.payload.iss} is not on ${creds.url}`);
  };
});
// Fetched through the load balancer by xssec itself, validated alike.
checks.fetchedThroughLoadBalancer = async () => {
  const res = await service.fetchClientCredentialsToken();
  const ctx = await createSecurityContext(service, { jwt: res.access_token });
  assertEqual(ctx.checkLocalScope('Read'), true, "checkLocalScope('Read')");
};

run(checks);

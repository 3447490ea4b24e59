'use strict';
// A SaaS application with SAP's @sap/xssec 4: the binding of a
// tenant-mode shared instance (the provider zone's credentials) fetches
// tokens for two subscribed tenants, with {tenant} (the tenant host
// https://<subdomain>.<uaadomain>) and with {zid} (X-Zid on the bare
// uaadomain); each names its tenant (zid, iss, ext_attr.zdn) and validates
// with createSecurityContext (keys from the bare uaadomain with ?zid=).
// The same client in a zone that is not subscribed gets no token.
//
// Usage: node saas.js cfg.json
//   cfg.json = {"credentials": {...}, "tenants": [{"id", "subdomain"}, ...],
//               "unsubscribed": {"id", "subdomain"}}
// @sap/xssec comes from NODE_PATH, the server's CA from NODE_EXTRA_CA_CERTS.

require('../localhost-resolver');
const fs = require('fs');
const xssec = require('@sap/xssec');
const { assert, assertEqual, run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const creds = cfg.credentials;

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

async function tokenNamesTenant(tenant, options) {
  const res = await new xssec.XsuaaService(creds).fetchClientCredentialsToken(options);
  const c = claimsOf(res.access_token);
  assertEqual(c.zid, tenant.id, 'zid');
  assertEqual(c.ext_attr.zdn, tenant.subdomain, 'ext_attr.zdn');
  assertEqual(c.iss, `https://${tenant.subdomain}.${creds.uaadomain}/oauth/token`, 'iss');
  assertEqual(c.client_id, creds.clientid, 'client_id');
  const ctx = await xssec.createSecurityContext(new xssec.XsuaaService(creds), { jwt: res.access_token });
  assertEqual(ctx.getZoneId(), tenant.id, 'getZoneId()');
  assertEqual(ctx.getSubdomain(), tenant.subdomain, 'getSubdomain()');
  assert(ctx.checkLocalScope('Read'), 'the tenant token lacks the Read authority');
}

const checks = {
  async sharedCredentials() {
    assertEqual(creds.tenantmode, 'shared', 'tenantmode');
    assert(creds.identityzone !== 'localhost', `identityzone ${creds.identityzone}`);
  },
};
for (const tenant of cfg.tenants) {
  checks[`${tenant.subdomain}WithTenant`] = () => tokenNamesTenant(tenant, { tenant: tenant.subdomain });
  checks[`${tenant.subdomain}WithZid`] = () => tokenNamesTenant(tenant, { zid: tenant.id });
}
checks.unsubscribedZoneRefused = async () => {
  for (const options of [{ tenant: cfg.unsubscribed.subdomain }, { zid: cfg.unsubscribed.id }]) {
    let refused;
    try {
      await new xssec.XsuaaService(creds).fetchClientCredentialsToken(options);
    } catch (e) {
      refused = e;
    }
    assert(refused, `a token for the unsubscribed zone with ${JSON.stringify(options)}`);
    assert(/401/.test(refused.message), `refused for another reason: ${refused.message}`);
  }
};
run(checks);

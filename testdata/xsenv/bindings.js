'use strict';
// Local bindings check: SAP's @sap/xsenv must find the binding that
// `xsuaa bind-service` wrote, unchanged, and @sap/xssec must fetch a token
// with it and accept that token.
//
// Usage: node bindings.js vcap <default-env.json> <service name> <clientid>
//        node bindings.js dir  <binding root>      <service name> <clientid>
//
// vcap: the file is loaded with xsenv.loadEnv() (as apps do for local runs);
// dir: SERVICE_BINDING_ROOT points at the directory (servicebinding.io, as
// the SAP BTP service operator mounts it).
// @sap/xsenv and @sap/xssec come from NODE_PATH, the server's CA from
// NODE_EXTRA_CA_CERTS. Prints "ok <check>" or "FAIL <check>: <error>", then
// "N passed, M failed"; exits 1 on any failure.

const xsenv = require('@sap/xsenv');
const xssec = require('@sap/xssec');
const { assert, run } = require('../checks');

const [mode, path, name, clientid] = process.argv.slice(2);
delete process.env.VCAP_SERVICES;
delete process.env.SERVICE_BINDING_ROOT;
if (mode === 'vcap') {
  xsenv.loadEnv(path);
} else if (mode === 'dir') {
  process.env.SERVICE_BINDING_ROOT = path;
} else {
  console.error('mode must be vcap or dir');
  process.exit(2);
}

let creds, token;

const checks = {
  async findByTag() {
    creds = xsenv.getServices({ uaa: { tag: 'xsuaa' } }).uaa;
    assert(creds, 'getServices({uaa:{tag:"xsuaa"}}) found nothing');
    assert(creds.clientid === clientid, `clientid ${creds.clientid}, want ${clientid}`);
    assert(creds.url && creds.uaadomain && creds.xsappname, 'url, uaadomain and xsappname are required');
  },
  async findByLabel() {
    const c = xsenv.getServices({ uaa: { label: 'xsuaa' } }).uaa;
    assert(c && c.clientid === clientid, 'getServices({uaa:{label:"xsuaa"}}) did not find the binding');
  },
  async findByName() {
    const c = xsenv.getServices({ uaa: { name } }).uaa;
    assert(c && c.clientid === clientid, `getServices({uaa:{name:${JSON.stringify(name)}}}) did not find the binding`);
  },
  async serviceCredentials() {
    const c = xsenv.serviceCredentials({ tag: 'xsuaa' });
    assert(c && c.clientid === clientid, 'serviceCredentials({tag:"xsuaa"}) did not find the binding');
  },
  async fetchToken() {
    assert(creds, 'no credentials');
    const res = await new xssec.XsuaaService(creds).fetchClientCredentialsToken();
    assert(res && typeof res.access_token === 'string', `no access_token in ${JSON.stringify(res)}`);
    token = res.access_token;
  },
  async validateToken() {
    assert(token, 'no token');
    const service = new xssec.XsuaaService(creds);
    const ctx = await xssec.createSecurityContext(service, { jwt: token });
    assert(ctx.getClientId() === clientid, `getClientId() ${ctx.getClientId()}, want ${clientid}`);
    assert(ctx.checkLocalScope('Read'), 'checkLocalScope("Read") is false');
  },
};

run(checks);

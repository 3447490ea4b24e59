'use strict';
// Conformance check: SAP's own @sap/xssec (4.x) must accept, unmodified,
// the tokens our server issues.
//
// Usage: node conformance.js cfg.json
//   cfg.json = {"credentials": {...binding credentials...},
//               "otherCredentials": {...credentials of an unrelated instance...}}
//
// @sap/xssec and @sap/xsenv are installed with npm at test time and found
// through NODE_PATH; the server's CA comes from NODE_EXTRA_CA_CERTS.
// Prints "ok <name>" or "FAIL <name>: <error>" per check, then
// "N passed, M failed"; exits 1 on any failure.

const fs = require('fs');
const https = require('https');
const xssec = require('@sap/xssec');
const { assert, assertEqual, run } = require('../checks');
require('@sap/xsenv'); // must be resolvable too: apps load it to read their binding

const { XsuaaService, createSecurityContext, errors } = xssec;

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const creds = cfg.credentials;
const otherCreds = cfg.otherCredentials;

const service = new XsuaaService(creds);
const otherService = new XsuaaService(otherCreds);

// Filled in by the first check; later checks depend on it.
let token;

// expectReject runs fn and asserts it throws an instance of errorClass.
async function expectReject(fn, errorClass) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    assert(e instanceof errorClass, `want ${errorClass.name}, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
    return;
  }
  throw new Error(`want ${errorClass.name}, but it was accepted (${result && result.constructor && result.constructor.name})`);
}

function b64urlDecode(s) {
  return Buffer.from(s, 'base64url').toString('utf8');
}

function b64urlEncode(s) {
  return Buffer.from(s, 'utf8').toString('base64url');
}

// basicAuthToken fetches a client_credentials token with client_secret_basic.
function basicAuthToken(c) {
  const body = 'grant_type=client_credentials';
  const url = new URL(c.url.replace(/\/+$/, '') + '/oauth/token');
  const auth = Buffer.from(`${c.clientid}:${c.clientsecret}`, 'utf8').toString('base64');
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'POST',
      headers: {
        'Authorization': 'Basic ' + auth,
        'Content-Type': 'application/x-www-form-urlencoded',
        'Accept': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      },
      timeout: 10000,
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          return reject(new Error(`POST ${url}: HTTP ${res.statusCode}: ${data}`));
        }
        try {
          const j = JSON.parse(data);
          if (!j.access_token) return reject(new Error(`no access_token in ${data}`));
          resolve(j.access_token);
        } catch (e) {
          reject(new Error(`POST ${url}: response is not JSON: ${data}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---- checks -------------------------------------------------------------

async function fetchClientCredentialsToken() {
  const res = await service.fetchClientCredentialsToken();
  assert(res && typeof res.access_token === 'string' && res.access_token.split('.').length === 3,
    `no JWT access_token in ${JSON.stringify(res)}`);
  token = res.access_token;
}

async function securityContext() {
  assert(token, 'no token (fetch failed)');
  const ctx = await createSecurityContext(service, { jwt: token });
  assertEqual(ctx.constructor.name, 'XsuaaSecurityContext', 'context class');
  assertEqual(ctx.checkLocalScope('Read'), true, "checkLocalScope('Read')");
  assertEqual(ctx.checkLocalScope('Nope'), false, "checkLocalScope('Nope')");
  assertEqual(ctx.getClientId(), creds.clientid, 'getClientId()');
  assertEqual(ctx.getZoneId(), creds.identityzoneid, 'getZoneId()');
  // ext_attr.subaccountid, falling back to zid; the binding's subaccountid if it has one.
  assertEqual(ctx.getSubaccountId(), creds.subaccountid || creds.identityzoneid, 'getSubaccountId()');
  assertEqual(ctx.getGrantType(), 'client_credentials', 'getGrantType()');
  const exp = ctx.getExpirationDate();
  assert(exp instanceof Date && exp.getTime() > Date.now(), `getExpirationDate() ${exp} is not in the future`);
}

async function tamperedPayloadRejected() {
  assert(token, 'no token (fetch failed)');
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(b64urlDecode(p));
  // Grant ourselves one more scope; audience and exp stay valid, so only the
  // signature check can catch it.
  claims.scope = [...(claims.scope || []), `${creds.xsappname}.Admin`];
  const forged = [h, b64urlEncode(JSON.stringify(claims)), s].join('.');
  await expectReject(() => createSecurityContext(service, { jwt: forged }), errors.InvalidTokenSignatureError);
}

async function flippedPayloadCharRejected() {
  assert(token, 'no token (fetch failed)');
  const [h, p, s] = token.split('.');
  // Flip one character inside the JSON of the payload (a digit of exp), so it
  // still parses, then re-encode.
  const json = b64urlDecode(p);
  const m = /"exp":\s*(\d+)/.exec(json);
  assert(m, `no exp in payload ${json}`);
  const digits = m[1];
  const last = digits[digits.length - 2]; // a tens digit: keeps the token unexpired
  const flipped = digits.slice(0, -2) + (last === '9' ? '8' : String(Number(last) + 1)) + digits.slice(-1);
  const forged = [h, b64urlEncode(json.replace(m[0], `"exp":${flipped}`)), s].join('.');
  await expectReject(() => createSecurityContext(service, { jwt: forged }), errors.InvalidTokenSignatureError);
}

async function otherInstanceRejects() {
  assert(token, 'no token (fetch failed)');
  await expectReject(() => createSecurityContext(otherService, { jwt: token }), errors.WrongAudienceError);
}

async function otherInstanceTokenRejected() {
  const res = await otherService.fetchClientCredentialsToken();
  await createSecurityContext(otherService, { jwt: res.access_token }); // valid for its own instance
  await expectReject(() => createSecurityContext(service, { jwt: res.access_token }), errors.WrongAudienceError);
}

async function basicAuthTokenValidates() {
  const jwt = await basicAuthToken(creds);
  const ctx = await createSecurityContext(service, { jwt });
  assertEqual(ctx.getClientId(), creds.clientid, 'getClientId()');
  assertEqual(ctx.checkLocalScope('Read'), true, "checkLocalScope('Read')");
}

async function v3CompatibilityApi() {
  assert(token, 'no token (fetch failed)');
  if (!xssec.v3 || typeof xssec.v3.createSecurityContext !== 'function') {
    console.log('skip v3 compatibility API: not present in this @sap/xssec');
    return;
  }
  const ctx = await new Promise((resolve, reject) => {
    xssec.v3.createSecurityContext(token, { ...creds }, (err, securityContext) => {
      if (err) reject(err); else resolve(securityContext);
    });
  });
  assert(ctx, 'v3 callback gave no security context');
  assertEqual(ctx.getClientId(), creds.clientid, 'v3 getClientId()');
  assertEqual(ctx.checkLocalScope('Read'), true, "v3 checkLocalScope('Read')");
}

const checks = [
  fetchClientCredentialsToken,
  securityContext,
  tamperedPayloadRejected,
  flippedPayloadCharRejected,
  otherInstanceRejects,
  otherInstanceTokenRejected,
  basicAuthTokenValidates,
  v3CompatibilityApi,
];

run(checks);

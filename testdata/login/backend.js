'use strict';
// The backend behind approuter's "backend" destination in the login tests.
// It validates the forwarded user token with SAP's @sap/xssec 4 and answers,
// on any path, JSON of what xssec reads from it (the names are the getters).
//
// Usage: CREDENTIALS='<xsuaa binding credentials JSON>' PORT=5056 node backend.js
//   HOST defaults to 127.0.0.1 (loopback only).
//   @sap/xssec comes from NODE_PATH (a throwaway npm prefix, not vendored).
//   xssec fetches the key set from https://<uaadomain>/token_keys?zid=<zid>,
//   so the credentials' uaadomain must be the server's TLS listener
//   (e.g. "localhost:8443") and NODE_EXTRA_CA_CERTS its CA.
// Answers: 200 JSON on a valid token; 401 {"error": ...} on a missing or
// invalid one (500 on anything else). Prints "listening <port>" once ready.

const http = require('http');
const { XsuaaService, createSecurityContext, errors } = require('@sap/xssec');

const credentials = JSON.parse(process.env.CREDENTIALS || '');
const service = new XsuaaService(credentials);

function view(ctx, req) {
  return {
    path: req.url,
    getLogonName: ctx.getLogonName(),
    getEmail: ctx.getEmail(),
    getUserName: ctx.getUserName(),
    getOrigin: ctx.getOrigin(),
    getGivenName: ctx.getGivenName(),
    getFamilyName: ctx.getFamilyName(),
    getZoneId: ctx.getZoneId(),
    getSubdomain: ctx.getSubdomain(),
    checkLocalScope_Display: ctx.checkLocalScope('Display'),
    checkLocalScope_Edit: ctx.checkLocalScope('Edit'),
    getAttribute_Country: ctx.getAttribute('Country'),
    xsSystemAttributes: ctx.token.xsSystemAttributes,
    getGrantType: ctx.getGrantType(),
    getClientId: ctx.getClientId(),
    userId: ctx.token.userId,
    jti: ctx.token.payload.jti,
  };
}

function send(res, code, body) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  if (!req.headers.authorization) return send(res, 401, { error: 'no Authorization header' });
  let ctx;
  try {
    ctx = await createSecurityContext(service, { req });
  } catch (e) {
    const code = e instanceof errors.ValidationError ? 401 : 500;
    console.error(`${req.method} ${req.url} -> ${code}: ${e.constructor.name}: ${e.message}`);
    return send(res, code, { error: `${e.constructor.name}: ${e.message}` });
  }
  try {
    send(res, 200, view(ctx, req));
  } catch (e) {
    send(res, 500, { error: String(e && e.message) });
  }
});

const port = Number(process.env.PORT || 5056);
server.listen(port, process.env.HOST || '127.0.0.1', () => console.log(`listening ${server.address().port}`));

// Loaded by `cds-serve` before it starts (a project-local server.js).
// cds listens on all interfaces by default (app.listen(PORT)); the tests may
// use loopback only, so bind to HOST (default 127.0.0.1) instead.
// Exporting nothing keeps cds' own bootstrap (cds.server).
const cds = require('@sap/cds');

cds.on('bootstrap', (app) => {
  const listen = app.listen;
  app.listen = function (port, ...rest) {
    return listen.call(this, port, process.env.HOST || '127.0.0.1', ...rest);
  };
});

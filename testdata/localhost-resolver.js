'use strict';
// A preload (node -r ./localhost-resolver.js, or require it first) that
// resolves every *.localhost name to 127.0.0.1, as curl, browsers and
// systemd-resolved do and Node's resolver does not. The tests use it
// instead of /etc/hosts lines (which `xsuaa hosts` prints) to reach tenant
// hosts such as https://tenant-two.localhost:8443.
const dns = require('dns');

const lookup = dns.lookup;
dns.lookup = function localhostLookup(hostname, options, callback) {
  if (typeof options === 'function') {
    callback = options;
    options = {};
  }
  if (typeof options === 'number') options = { family: options };
  if (typeof hostname === 'string' && /(^|\.)localhost\.?$/i.test(hostname)) {
    if (options && options.all) {
      return process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }]);
    }
    return process.nextTick(callback, null, '127.0.0.1', 4);
  }
  return lookup.call(this, hostname, options, callback);
};

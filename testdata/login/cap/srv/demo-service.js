// Handlers for srv/demo-service.cds (CAP picks this file up by its name).
const cds = require('@sap/cds');

module.exports = class DemoService extends cds.ApplicationService {
  init() {
    this.on('whoami', (req) => {
      const u = req.user;
      return {
        id: u.id,
        tenant: req.tenant ?? null,
        viewer: u.is('Viewer'),
        admin: u.is('Admin'),
        roles: Object.keys(u.roles || {}).sort(),
      };
    });
    this.on('adminOnly', (req) => `admin:${req.user.id}`);
    return super.init();
  }
};

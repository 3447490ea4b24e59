// Two unbound functions, no entities and so no database.
// CAP turns each token scope "<xsappname>.<name>" into the role <name>
// (xsappname taken from the xsuaa binding), so the token needs the scope
// "demo!t1.Viewer" for whoami and "demo!t1.Admin" for adminOnly.
// OData V4 paths: GET /odata/v4/demo/whoami()  and  GET /odata/v4/demo/adminOnly()
@path: 'demo'
service DemoService {
  type WhoAmI {
    id      : String;  // cds.context.user.id = the token's user_name
    tenant  : String;  // cds.context.tenant  = the token's zid
    viewer  : Boolean; // user.is('Viewer')
    admin   : Boolean; // user.is('Admin')
    roles   : array of String; // all roles CAP derived from the token scopes
  }

  @requires: 'Viewer'
  function whoami() returns WhoAmI;

  @requires: 'Admin'
  function adminOnly() returns String;
}

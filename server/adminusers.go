package server

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/openxsuaa/xsuaa/clients/registry"
)

// The admin API's users and role collections, in the provider zone or,
// with ?zone=<subdomain>, in another (the
// CLI's create-user, users, delete-user, set-password, role-collections,
// create-role-collection, delete-role-collection, assign-role-collection
// and unassign-role-collection). A user is named by its user name and,
// with ?origin=, its origin (default sap.default).
//
//	GET    /admin/users
//	POST   /admin/users                          {name, password, email, given_name, family_name, origin, attributes}
//	DELETE /admin/users/{name}
//	PUT    /admin/users/{name}/password          {password}
//	GET    /admin/role-collections
//	POST   /admin/role-collections               {name, description, roles: ["<app>.<template>"]}
//	DELETE /admin/role-collections/{name}
//	PUT    /admin/role-collections/{name}/users/{user}
//	DELETE /admin/role-collections/{name}/users/{user}

// adminZone returns the id of the zone that ?zone= names (without it the
// provider zone), or writes a 404 naming the subdomain.
func (s *Server) adminZone(w http.ResponseWriter, r *http.Request) (string, bool) {
	sub := r.URL.Query().Get("zone")
	if sub == "" {
		return s.index.ProviderZone().ID, true
	}
	if err := s.index.Sync(r.Context()); err != nil {
		s.writeOpError(w, r, err, false)
		return "", false
	}
	z, known := s.index.ZoneBySubdomain(sub)
	if !known {
		s.writeOpError(w, r, &registry.OpError{Kind: registry.ErrNotFound, Msg: fmt.Sprintf("no zone has the subdomain %q", clip(sub))}, false)
		return "", false
	}
	return z.ID, true
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	users, err := s.registry.ListUsers(r.Context(), zone)
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	var spec registry.UserSpec
	if !decodeBody(w, r, &spec) {
		return
	}
	spec.ZoneID = zone
	u, err := s.registry.CreateUser(r.Context(), spec)
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventUserCreated, "user_id", u.ID, "user_name", u.Name, "origin", u.Origin, "zone", zone, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusCreated, u)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	if err := s.registry.DeleteUser(r.Context(), zone, r.URL.Query().Get("origin"), mux.Vars(r)["name"]); err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventUserDeleted, "user_name", mux.Vars(r)["name"], "origin", r.URL.Query().Get("origin"), "zone", zone, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusOK, map[string]string{})
}

func (s *Server) handleSetPassword(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	var body struct {
		Password string `json:"password"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if err := s.registry.SetPassword(r.Context(), zone, r.URL.Query().Get("origin"), mux.Vars(r)["name"], body.Password); err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventUserPasswordSet, "user_name", mux.Vars(r)["name"], "origin", r.URL.Query().Get("origin"), "zone", zone, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusOK, map[string]string{})
}

func (s *Server) handleListRoleCollections(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	list, err := s.registry.ListRoleCollections(r.Context(), zone)
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	type collection struct {
		Name        string   `json:"name"`
		Description string   `json:"description,omitempty"`
		Roles       []string `json:"roles"`
		// Instance is the instance whose descriptor defines it.
		Instance string `json:"instance,omitempty"`
	}
	out := make([]collection, 0, len(list))
	for _, rc := range list {
		out = append(out, collection{Name: rc.Name, Description: rc.Description, Roles: rc.Roles, Instance: rc.Owner})
	}
	writeJSON(w, http.StatusOK, map[string]any{"role_collections": out})
}

func (s *Server) handleCreateRoleCollection(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	var spec registry.RoleCollectionSpec
	if !decodeBody(w, r, &spec) {
		return
	}
	spec.ZoneID = zone
	rc, err := s.registry.CreateRoleCollection(r.Context(), spec)
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventRoleCollectionCreated, "role_collection", rc.Name, "roles", rc.Roles, "zone", zone, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusCreated, map[string]any{"name": rc.Name, "description": rc.Description, "roles": rc.Roles})
}

func (s *Server) handleDeleteRoleCollection(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	if err := s.registry.DeleteRoleCollection(r.Context(), zone, mux.Vars(r)["name"]); err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventRoleCollectionDeleted, "role_collection", mux.Vars(r)["name"], "zone", zone, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusOK, map[string]string{})
}

func (s *Server) handleAssignRoleCollection(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.adminZone(w, r)
	if !ok {
		return
	}
	v := mux.Vars(r)
	var err error
	event := EventRoleCollectionAssign
	if r.Method == http.MethodPut {
		err = s.registry.AssignRoleCollection(r.Context(), zone, v["name"], r.URL.Query().Get("origin"), v["user"])
	} else {
		event = EventRoleCollectionRemoved
		err = s.registry.UnassignRoleCollection(r.Context(), zone, v["name"], r.URL.Query().Get("origin"), v["user"])
	}
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, event, "role_collection", v["name"], "user_name", v["user"], "origin", r.URL.Query().Get("origin"), "zone", zone, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusOK, map[string]string{})
}

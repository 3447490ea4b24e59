package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

// The admin API's zones (the CLI's zones, create-zone and delete-zone).
//
//	GET    /admin/zones
//	POST   /admin/zones                 {subdomain, id}  (id: a GUID; default a new one)
//	DELETE /admin/zones/{subdomain}     ?force=true also deletes the zone's instances and users

func (s *Server) handleListZones(w http.ResponseWriter, r *http.Request) {
	zones, err := s.registry.ListZones(r.Context())
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"zones": zones})
}

func (s *Server) handleCreateZone(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Subdomain string `json:"subdomain"`
		ID        string `json:"id"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	z, err := s.registry.CreateZone(r.Context(), body.Subdomain, body.ID)
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventZoneCreated, "zone", z.ID, "subdomain", z.Subdomain, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusCreated, z)
}

func (s *Server) handleDeleteZone(w http.ResponseWriter, r *http.Request) {
	sub := mux.Vars(r)["subdomain"]
	force := r.URL.Query().Get("force") == "true"
	if err := s.registry.DeleteZone(r.Context(), sub, force); err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventZoneDeleted, "subdomain", sub, "forced", force, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusOK, map[string]string{})
}

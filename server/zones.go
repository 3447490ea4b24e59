package server

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// requestZone resolves the identity zone a request addresses, as XSUAA
// does: the X-Zid header (which SAP's libraries send to the bare domain),
// or the subdomain of the Host under the server's public host
// (<subdomain>.<host>), else the provider zone. It returns why not when
// the request names no zone of this server, or when the header and the
// host name two different zones (conflict).
func (s *Server) requestZone(r *http.Request) (z storage.Zone, problem string, conflict bool) {
	var byHost *storage.Zone
	if sub, ok := s.tenantSubdomain(r.Host); ok {
		hz, known := s.index.ZoneBySubdomain(sub)
		if !known {
			return z, "unknown identity zone for the host's subdomain " + clip(sub), false
		}
		byHost = &hz
	}
	if zid := r.Header.Get("X-Zid"); zid != "" {
		if why := badText(zid); why != "" {
			return z, "the X-Zid header " + why, false
		}
		hz, known := s.index.Zone(zid)
		switch {
		case !known:
			return z, "unknown identity zone " + clip(zid), false
		case byHost != nil && byHost.ID != hz.ID:
			return z, "the X-Zid header names identity zone " + clip(zid) + ", the host another; send one of them", true
		}
		return hz, "", false
	}
	if byHost != nil {
		return *byHost, "", false
	}
	return s.index.ProviderZone(), "", false
}

// tenantSubdomain returns the subdomain of host under the server's
// public host name, if host is <subdomain>.<public host>[:port].
func (s *Server) tenantSubdomain(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	sub, ok := strings.CutSuffix(host, "."+s.publicHost)
	if !ok || sub == "" || strings.Contains(sub, ".") {
		return "", false
	}
	return sub, true
}

// schemeOf returns a URL's scheme with "://".
func schemeOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "https://"
	}
	return p.Scheme + "://"
}

// hostPortOf returns a URL's host and port as given.
func hostPortOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// hostOf returns the lower-case host name of a URL.
func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.ToLower(p.Hostname())
}

// zoneURL returns the base URL of a zone, from which its tokens' "iss"
// and "jku" and its discovery document are made: the server's URL for
// the provider zone, <scheme>://<subdomain>.<host>[:port] for any other,
// as XSUAA names a subaccount's zone by its subdomain. It depends only
// on the zone, never on the Host a request was sent to.
func (s *Server) zoneURL(z storage.Zone) string {
	if z.ID == "" || z.ID == s.index.ProviderZone().ID {
		return s.url
	}
	return s.scheme + z.Subdomain + "." + s.hostPort
}

// zoneIssuer is the "iss" of the tokens issued in a zone.
func (s *Server) zoneIssuer(z storage.Zone) string { return s.zoneURL(z) + "/oauth/token" }

// zoneJKU is the "jku" of the tokens issued in a zone.
func (s *Server) zoneJKU(z storage.Zone) string { return s.zoneURL(z) + "/token_keys" }

// syncedPageZone brings the index up to date for a login page or
// /oauth/authorize (a 503 page when the database cannot be reached) and
// resolves the zone the request addresses (pageZone).
func (s *Server) syncedPageZone(w http.ResponseWriter, r *http.Request) (storage.Zone, bool) {
	if !s.synced(w, r, func(w http.ResponseWriter) {
		s.writePage(w, http.StatusServiceUnavailable, pageError("Try again later", "The server cannot reach its database."))
	}) {
		return storage.Zone{}, false
	}
	return s.pageZone(w, r)
}

// pageZone resolves the zone of a request for a login page or
// /oauth/authorize (requestZone): an unknown zone is a 404 page, X-Zid
// and a host naming two zones a 400 page.
func (s *Server) pageZone(w http.ResponseWriter, r *http.Request) (storage.Zone, bool) {
	z, problem, conflict := s.requestZone(r)
	if problem == "" {
		return z, true
	}
	status, title := http.StatusNotFound, "Unknown identity zone"
	if conflict {
		status, title = http.StatusBadRequest, "The request is invalid"
	}
	s.writePage(w, status, pageError(title, strings.ToUpper(problem[:1])+problem[1:]+"."))
	return z, false
}

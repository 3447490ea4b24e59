package server

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
)

// page is what the login pages show: a message, a login form, or both.
type page struct {
	Title, Zone      string
	Message, Note    string
	Error            string
	Form             bool
	CSRF             string
	Continue, Origin string
	UserName         string
	Logout           bool
}

// pageError is a page that explains why a request cannot go on.
func pageError(title, message string) page {
	return page{Title: title, Message: message}
}

// pageTemplate renders every login page. It loads nothing from elsewhere
// (the Content-Security-Policy allows no sources), and declares an empty
// favicon, so that a browser's favicon request never reaches an
// application behind the same host.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f5f6f7;margin:0}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .2rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem}
.error{color:#b00;background:#fee;padding:.6rem;border-radius:4px}
.zone,.note{color:#555;font-size:.9rem}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Zone}}<p class="zone">Identity zone: {{.Zone}}</p>{{end}}
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
{{if .Note}}<p class="note" id="note">{{.Note}}</p>{{end}}
{{if .Form}}<form method="post" action="/login.do" autocomplete="on">
<input type="hidden" name="X-Uaa-Csrf" value="{{.CSRF}}">
{{if .Continue}}<input type="hidden" name="continue" value="{{.Continue}}">{{end}}
<input type="hidden" name="origin" value="{{.Origin}}">
<label for="username">User name</label>
<input type="text" id="username" name="username" value="{{.UserName}}" autocomplete="username" autofocus required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>{{end}}
{{if .Logout}}<p><a href="/logout.do">Log out</a></p>{{end}}
</main>
</body>
</html>
`))

// writePage writes a login page with headers that keep it out of caches
// and frames.
func (s *Server) writePage(w http.ResponseWriter, status int, p page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		s.log.Error("rendering a page failed", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin: the authorize URL (state, challenge) does not leak to
	// other sites, and the login form's POST carries a real Origin
	// (with no-referrer Chromium sends "Origin: null").
	h.Set("Referrer-Policy", "same-origin")
	// No form-action: after /login.do the browser follows redirects to
	// the application, which Chromium would hold to it.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// singleTextValues checks that every parameter of a page request (what:
// "parameter" or "field") comes once and is printable text; else it
// writes a 400 page naming the first that is not.
func (s *Server) singleTextValues(w http.ResponseWriter, values url.Values, what string) bool {
	for k, v := range values {
		problem := "is included more than once"
		if len(v) == 1 {
			if problem = badText(v[0]); problem == "" {
				continue
			}
		}
		s.writePage(w, http.StatusBadRequest, pageError("The request is invalid", "The "+what+" "+strconv.Quote(clip(k))+" "+problem+"."))
		return false
	}
	return true
}

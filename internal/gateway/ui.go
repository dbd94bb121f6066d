package gateway

import (
	"embed"
	"io/fs"
	"net/http"
)

// The Control UI. It is served from the gateway's own origin and only ever
// connects back to that origin; it takes its token from the URL fragment
// (#token=…), which browsers never send to a server, and removes it from the
// address bar at once.
//
//go:embed ui
var uiFS embed.FS

func (g *Gateway) uiAssets() http.Handler {
	sub, _ := fs.Sub(uiFS, "ui")
	fsrv := http.StripPrefix("/ui/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.config().cfg.Gateway.ControlUI.Enabled {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}

func (g *Gateway) serveUIIndex(w http.ResponseWriter, r *http.Request) {
	b, err := uiFS.ReadFile("ui/index.html")
	if err != nil {
		http.Error(w, "control ui missing from this build", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

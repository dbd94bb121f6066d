package hub

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/skills"
)

// MaxBundleBytes caps an uploaded bundle.
const MaxBundleBytes = 16 << 20

// Server serves the registry over HTTP.
type Server struct {
	Store *Store
	// PublicURL, if set, is the base URL the hub names in
	// countersignatures and /.well-known/clawhub.json; otherwise it is
	// taken from each request's Host.
	PublicURL string
	Logger    *slog.Logger
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// Talon's API.
	mux.HandleFunc("POST /api/talon/v1/publish", s.publish)
	mux.HandleFunc("POST /api/talon/v1/yank", s.yank)
	mux.HandleFunc("GET /api/talon/v1/log", s.log)
	mux.HandleFunc("GET /api/talon/v1/key", s.key)
	mux.HandleFunc("GET /api/talon/v1/bundle", s.bundle)
	mux.HandleFunc("GET /api/talon/v1/skills/{name}", s.skillInfo)
	// ClawHub's API, as much as its CLI's search and install use.
	mux.HandleFunc("GET /.well-known/clawhub.json", s.wellKnown)
	mux.HandleFunc("GET /.well-known/clawdhub.json", s.wellKnown)
	mux.HandleFunc("GET /api/v1/search", s.chSearch)
	mux.HandleFunc("GET /api/v1/skills", s.chList)
	mux.HandleFunc("GET /api/v1/skills/{slug}", s.chSkill)
	mux.HandleFunc("GET /api/v1/skills/{slug}/versions/{version}", s.chVersion)
	mux.HandleFunc("GET /api/v1/download", s.chDownload)
	mux.HandleFunc("GET /api/v1/resolve", s.chResolve)
	mux.HandleFunc("GET /api/v1/whoami", s.chWhoami)
	mux.HandleFunc("POST /api/v1/skills/-/upload-url", s.chUploadURL)
	mux.HandleFunc("POST /api/v1/uploads/{id}", s.chUpload)
	mux.HandleFunc("POST /api/v1/skills", s.chPublish)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not found")
	})
	return http.MaxBytesHandler(mux, MaxBundleBytes+1<<10)
}

// HTTPServer wraps Handler with timeouts.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
}

func (s *Server) base(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg, "message": msg})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func (s *Server) internal(w http.ResponseWriter, err error) {
	if s.Logger != nil {
		s.Logger.Error("hub", "err", err)
	}
	writeErr(w, http.StatusInternalServerError, "internal error")
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	handle := s.Store.Publisher(r.Context(), bearer(r))
	if handle == "" {
		writeErr(w, http.StatusUnauthorized, "a valid publisher token is required (talon hub token create HANDLE)")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBundleBytes+1))
	if err != nil || len(data) > MaxBundleBytes {
		writeErr(w, http.StatusRequestEntityTooLarge, "the bundle is over 16 MiB")
		return
	}
	p, err := s.Store.Publish(r.Context(), handle, data, s.base(r))
	var pe *PublishError
	if errors.As(err, &pe) {
		writeErr(w, pe.Status, pe.Msg)
		return
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	if s.Logger != nil {
		s.Logger.Info("hub: published", "name", p.Name, "version", p.Version, "publisher", handle, "logIndex", p.LogIndex)
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) yank(w http.ResponseWriter, r *http.Request) {
	handle := s.Store.Publisher(r.Context(), bearer(r))
	if handle == "" {
		writeErr(w, http.StatusUnauthorized, "a valid publisher token is required")
		return
	}
	var req struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "want {name, version}")
		return
	}
	err := s.Store.Yank(r.Context(), handle, req.Name, req.Version)
	var pe *PublishError
	if errors.As(err, &pe) {
		writeErr(w, pe.Status, pe.Msg)
		return
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) log(w http.ResponseWriter, r *http.Request) {
	v, err := s.Store.Log(r.Context())
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) key(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"key": s.Store.PublicKey()})
}

func (s *Server) bundle(w http.ResponseWriter, r *http.Request) {
	b, err := s.Store.Bundle(r.Context(), r.URL.Query().Get("name"), r.URL.Query().Get("version"))
	if err != nil {
		s.internal(w, err)
		return
	}
	if b == nil {
		writeErr(w, http.StatusNotFound, "no such skill version")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

func (s *Server) skillInfo(w http.ResponseWriter, r *http.Request) {
	si, ok := s.skill(w, r, r.PathValue("name"), "no such skill")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, si)
}

// skill looks a skill up by name; when it cannot answer with one it has
// written the error (500, or 404 with notFound) and returns false.
func (s *Server) skill(w http.ResponseWriter, r *http.Request, name, notFound string) (*SkillInfo, bool) {
	si, err := s.Store.Skill(r.Context(), name)
	if err != nil {
		s.internal(w, err)
		return nil, false
	}
	if si == nil {
		writeErr(w, http.StatusNotFound, notFound)
		return nil, false
	}
	return si, true
}

// ---- ClawHub API ----

func (s *Server) wellKnown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"apiBase": s.base(r)})
}

func ms(unix int64) int64 { return unix * 1000 }

func (s *Server) chSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 25
	}
	list, err := s.Store.Search(r.Context(), q.Get("q"), limit)
	if err != nil {
		s.internal(w, err)
		return
	}
	results := []map[string]any{}
	for i, si := range list {
		results = append(results, map[string]any{
			"slug": si.Name, "displayName": si.Name, "summary": si.Description, "version": si.Latest,
			"score": 1.0 / float64(i+1), "updatedAt": ms(si.UpdatedAt), "ownerHandle": si.Owner,
			"owner": map[string]any{"handle": si.Owner, "displayName": si.Owner},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

func (s *Server) chItem(si *SkillInfo) map[string]any {
	return map[string]any{"slug": si.Name, "displayName": si.Name, "summary": si.Description, "description": si.Description,
		"tags": map[string]string{"latest": si.Latest}, "stats": map[string]any{}, "createdAt": ms(si.CreatedAt), "updatedAt": ms(si.UpdatedAt)}
}

func (s *Server) chLatest(si *SkillInfo) any {
	for _, v := range si.Versions {
		if v.Version == si.Latest {
			return map[string]any{"version": v.Version, "createdAt": ms(v.CreatedAt), "changelog": ""}
		}
	}
	return nil
}

func (s *Server) chList(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Search(r.Context(), "", 100)
	if err != nil {
		s.internal(w, err)
		return
	}
	prefix := r.URL.Query().Get("prefix")
	items := []map[string]any{}
	for i := range list {
		if strings.HasPrefix(list[i].Name, prefix) {
			it := s.chItem(&list[i])
			if lv := s.chLatest(&list[i]); lv != nil {
				it["latestVersion"] = lv
			}
			items = append(items, it)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "nextCursor": nil})
}

func (s *Server) chSkill(w http.ResponseWriter, r *http.Request) {
	si, ok := s.skill(w, r, r.PathValue("slug"), "Skill not found")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"skill": s.chItem(si), "latestVersion": s.chLatest(si),
		"owner":      map[string]any{"handle": si.Owner, "displayName": si.Owner},
		"moderation": map[string]any{"isSuspicious": false, "isMalwareBlocked": false, "verdict": "clean"},
	})
}

func (s *Server) chVersion(w http.ResponseWriter, r *http.Request) {
	si, err := s.Store.Skill(r.Context(), r.PathValue("slug"))
	if err != nil {
		s.internal(w, err)
		return
	}
	if si != nil {
		for _, v := range si.Versions {
			if v.Version == r.PathValue("version") {
				writeJSON(w, http.StatusOK, map[string]any{
					"version": map[string]any{"version": v.Version, "createdAt": ms(v.CreatedAt), "changelog": ""},
					"skill":   map[string]any{"slug": si.Name, "displayName": si.Name}})
				return
			}
		}
	}
	writeErr(w, http.StatusNotFound, "Version not found")
}

// chDownload serves a version as the zip the clawhub CLI unpacks: the
// skill's files at their paths (the signatures stay in Talon's bundle).
func (s *Server) chDownload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, version := q.Get("slug"), q.Get("version")
	if version == "" || version == "latest" {
		si, ok := s.skill(w, r, name, "Skill not found")
		if !ok {
			return
		}
		if si.Latest == "" {
			writeErr(w, http.StatusNotFound, "Skill not found")
			return
		}
		version = si.Latest
	}
	data, err := s.Store.Bundle(r.Context(), name, version)
	if err != nil {
		s.internal(w, err)
		return
	}
	if data == nil {
		writeErr(w, http.StatusNotFound, "Version not found")
		return
	}
	b, err := skills.DecodeBundle(data, skills.DefaultLimits)
	if err != nil {
		s.internal(w, err)
		return
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range b.Meta.Files {
		h := &zip.FileHeader{Name: f.Path, Method: zip.Deflate, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
		if f.Mode == "0755" {
			h.SetMode(0o755)
		} else {
			h.SetMode(0o644)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			s.internal(w, err)
			return
		}
		fw.Write(b.Files[f.Path])
	}
	zw.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+"-"+version+`.zip"`)
	w.Write(buf.Bytes())
}

func (s *Server) chResolve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	si, ok := s.skill(w, r, q.Get("slug"), "Skill not found")
	if !ok {
		return
	}
	var match any
	if h := q.Get("hash"); h != "" {
		for _, v := range si.Versions {
			if v.Fingerprint == h {
				match = map[string]string{"version": v.Version}
				break
			}
		}
	}
	var latest any
	if si.Latest != "" {
		latest = map[string]string{"version": si.Latest}
	}
	writeJSON(w, http.StatusOK, map[string]any{"match": match, "latestVersion": latest})
}

func (s *Server) chWhoami(w http.ResponseWriter, r *http.Request) {
	handle := s.Store.Publisher(r.Context(), bearer(r))
	if handle == "" {
		writeErr(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": map[string]any{"handle": handle, "displayName": handle, "role": "user"}})
}

// Serve runs srv on ln until ctx ends, then shuts down.
func Serve(ctx context.Context, srv *http.Server, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

// ---- ClawHub publish flow (unsigned publications) ----

func (s *Server) authed(w http.ResponseWriter, r *http.Request) string {
	handle := s.Store.Publisher(r.Context(), bearer(r))
	if handle == "" {
		writeErr(w, http.StatusUnauthorized, "Unauthorized")
	}
	return handle
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	var pe *PublishError
	if errors.As(err, &pe) {
		writeErr(w, pe.Status, pe.Msg)
		return
	}
	s.internal(w, err)
}

func (s *Server) chUploadURL(w http.ResponseWriter, r *http.Request) {
	handle := s.authed(w, r)
	if handle == "" {
		return
	}
	var req struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8192)).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "want {path, size, sha256}")
		return
	}
	id, err := s.Store.UploadTicket(r.Context(), handle, req.Path, req.SHA256, req.Size)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"uploadUrl": s.base(r) + "/api/v1/uploads/" + id, "uploadTicket": id})
}

func (s *Server) chUpload(w http.ResponseWriter, r *http.Request) {
	handle := s.authed(w, r)
	if handle == "" {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, skills.DefaultLimits.MaxFileBytes+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "could not read the upload")
		return
	}
	id := r.PathValue("id")
	if err := s.Store.Upload(r.Context(), handle, id, data); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"storageId": id})
}

func (s *Server) chPublish(w http.ResponseWriter, r *http.Request) {
	handle := s.authed(w, r)
	if handle == "" {
		return
	}
	var req struct {
		Slug    string         `json:"slug"`
		Version string         `json:"version"`
		Files   []UploadedFile `json:"files"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "want {slug, version, files}")
		return
	}
	p, err := s.Store.PublishFiles(r.Context(), handle, req.Slug, req.Version, req.Files, s.base(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	id := p.Name + "@" + p.Version
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "skillId": p.Name, "versionId": id, "status": "published",
		"publicationStatus": "published", "slug": p.Name, "version": p.Version})
}

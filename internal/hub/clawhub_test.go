package hub

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/skills"
)

func getJSON(t *testing.T, url, token string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// The ClawHub routes answer in the shapes the clawhub CLI validates (its
// arktype schemas), without needing npm.
func TestClawHubAPIShapes(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	c := f.client(t)
	enc := bundleBytes(t, skillDir(t, "weather", "1.0.0", "Use wttr."), f.key)
	p, err := c.Publish(ctx, enc, f.token)
	if err != nil {
		t.Fatal(err)
	}
	var wk map[string]string
	if getJSON(t, f.srv.URL+"/.well-known/clawhub.json", "", &wk) != 200 || wk["apiBase"] != f.srv.URL {
		t.Fatalf("well-known: %v", wk)
	}
	var search struct {
		Results []struct {
			Slug, Version, Summary string
			Score                  float64
			Owner                  struct{ Handle string }
		}
	}
	getJSON(t, f.srv.URL+"/api/v1/search?q=weather", "", &search)
	if len(search.Results) != 1 || search.Results[0].Slug != "weather" || search.Results[0].Version != "1.0.0" || search.Results[0].Owner.Handle != "alice" || search.Results[0].Score <= 0 {
		t.Fatalf("search: %+v", search)
	}
	var sk struct {
		Skill         struct{ Slug, DisplayName string }
		LatestVersion struct{ Version, Changelog string }
		Owner         struct{ Handle string }
		Moderation    struct{ IsMalwareBlocked, IsSuspicious bool }
	}
	getJSON(t, f.srv.URL+"/api/v1/skills/weather", "", &sk)
	if sk.Skill.Slug != "weather" || sk.LatestVersion.Version != "1.0.0" || sk.Owner.Handle != "alice" {
		t.Fatalf("skill: %+v", sk)
	}
	if code := getJSON(t, f.srv.URL+"/api/v1/skills/nosuch", "", nil); code != 404 {
		t.Fatalf("unknown skill: %d", code)
	}
	var res struct {
		Match, LatestVersion *struct{ Version string }
	}
	getJSON(t, f.srv.URL+"/api/v1/resolve?slug=weather&hash="+p.Fingerprint, "", &res)
	if res.Match == nil || res.Match.Version != "1.0.0" || res.LatestVersion.Version != "1.0.0" {
		t.Fatalf("resolve: %+v", res)
	}
	var who struct{ User struct{ Handle string } }
	if getJSON(t, f.srv.URL+"/api/v1/whoami", f.token, &who) != 200 || who.User.Handle != "alice" {
		t.Fatalf("whoami: %+v", who)
	}
	if getJSON(t, f.srv.URL+"/api/v1/whoami", "thub_nope", nil) != 401 {
		t.Fatal("whoami with a wrong token")
	}
	// The download is a zip of exactly the bundle's files.
	resp, err := http.Get(f.srv.URL + "/api/v1/download?slug=weather&version=1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := skills.DecodeBundle(enc, skills.DefaultLimits)
	if len(zr.File) != len(b.Files) {
		t.Fatalf("zip has %d files, bundle %d", len(zr.File), len(b.Files))
	}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, b.Files[zf.Name]) {
			t.Fatalf("%s differs", zf.Name)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "zip") {
		t.Fatal(resp.Header.Get("Content-Type"))
	}
}

// FuzzPublish: any upload either publishes a valid signed bundle or is
// refused without changing the log.
func FuzzPublish(f *testing.F) {
	st, err := OpenStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	k, _ := skills.GenerateKey()
	f.Add(bundleBytes(f, skillDir(f, "weather", "1.0.0", "ok"), k))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte("garbage"))
	ctx := context.Background()
	st.CreateToken(ctx, "alice")
	f.Fuzz(func(t *testing.T, data []byte) {
		before, _ := st.Log(ctx)
		p, err := st.Publish(ctx, "alice", data, "http://hub.invalid")
		after, _ := st.Log(ctx)
		if err != nil {
			if len(after.Entries) != len(before.Entries) {
				t.Fatal("a refused publication changed the log")
			}
			return
		}
		if len(after.Entries) != len(before.Entries)+1 || after.Entries[p.LogIndex].Fingerprint != p.Fingerprint {
			t.Fatal("a publication is not in the log")
		}
		if _, err := VerifyLog(after, st.PublicKey(), nil); err != nil {
			t.Fatal(err)
		}
	})
}

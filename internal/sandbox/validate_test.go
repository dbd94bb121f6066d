package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestValidate(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home", "alice")
	state := filepath.Join(home, ".local", "state", "talon")
	ws := filepath.Join(home, "work")
	for _, d := range []string{state, ws, filepath.Join(home, ".ssh")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(ws, "keys")
	if err := os.Symlink(filepath.Join(home, ".ssh"), link); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		spec Spec
		want error // nil, ErrDangerousBind or ErrInvalidSpec
	}{
		{"workspace only", Spec{Workspace: ws}, nil},
		{"read-only usr", Spec{Workspace: ws, ReadOnly: []string{"/usr/share"}}, nil},
		{"read-only etc", Spec{Workspace: ws, ReadOnly: []string{"/etc"}}, nil},
		{"rw project in home", Spec{Workspace: ws, ReadWrite: []string{filepath.Join(home, "proj")}}, nil},
		{"empty workspace", Spec{}, ErrInvalidSpec},
		{"relative workspace", Spec{Workspace: "work"}, ErrInvalidSpec},
		{"relative read-only", Spec{Workspace: ws, ReadOnly: []string{"usr"}}, ErrInvalidSpec},
		{"root ro", Spec{Workspace: ws, ReadOnly: []string{"/"}}, ErrDangerousBind},
		{"root rw", Spec{Workspace: ws, ReadWrite: []string{"/"}}, ErrDangerousBind},
		{"root unclean", Spec{Workspace: ws, ReadOnly: []string{"/usr/.."}}, ErrDangerousBind},
		{"root workspace", Spec{Workspace: "/"}, ErrDangerousBind},
		{"etc rw", Spec{Workspace: ws, ReadWrite: []string{"/etc"}}, ErrDangerousBind},
		{"etc file rw", Spec{Workspace: ws, ReadWrite: []string{"/etc/passwd"}}, ErrDangerousBind},
		{"usr rw", Spec{Workspace: ws, ReadWrite: []string{"/usr/local"}}, ErrDangerousBind},
		{"home ro", Spec{Workspace: ws, ReadOnly: []string{home}}, ErrDangerousBind},
		{"home trailing slash", Spec{Workspace: ws, ReadOnly: []string{home + "/"}}, ErrDangerousBind},
		{"home parent", Spec{Workspace: ws, ReadOnly: []string{filepath.Dir(home)}}, ErrDangerousBind},
		{"home workspace", Spec{Workspace: home}, ErrDangerousBind},
		{"ssh ro", Spec{Workspace: ws, ReadOnly: []string{filepath.Join(home, ".ssh")}}, ErrDangerousBind},
		{"ssh key", Spec{Workspace: ws, ReadOnly: []string{filepath.Join(home, ".ssh", "id_ed25519")}}, ErrDangerousBind},
		{"ssh via symlink", Spec{Workspace: ws, ReadOnly: []string{link}}, ErrDangerousBind},
		{"docker sock", Spec{Workspace: ws, ReadWrite: []string{"/var/run/docker.sock"}}, ErrDangerousBind},
		{"docker sock run", Spec{Workspace: ws, ReadOnly: []string{"/run/docker.sock"}}, ErrDangerousBind},
		{"run dir", Spec{Workspace: ws, ReadOnly: []string{"/run"}}, ErrDangerousBind},
		{"var run dir", Spec{Workspace: ws, ReadOnly: []string{"/var/run"}}, ErrDangerousBind},
		{"state dir", Spec{Workspace: ws, ReadOnly: []string{state}}, ErrDangerousBind},
		{"workspace inside state dir", Spec{Workspace: filepath.Join(state, "workspace")}, nil},
		{"state parent", Spec{Workspace: ws, ReadWrite: []string{filepath.Join(home, ".local")}}, ErrDangerousBind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate(home, state)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	s := Spec{Workspace: "rel", ReadOnly: []string{"/"}, ReadWrite: []string{"/etc"}}
	err := s.Validate("", "")
	if !errors.Is(err, ErrDangerousBind) || !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("Validate = %v", err)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 3 {
		t.Fatalf("got %d problems, want 3: %v", n, err)
	}
}

// FuzzValidate checks that whatever Validate accepts never exposes the home
// directory, the state directory or / as a whole.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"/", "/home", "/home/alice", "/home/alice/.ssh/id", "/var/run", "/etc", "/usr/share", "//home/./alice/../alice", "/home/alice/work"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	const home, state = "/home/alice", "/home/alice/.talon"
	f.Fuzz(func(t *testing.T, p string, rw bool) {
		s := Spec{Workspace: "/home/alice/work"}
		if rw {
			s.ReadWrite = []string{p}
		} else {
			s.ReadOnly = []string{p}
		}
		if s.Validate(home, state) != nil {
			return
		}
		c := filepath.Clean(p)
		for _, prot := range []string{"/", home, state, home + "/.ssh"} {
			if within(prot, c) {
				t.Fatalf("accepted %q which exposes %s", p, prot)
			}
		}
		if within(c, home+"/.ssh") {
			t.Fatalf("accepted %q inside ~/.ssh", p)
		}
	})
}

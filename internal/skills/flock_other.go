//go:build !unix

package skills

// exclusive is a no-op where flock is missing: concurrent installs may
// lose an entry there (the lockfile itself is still written atomically).
func (m *Manager) exclusive() (unlock func(), err error) { return func() {}, nil }

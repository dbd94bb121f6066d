// Package secret holds credentials (tokens, passwords, API keys) in a type
// that never prints its value.
//
// Invariant: formatting a Secret with any fmt verb, logging it with log/slog,
// or encoding it as JSON or text yields "***" (or "" when it is empty), never
// the value. The only way to read the value is Reveal, so every place that
// hands a credential to the outside world is greppable.
package secret

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what a non-empty Secret prints as.
const Redacted = "***"

// Secret is a credential. The zero value is the empty (unset) secret.
type Secret struct {
	v string
}

// New wraps s as a Secret.
func New(s string) Secret { return Secret{v: s} }

// Reveal returns the value. Call it only at the boundary where the credential
// leaves the process (an Authorization header, a comparison).
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is unset.
func (s Secret) IsZero() bool { return s.v == "" }

// Len is the length of the value in bytes, for strength checks.
func (s Secret) Len() int { return len(s.v) }

// Equal reports whether candidate equals the secret, in time that does not
// depend on where they differ. An unset secret equals nothing.
func (s Secret) Equal(candidate string) bool {
	if s.v == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(s.v), []byte(candidate)) == 1
}

func (s Secret) redacted() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.redacted() }

// GoString implements fmt.GoStringer, so %#v does not leak either.
func (s Secret) GoString() string { return fmt.Sprintf("secret.Secret(%q)", s.redacted()) }

// Format implements fmt.Formatter: every verb prints the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.redacted())
	default:
		fmt.Fprint(f, s.redacted())
	}
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// UnmarshalJSON implements json.Unmarshaler; it accepts a JSON string.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("secret: want a string: %w", err)
	}
	s.v = v
	return nil
}

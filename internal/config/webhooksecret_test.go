package config

import (
	"regexp"
	"strings"
	"testing"
)

// TelegramWebhookSecretOK replaced a regexp; it must accept exactly what
// the regexp accepted.
func TestTelegramWebhookSecretOKMatchesTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	cases := []string{
		"", "a", "Z", "0", "_", "-", "abc-DEF_123",
		strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("a", 257),
		"a b", "a\n", "\na", "a.b", "a/b", "a+b", "a=", "é", "aé", "a\x00", "@", "[", "`", "{", "/", ":",
	}
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "ab"+string([]byte{byte(c)}))
	}
	for _, s := range cases {
		if got, want := TelegramWebhookSecretOK(s), re.MatchString(s); got != want {
			t.Errorf("TelegramWebhookSecretOK(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

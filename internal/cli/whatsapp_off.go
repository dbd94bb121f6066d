//go:build !whatsapp

package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/talonclaw/talon/internal/channels"
)

// WhatsApp support links GPL-3.0 code (libsignal), so it is only in
// binaries built with -tags whatsapp; this build says so plainly.
var errNoWhatsApp = errors.New("this talon was built without WhatsApp support (hint: build it with: go build -tags whatsapp ./cmd/talon)")

func whatsappAdapter(string, string, channels.Handler, func(string) string, *slog.Logger) (channels.Adapter, error) {
	return nil, errNoWhatsApp
}

func whatsappLogin(context.Context, string, string, func(string)) error { return errNoWhatsApp }
func whatsappLogout(context.Context, string, string) error              { return errNoWhatsApp }

//go:build whatsapp

package cli

import (
	"context"
	"log/slog"
	"strings"

	"rsc.io/qr"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/channels/whatsapp"
)

func whatsappAdapter(stateDir, account string, h channels.Handler, scrub func(string) string, log *slog.Logger) (channels.Adapter, error) {
	return whatsapp.New(whatsapp.Options{Account: account, StateDir: stateDir, Handler: h, Scrub: scrub, Logger: log})
}

func whatsappLogin(ctx context.Context, stateDir, account string, show func(string)) error {
	o := whatsapp.Options{Account: account, StateDir: stateDir, Logger: slog.New(slog.DiscardHandler),
		Handler: func(context.Context, channels.Message) error { return nil }}
	return whatsapp.Login(ctx, o, func(code string) { show(qrBlocks(code) + "\n(or paste into any QR generator: " + code + ")") })
}

func whatsappLogout(ctx context.Context, stateDir, account string) error {
	return whatsapp.Logout(ctx, whatsapp.Options{Account: account, StateDir: stateDir, Logger: slog.New(slog.DiscardHandler),
		Handler: func(context.Context, channels.Message) error { return nil }})
}

// qrBlocks renders a QR code with half-block characters, two modules per
// character row, with a quiet zone, dark on light.
func qrBlocks(text string) string {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return ""
	}
	n := code.Size
	black := func(x, y int) bool { return x >= 0 && y >= 0 && x < n && y < n && code.Black(x, y) }
	var b strings.Builder
	for y := -2; y < n+2; y += 2 {
		for x := -2; x < n+2; x++ {
			top, bot := black(x, y), black(x, y+1)
			switch {
			case top && bot:
				b.WriteRune(' ')
			case top:
				b.WriteRune('▄')
			case bot:
				b.WriteRune('▀')
			default:
				b.WriteRune('█')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

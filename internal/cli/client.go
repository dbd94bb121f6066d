package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/version"
)

// connFlags are the flags of every command that talks to a running gateway.
type connFlags struct {
	url      string
	token    string
	password string
	timeout  time.Duration
}

func (f *connFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "url", "", "gateway WebSocket URL (default ws://127.0.0.1:<gateway.port>)")
	cmd.Flags().StringVar(&f.token, "token", "", "gateway token (default gateway.auth.token or TALON_GATEWAY_TOKEN)")
	cmd.Flags().StringVar(&f.password, "password", "", "gateway password (default gateway.auth.password or TALON_GATEWAY_PASSWORD)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the gateway")
}

// dial connects to the configured gateway with the configured credentials.
func (a *app) dial(ctx context.Context, f connFlags, scopes ...string) (*gateway.Client, error) {
	url, token, password := f.url, f.token, f.password
	if token == "" {
		token = a.env.get("TALON_GATEWAY_TOKEN")
	}
	if password == "" {
		password = a.env.get("TALON_GATEWAY_PASSWORD")
	}
	if url == "" || (token == "" && password == "") {
		p, err := a.paths()
		if err != nil {
			return nil, err
		}
		cfg, _, err := a.loadConfig(p)
		if err != nil {
			return nil, err
		}
		if url == "" {
			host := "127.0.0.1"
			if cfg.Gateway.Bind == "custom" {
				host = cfg.Gateway.CustomBindHost
			}
			url = "ws://" + net.JoinHostPort(host, strconv.Itoa(cfg.Gateway.Port))
		}
		if token == "" && password == "" {
			token = cfg.Gateway.Auth.Token.Reveal()
			password = cfg.Gateway.Auth.Password.Reveal()
		}
	}
	c, err := gateway.Dial(ctx, url, gateway.DialOptions{Token: token, Password: password, Scopes: scopes, Version: version.Current()})
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("gateway %s refused the connection: %s", url, pe.Message)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &hintError{msg: fmt.Sprintf("no gateway is listening at %s (hint: start it with `talon gateway run` or `talon gateway start`, or check --url)", url), err: err}
		}
		return nil, fmt.Errorf("cannot reach the gateway at %s (hint: is `talon gateway run` running? check --url): %w", url, err)
	}
	return c, nil
}

func (a *app) callCmd(use, short, method string, scopes []string, human func(payload map[string]any, took time.Duration)) *cobra.Command {
	var f connFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			start := time.Now()
			c, err := a.dial(ctx, f, scopes...)
			if err != nil {
				return err
			}
			defer c.Close()
			var out map[string]any
			if err := c.Call(ctx, method, nil, &out); err != nil {
				return fmt.Errorf("%s: %w", method, err)
			}
			if a.json {
				return a.printJSON(out)
			}
			human(out, time.Since(start))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) healthCmd() *cobra.Command {
	return a.callCmd("health", "Check that the running gateway is healthy", "health", []string{protocol.ScopeRead},
		func(p map[string]any, took time.Duration) {
			state := "ok"
			if ok, _ := p["ok"].(bool); !ok {
				state = "unhealthy"
			}
			a.outf("gateway %s (version %v, up %s, %s round trip)\n", state, p["version"], ms(p["uptimeMs"]), took.Round(time.Millisecond))
			chans, _ := p["channels"].(map[string]any)
			order, _ := p["channelOrder"].([]any)
			if len(order) == 0 {
				a.outf("channels: none running\n")
			}
			for _, name := range order {
				c, _ := chans[fmt.Sprint(name)].(map[string]any)
				a.outf("channel %v: %v", name, c["state"])
				if e, ok := c["lastError"]; ok {
					a.outf(" (last error: %v)", e)
				}
				a.outf("\n")
			}
			sess, _ := p["sessions"].(map[string]any)
			a.outf("sessions: %v\n", sess["count"])
		})
}

func (a *app) statusCmd() *cobra.Command {
	return a.callCmd("status", "Show the running gateway's status", "status", []string{protocol.ScopeRead},
		func(p map[string]any, took time.Duration) {
			g, _ := p["gateway"].(map[string]any)
			rt, _ := p["runtime"].(map[string]any)
			a.outf("talon %v\n", p["version"])
			a.outf("  gateway   %v on %v:%v (auth %v), pid %v, up %s\n", g["bind"], g["host"], g["port"], g["authMode"], g["pid"], ms(g["uptimeMs"]))
			a.outf("  clients   %v connected\n", g["connections"])
			a.outf("  memory    %.1f MiB heap, %v goroutines\n", num(rt["heapBytes"])/(1<<20), rt["goroutines"])
			sum, _ := p["channelSummary"].([]any)
			if len(sum) == 0 {
				a.outf("  channels  none running\n")
			}
			for i, line := range sum {
				label := "          "
				if i == 0 {
					label = "  channels"
				}
				a.outf("%s  %v\n", label, line)
			}
			sess, _ := p["sessions"].(map[string]any)
			a.outf("  sessions  %v\n", sess["count"])
		})
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func ms(v any) time.Duration {
	return (time.Duration(num(v)) * time.Millisecond).Round(time.Second)
}

package cli

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/hub"
)

// hubCmd is `talon hub`: the skills registry (internal/hub).
func (a *app) hubCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "hub", Short: "Run a skills registry that talon skills and the clawhub CLI can use"}
	var data string
	dataDir := func() (string, error) {
		if data != "" {
			return filepath.Abs(data)
		}
		p, err := a.paths()
		if err != nil {
			return "", err
		}
		return filepath.Join(p.StateDir, "hub"), nil
	}
	open := func() (*hub.Store, error) {
		d, err := dataDir()
		if err != nil {
			return nil, err
		}
		return hub.OpenStore(d)
	}
	var listen, publicURL string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the registry (prints `hub listening on http://ADDR` when ready)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return fmt.Errorf("hub serve: %w", err)
			}
			defer st.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("hub serve: %w (hint: --listen 127.0.0.1:PORT)", err)
			}
			if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
				a.errf("hub: listening beyond loopback: anyone who reaches %s can read published skills; publishing needs a token\n", ln.Addr())
			}
			srv := (&hub.Server{Store: st, PublicURL: publicURL}).HTTPServer()
			a.outf("hub listening on http://%s\n", ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err = hub.Serve(ctx, srv, func() error { return srv.Serve(ln) })
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("hub serve: %w", err)
			}
			return nil
		},
	}
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:18790", "address to listen on (port 0 picks a free one)")
	serve.Flags().StringVar(&publicURL, "public-url", "", "base URL clients use, when it differs from the Host they send (behind a proxy)")
	serve.Flags().StringVar(&data, "data", "", "data directory (default $TALON_STATE_DIR/hub)")

	token := &cobra.Command{Use: "token", Short: "Manage publisher tokens"}
	create := &cobra.Command{
		Use:   "create HANDLE",
		Short: "Create (or replace) the publisher token of HANDLE and print it; only its hash is stored",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return fmt.Errorf("hub token create: %w", err)
			}
			defer st.Close()
			tok, err := st.CreateToken(cmd.Context(), args[0])
			if err != nil {
				return usagef("hub token create: %v", err)
			}
			if a.json {
				return a.printJSON(map[string]string{"handle": args[0], "token": tok})
			}
			a.outf("%s\n", tok)
			return nil
		},
	}
	create.Flags().StringVar(&data, "data", "", "data directory (default $TALON_STATE_DIR/hub)")
	token.AddCommand(create)

	key := &cobra.Command{
		Use:   "key",
		Short: "Print the registry's public key (clients pin it as skills.registry.publicKey)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return fmt.Errorf("hub key: %w", err)
			}
			defer st.Close()
			if a.json {
				return a.printJSON(map[string]string{"publicKey": st.PublicKey()})
			}
			a.outf("%s\n", st.PublicKey())
			return nil
		},
	}
	key.Flags().StringVar(&data, "data", "", "data directory (default $TALON_STATE_DIR/hub)")
	cmd.AddCommand(serve, token, key)
	return cmd
}

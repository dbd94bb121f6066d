// Command gwbench is a load client for the gateway benchmarks: it measures
// health round trips on one connection and holds many connections at once.
// bench/gateway.sh runs it against a real `talon gateway run` process.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/talonclaw/talon/internal/gateway"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gwbench:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "", "gateway WebSocket URL")
	token := flag.String("token", "", "gateway token")
	calls := flag.Int("calls", 1000, "health calls on one connection")
	conns := flag.Int("conns", 0, "connections to open and hold (0: skip)")
	hold := flag.Duration("hold", 3*time.Second, "how long to hold the connections")
	idle := flag.Int("idle", 0, "idle HTTP keep-alive sockets to open and hold, measuring the owner's connect time meanwhile (0: skip)")
	idleWait := flag.Duration("idle-wait", 8*time.Second, "how long to hold the idle sockets before counting those the gateway closed")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	if *calls > 0 {
		c, err := gateway.Dial(ctx, *url, gateway.DialOptions{Token: *token})
		if err != nil {
			return err
		}
		lat := make([]time.Duration, 0, *calls)
		start := time.Now()
		for range *calls {
			t0 := time.Now()
			if err := c.Call(ctx, "health", nil, nil); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
		total := time.Since(start)
		c.Close()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
		fmt.Printf("health_calls %d\nhealth_median_us %.1f\nhealth_p99_us %.1f\nhealth_calls_per_sec %.0f\n",
			len(lat), us(pct(0.5)), us(pct(0.99)), float64(len(lat))/total.Seconds())
	}
	if *conns > 0 {
		held := make([]*gateway.Client, 0, *conns)
		start := time.Now()
		for i := range *conns {
			c, err := gateway.Dial(ctx, *url, gateway.DialOptions{Token: *token})
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			held = append(held, c)
		}
		fmt.Printf("conns_opened %d\nconns_open_seconds %.2f\n", len(held), time.Since(start).Seconds())
		fmt.Println("conns_holding")
		time.Sleep(*hold)
		for _, c := range held {
			c.Close()
		}
	}
	if *idle > 0 {
		if err := idleSockets(ctx, *url, *token, *idle, *idleWait); err != nil {
			return err
		}
	}
	return nil
}

// idleSockets opens n keep-alive connections that each fetch /healthz and
// then fall silent, reports how many the gateway kept, times the owner's
// connect-and-health while they are held, and after wait counts how many
// the gateway has closed.
func idleSockets(ctx context.Context, wsURL, token string, n int, wait time.Duration) error {
	u, err := url.Parse(wsURL)
	if err != nil {
		return err
	}
	ownerConnect := func(label string) error {
		lat := make([]time.Duration, 0, 20)
		for range 20 {
			t0 := time.Now()
			c, err := gateway.Dial(ctx, wsURL, gateway.DialOptions{Token: token})
			if err != nil {
				return fmt.Errorf("owner connect (%s): %w", label, err)
			}
			if err := c.Call(ctx, "health", nil, nil); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
			c.Close()
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("owner_connect_health_%s_median_ms %.2f\nowner_connect_health_%s_max_ms %.2f\n",
			label, ms(lat[len(lat)/2]), label, ms(lat[len(lat)-1]))
		return nil
	}
	if err := ownerConnect("no_idle"); err != nil {
		return err
	}
	socks := make([]*bufio.Reader, 0, n)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for i := range n {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			return fmt.Errorf("idle socket %d: %w", i, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n"); err != nil {
			return fmt.Errorf("idle socket %d: %w", i, err)
		}
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("idle socket %d: %w", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		socks = append(socks, br)
	}
	opened := time.Since(start)
	open := func() int {
		k := 0
		for i, br := range socks {
			_ = conns[i].SetReadDeadline(time.Now().Add(time.Millisecond))
			_, err := br.Peek(1)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				k++
			}
		}
		return k
	}
	fmt.Printf("idle_sockets_opened %d\nidle_open_seconds %.2f\nidle_sockets_kept_by_gateway %d\n", n, opened.Seconds(), open())
	fmt.Println("idle_holding")

	if err := ownerConnect(fmt.Sprintf("with_%d_idle", n)); err != nil {
		return err
	}
	fmt.Println("idle_measured")
	time.Sleep(wait)
	fmt.Printf("idle_sockets_open_after_%s %d\n", wait, open())
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// Command gwbench is a load client for the gateway benchmarks: it measures
// health round trips on one connection and holds many connections at once.
// bench/gateway.sh runs it against a real `talon gateway run` process.
package main

import (
	"context"
	"flag"
	"fmt"
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
	return nil
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
